#!/bin/sh
# make bench: runs every benchmark binary in $1/bench. Each one measures our
# code and a reference in the same run and prints lines
#   bench NAME ours=X ref=Y unit=U ratio=R goal>=G PASS|MISS
# This prints them all again at the end as a table. Benchmarks report; they
# do not fail the build (a slow CI machine is not a regression by itself).
build=${1:-build}
out=$(mktemp)
for b in "$build"/bench/bench_*; do
	[ -x "$b" ] || continue
	echo "== $(basename "$b")"
	"$b" | tee -a "$out"
done
echo
echo "== summary"
grep '^bench ' "$out" | awk '{ printf "%-34s %s %s %s %s %s\n", $2, $3, $4, $6, $7, $8 }'
rm -f "$out"
