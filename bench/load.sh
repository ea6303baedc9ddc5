#!/usr/bin/env bash
# The whole process under load, where users run it: "remoteassist serve" with its defaults
# (embedded store, development tokens, access log on, metrics on) next to the physical floor
# (bench/floor without authentication: net/http + encoding/json, the same routes and answers, no
# auth, no log, no metrics), in the same run.
#
#   bash bench/load.sh                # LOAD_ROUNDS (5) rounds; each run LOAD_DURATION (3s)
#
# Each server runs pinned to CPU 1 and wrk (one thread, LOAD_CONNECTIONS = 32 connections) to
# CPU 0, so on a 2-core machine each side has a core. Rows, each against the floor measured in
# the same round:
#
#   GET            serve (embedded store)        vs floor GET
#   PATCH memory   serve --store memory          vs floor PATCH
#   PATCH durable  serve (embedded, fsync'd)     vs floor PATCH (in memory)
#   healthz        serve /healthz                vs floor /healthz (the entry layer alone)
#
# Reported: per row the median req/s of each side and the median and range of the per-round
# ratios. The access logs go to files in the output directory (written, as in production).
# Outputs go to bench/out/ (BENCH_OUT): load.md, and the raw rows in load-rows.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${BENCH_OUT:-bench/out}
DURATION=${LOAD_DURATION:-3s}
CONNS=${LOAD_CONNECTIONS:-32}
ROUNDS=${LOAD_ROUNDS:-5}
mkdir -p "$OUT"
source bench/lib.sh
bench_need wrk
go build -o "$OUT/remoteassist" ./cmd/remoteassist
go build -o "$OUT/floorserver" ./bench/floor/cmd/floorserver
bench_workdir

# start NAME PORT ARGS...: a server pinned to CPU 1, its log in $OUT/NAME.log.
start() {
	local name=$1 port=$2
	shift 2
	taskset -c 1 "$@" 2>"$OUT/$name.log" >/dev/null &
	pids+=($!)
	bench_wait_healthz "$name" "$port" "$OUT/$name.log"
}
start embedded 18080 "$OUT/remoteassist" serve --addr 127.0.0.1:18080 --data "$work/embedded"
start memory 18082 "$OUT/remoteassist" serve --addr 127.0.0.1:18082 --data "$work/memory" --store memory
start floor 18081 "$OUT/floorserver" --addr 127.0.0.1:18081

scopes="DeviceManagementServiceConfig.ReadWrite.All"
token_embedded=$("$OUT/remoteassist" token --data "$work/embedded" --tenant load-tenant --scopes "$scopes")
token_memory=$("$OUT/remoteassist" token --data "$work/memory" --tenant load-tenant --scopes "$scopes")

# script NAME METHOD TOKEN: the row's wrk script, $work/NAME.lua.
script() { bench_wrk_script "$work/$1.lua" "$2" "$3"; }
script get-embedded GET "$token_embedded"
script patch-embedded PATCH "$token_embedded"
script patch-memory PATCH "$token_memory"
# The floor gets the very requests serve gets, token included, which it ignores: reading a
# request is work any server of these clients does, and a request without the token is ~530
# bytes shorter, which alone makes the floor ~15 % faster (bench/RESULTS.md).
script get-floor GET "$token_embedded"
script patch-floor PATCH "$token_memory"

settings=/beta/deviceManagement/remoteAssistanceSettings
# run ROUND ROW SIDE PORT SCRIPT PATH: one wrk run, appended to the rows as
# "ROUND ROW SIDE req/s p50ms p99ms non2xx".
rows=$OUT/load-rows.txt
: >"$rows"
run() {
	local round=$1 row=$2 side=$3 port=$4 lua=$5 path=$6
	taskset -c 0 wrk -t1 -c"$CONNS" -d"$DURATION" -s "$work/$lua.lua" "http://127.0.0.1:$port$path" |
		awk -v r="$round" -v row="$row" -v s="$side" '/^RESULT/ {print r, row, s, $2, $3, $4, $5}' >>"$rows"
}
# Each row runs floor, serve, serve, floor in every round (ABBA), and the round's ratio is the
# sum of the two serve runs over the sum of the two floor runs: this host's speed drifts within
# seconds, and the order cancels the drift that a fixed floor-then-serve order counts as a ratio.
abba() {
	local round=$1 row=$2 port=$3 lua=$4 path=$5 floorlua=$6
	run "$round" "$row" floor 18081 "$floorlua" "$path"
	run "$round" "$row" serve "$port" "$lua" "$path"
	run "$round" "$row" serve "$port" "$lua" "$path"
	run "$round" "$row" floor 18081 "$floorlua" "$path"
}
for round in $(seq "$ROUNDS"); do
	echo "round $round/$ROUNDS" >&2
	abba "$round" GET 18080 get-embedded "$settings" get-floor
	abba "$round" PATCH_memory 18082 patch-memory "$settings" patch-floor
	abba "$round" PATCH_durable 18080 patch-embedded "$settings" patch-floor
	abba "$round" healthz 18080 get-embedded /healthz get-floor
done

median() { sort -g | awk '{v[NR]=$1} END {if (NR%2) print v[(NR+1)/2]; else print (v[NR/2]+v[NR/2+1])/2}'; }
{
	echo "## Whole process under load ($(date -u +%F), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown))"
	echo
	echo "wrk -t1 -c$CONNS -d$DURATION on CPU 0, each server on CPU 1; $ROUNDS rounds, each row floor, serve, serve, floor in each; medians of the runs, and the median and range of the per-round ratios (serve runs over floor runs)."
	echo
	echo "| row | serve req/s | floor req/s | serve p50 / p99 ms | floor p50 / p99 ms | serve/floor (median) | range | target | non-2xx |"
	echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
	for row in GET PATCH_memory PATCH_durable healthz; do
		case $row in
		GET | PATCH_memory) target="≥ 0.8x" ;;
		PATCH_durable) target="≥ 0.4x" ;;
		*) target="" ;;
		esac
		sel() { awk -v row="$row" -v s="$1" -v c="$2" '$2==row && $3==s {print $c}' "$rows"; }
		ratios=$(awk -v row="$row" '$2==row {rps[$1" "$3]+=$4; rounds[$1]=1} END {for (r in rounds) if (rps[r" floor"] > 0) printf "%.3f\n", rps[r" serve"]/rps[r" floor"]}' "$rows")
		lo=$(echo "$ratios" | sort -g | head -1)
		hi=$(echo "$ratios" | sort -g | tail -1)
		bad=$(awk -v row="$row" '$2==row {s+=$7} END {print s+0}' "$rows")
		printf '| %s | %s | %s | %s / %s | %s / %s | %.2fx | %.2f–%.2f | %s | %s |\n' "$row" \
			"$(sel serve 4 | median)" "$(sel floor 4 | median)" \
			"$(sel serve 5 | median)" "$(sel serve 6 | median)" "$(sel floor 5 | median)" "$(sel floor 6 | median)" \
			"$(echo "$ratios" | median)" "$lo" "$hi" "$target" "$bad"
	done
} | tee "$OUT/load.md"
