#!/bin/sh
# make run: the box on its embedded default (config/sim.conf): replay BLE,
# camera and GPIO data from the repository (a customer walking in), the soft
# watchdog, the offline responder (or the LLM at $EDGEBOX_LLM_URL), the store
# and sockets in build/sim/.
#
# On a terminal you are the customer: the kiosk console runs in the
# foreground, the daemon's log goes to build/sim/edgeboxd.log and the staff
# co-pilot feed to build/sim/staff.log (tail -f them in another terminal).
# Ctrl-D or Ctrl-C ends it. Without a terminal the daemon runs in the
# foreground.
set -eu
build=${1:-build}
sim=build/sim
mkdir -p "$sim"

set -- --config config/sim.conf
if [ -n "${EDGEBOX_LLM_URL:-}" ]; then
	set -- "$@" --set "llm.url=$EDGEBOX_LLM_URL" --set "llm.model=${EDGEBOX_LLM_MODEL:-default}"
	echo "edgebox: using the LLM at $EDGEBOX_LLM_URL"
else
	echo "edgebox: no EDGEBOX_LLM_URL set: the offline responder answers (the embedded default)"
fi

if [ ! -t 0 ]; then
	echo "edgebox: starting on config/sim.conf (replay drivers; Ctrl-C to stop)"
	echo "edgebox: kiosk: $build/bin/edgeboxctl kiosk --socket $sim/kiosk.sock"
	exec "$build/bin/edgeboxd" "$@"
fi

"$build/bin/edgeboxd" "$@" >"$sim/edgeboxd.log" 2>&1 &
daemon=$!
staff=
cleanup() {
	[ -n "$staff" ] && kill "$staff" 2>/dev/null || true
	kill -TERM "$daemon" 2>/dev/null && wait "$daemon" 2>/dev/null || true
	echo "edgebox: stopped (log: $sim/edgeboxd.log, staff feed: $sim/staff.log)"
}
trap cleanup EXIT INT TERM

# wait for the kiosk socket (the daemon creates it at start)
i=0
while [ ! -S "$sim/kiosk.sock" ]; do
	i=$((i + 1))
	if [ $i -gt 50 ] || ! kill -0 "$daemon" 2>/dev/null; then
		echo "edgebox: the daemon did not start; its log:" >&2
		cat "$sim/edgeboxd.log" >&2
		exit 1
	fi
	sleep 0.1
done
"$build/bin/edgeboxctl" staff --socket "$sim/staff.sock" >"$sim/staff.log" 2>&1 </dev/null &
staff=$!

cat <<EOF
edgebox is running on replay drivers: a customer with the store app is walking in.
  you are the customer at the kiosk: type and press Enter (Ctrl-D to leave)
  staff co-pilot feed:  tail -f $sim/staff.log
  daemon log:           tail -f $sim/edgeboxd.log
  status:               $build/bin/edgeboxctl status --status-file $sim/status.json

EOF
"$build/bin/edgeboxctl" kiosk --socket "$sim/kiosk.sock" || true
