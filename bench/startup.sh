#!/usr/bin/env bash
# Start-up: process start to the first 200 on /healthz, for "remoteassist serve --store memory",
# the floor server, and the floor server built with kin-openapi linked (-tags kinimport),
# alternated, 20 runs each (STARTUP_RUNS), with a small Go program that
# spawns and polls (bench/startup). Then GODEBUG=inittrace=1 of the server, heaviest package
# initialisers first. Prints Markdown.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${BENCH_OUT:-bench/out}
RUNS=${STARTUP_RUNS:-20}
mkdir -p "$OUT"
go build -o "$OUT/remoteassist" ./cmd/remoteassist
go build -o "$OUT/floorserver" ./bench/floor/cmd/floorserver
# The floor plus an unused import of kin-openapi: the least any process that links it can take.
go build -tags kinimport -o "$OUT/floorkin" ./bench/floor/cmd/floorserver
go build -o "$OUT/startup" ./bench/startup
data=$(mktemp -d)
trap 'rm -rf "$data"' EXIT
# Create the signing key once, so that every run loads it as a restarted server would.
"$OUT/remoteassist" token --data "$data" --tenant warmup >/dev/null

echo "## Start-up (process start to first 200 on /healthz)"
echo
"$OUT/startup" -n "$RUNS" -order stack,floorkin,floor \
	-cmd "stack=$OUT/remoteassist serve --store memory --addr 127.0.0.1:18090 --data $data --log-format json" \
	-url stack=http://127.0.0.1:18090/healthz \
	-cmd "floorkin=$OUT/floorkin --addr 127.0.0.1:18093 --data $data" \
	-url floorkin=http://127.0.0.1:18093/healthz \
	-cmd "floor=$OUT/floorserver --addr 127.0.0.1:18091 --data $data" \
	-url floor=http://127.0.0.1:18091/healthz
echo
echo "## Package initialisation of remoteassist (GODEBUG=inittrace=1), heaviest first"
echo
echo '```'
GODEBUG=inittrace=1 timeout 2 "$OUT/remoteassist" serve --store memory --addr 127.0.0.1:18092 --data "$data" 2>&1 >/dev/null |
	grep '^init ' | sort -t@ -k2 | awk '{print $2, $5, $6, $8, $9, $11, $12}' | sort -k2 -n -r | head -12 || true
echo '```'
