#!/usr/bin/env bash
# Fuzz every Go fuzz target of the server for DURATION each (default 10s; CI runs 10s):
#
#   bash scripts/fuzz.sh 10s
#   bash scripts/fuzz.sh 5m        # a longer hunt
#
# go test -fuzz takes one target per run, so each target gets its own run. The committed seed
# corpus (server/testdata/fuzz/<Target>/) always runs as part of plain `go test`; a failing
# input found here is written there too, to be committed with its fix.
set -euo pipefail
cd "$(dirname "$0")/.."

duration=${1:-10s}
pkg=./server
targets=$(go test "$pkg" -list '^Fuzz' | grep '^Fuzz' || true)
if [ -z "$targets" ]; then
	echo "no fuzz targets in $pkg" >&2
	exit 1
fi
for target in $targets; do
	echo "=== fuzz $target for $duration"
	go test "$pkg" -run '^$' -fuzz "^${target}\$" -fuzztime "$duration"
done
