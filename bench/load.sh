#!/usr/bin/env bash
# Loopback load: "remoteassist serve --store memory" and the floor server (bench/floor) as
# real processes, GET and PATCH against each, LOAD_DURATION (5s) per run with LOAD_CONNECTIONS
# (32) connections on one wrk thread, interleaved stack/floor, LOAD_ROUNDS (3) rounds. Reports
# the median req/s and p50/p99 latency of the rounds as Markdown, with the stack/floor ratio.
#
# wrk (C, epoll) rather than hey, whose Go client burns more CPU than the servers do; and on 2
# cores each side gets its own: the servers run on CPU 1, wrk on CPU 0 (taskset), so the
# figures compare the two servers on one core each. Other work on the machine still shows as
# noise, hence the interleaved rounds and medians. They are not capacity figures.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${BENCH_OUT:-bench/out}
DURATION=${LOAD_DURATION:-5s}
CONNS=${LOAD_CONNECTIONS:-32}
ROUNDS=${LOAD_ROUNDS:-3}
mkdir -p "$OUT"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
	SUDO="sudo"
fi
if ! command -v wrk >/dev/null; then
	$SUDO apt-get update -qq && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
fi
go build -o "$OUT/remoteassist" ./cmd/remoteassist
go build -o "$OUT/floorserver" ./bench/floor/cmd/floorserver
data=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	rm -rf "$data"
}
trap cleanup EXIT

token=$("$OUT/remoteassist" token --data "$data" --tenant load-tenant --scopes "DeviceManagementServiceConfig.ReadWrite.All")
# The access log goes to /dev/null: each line is still built and written (the cost is real).
taskset -c 1 "$OUT/remoteassist" serve --store memory --addr 127.0.0.1:18080 --data "$data" --log-format json 2>/dev/null &
pids+=($!)
taskset -c 1 "$OUT/floorserver" --addr 127.0.0.1:18081 --data "$data" &
pids+=($!)
for port in 18080 18081; do
	up=false
	for _ in $(seq 100); do
		if curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; then
			up=true
			break
		fi
		sleep 0.05
	done
	if ! $up; then
		echo "the server on 127.0.0.1:$port did not answer /healthz within 5s" >&2
		exit 1
	fi
done

# One wrk script per method: headers, body, and a count of non-200 answers.
for method in GET PATCH; do
	cat >"$data/$method.lua" <<LUA
wrk.method = "$method"
wrk.headers["Authorization"] = "Bearer $token"
wrk.headers["client-request-id"] = "load-test"
if wrk.method == "PATCH" then
  wrk.headers["Content-Type"] = "application/json"
  wrk.body = '{"remoteAssistanceState":"enabled","blockChat":true}'
end
bad = 0
response = function(status, headers, body)
  if status ~= 200 then bad = bad + 1 end
end
done = function(summary, latency, requests)
  io.write(string.format("RESULT %.0f %.3f %.3f %d\n", summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, summary.errors.status))
end
LUA
done

path=/beta/deviceManagement/remoteAssistanceSettings
# run NAME PORT METHOD: one wrk run; prints "METHOD NAME req/s p50ms p99ms non200".
run() {
	local name=$1 port=$2 method=$3
	taskset -c 0 wrk -t1 -c"$CONNS" -d"$DURATION" -s "$data/$method.lua" "http://127.0.0.1:$port$path" |
		awk -v m="$method" -v n="$name" '/^RESULT/ {print m, n, $2, $3, $4, $5}'
}

rows=$data/rows
for _ in $(seq "$ROUNDS"); do
	for method in GET PATCH; do
		run stack 18080 "$method" >>"$rows"
		run floor 18081 "$method" >>"$rows"
	done
done

echo "## Loopback load (wrk -t1 -c$CONNS -d$DURATION, median of $ROUNDS interleaved rounds)"
echo
echo "| request | server | req/s | p50 ms | p99 ms | req/s stack/floor | non-200 (all rounds) |"
echo "|---|---|---:|---:|---:|---:|---:|"
median() { sort -n | awk '{v[NR]=$1} END {if (NR%2) print v[(NR+1)/2]; else print (v[NR/2]+v[NR/2+1])/2}'; }
for method in GET PATCH; do
	floor_rps=$(awk -v m="$method" '$1==m && $2=="floor" {print $3}' "$rows" | median)
	for name in stack floor; do
		sel() { awk -v m="$method" -v n="$name" -v c="$1" '$1==m && $2==n {print $c}' "$rows"; }
		rps=$(sel 3 | median)
		bad=$(sel 6 | awk '{s+=$1} END {print s+0}')
		ratio=$(awk -v a="$rps" -v b="$floor_rps" 'BEGIN {printf "%.2fx", a/b}')
		echo "| $method | $name | $rps | $(sel 4 | median) | $(sel 5 | median) | $ratio | $bad |"
	done
done
