#!/bin/sh
# make run: the box on its embedded default (config/sim.conf): replay BLE,
# camera and GPIO data from the repository, the soft watchdog, the store in
# build/sim/. Ctrl-C stops it in order.
set -eu
build=${1:-build}
mkdir -p build/sim
echo "edgebox: starting on config/sim.conf (replay drivers; Ctrl-C to stop)"
echo "edgebox: status: $build/bin/edgeboxctl status --status-file build/sim/status.json"
exec "$build/bin/edgeboxd" --config config/sim.conf
