#!/usr/bin/env bash
# Loopback load on the stores: "remoteassist serve" with the embedded store (bbolt, every PATCH
# fsynced before its 200) next to "--store memory", in the same run, as real processes. For each
# of PATCH and GET, with 1 and with 32 connections of hey, each cell STORE_LOAD_DURATION (5s) long,
# embedded and memory one after the other. Prints a Markdown table (req/s, p50 and p99 latency,
# status codes) and the ratio the issue aims at: durable PATCH at 32 connections >= 1/3 of the
# in-memory rate.
#
#   bash bench/store-load.sh                      # writes the table to stdout
#   STORE_LOAD_DURATION=10s bash bench/store-load.sh
#   STORE_LOAD_DATA=/mnt/ssd/tmp bash bench/store-load.sh   # put the data file on another disk
#   STORE_LOAD_BIN=/path/to/remoteassist bash bench/store-load.sh   # a binary built elsewhere
#
# hey shares the machine with the server: on a small machine the figures compare the two stores
# under the same handicap, they are not capacity figures. The embedded figures depend on the
# disk's fsync latency above all; the data file goes in a fresh directory under STORE_LOAD_DATA
# (default: $TMPDIR or /tmp), whose file system the output names.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${STORE_LOAD_DURATION:-5s}
DATA_PARENT=${STORE_LOAD_DATA:-${TMPDIR:-/tmp}}
CONNS=(1 32)
BODY='{"blockChat":true}'
API=/beta/deviceManagement/remoteAssistanceSettings

source bench/lib.sh
bench_need hey
bench_workdir "$DATA_PARENT"

if [ -n "${STORE_LOAD_BIN:-}" ]; then
	bin=$STORE_LOAD_BIN
else
	go build -o "$work/remoteassist" ./cmd/remoteassist
	bin=$work/remoteassist
fi

# read_base_url FILE: writes the URL of the "serving base_url=..." line of stdin to FILE, then
# reads the rest and drops it.
read_base_url() {
	local line
	while IFS= read -r line; do
		if [[ $line =~ base_url=([^ ]+) ]]; then
			echo "${BASH_REMATCH[1]}" >"$1"
			break
		fi
	done
	exec cat >/dev/null
}

# start NAME STORE: serve on a port the kernel picks (--addr 127.0.0.1:0), read back from the
# "serving base_url=..." log line; the rest of the log, one line per request, is read and dropped,
# so its cost is paid but nothing is written to the disk the store fsyncs on.
start() {
	local name=$1 store=$2 urlfile=$work/$1.url
	mkdir -p "$work/$name"
	env -u REMOTEASSIST_STORE -u REMOTEASSIST_THROTTLE "$bin" serve --addr 127.0.0.1:0 \
		--data "$work/$name" --store="$store" \
		2> >(read_base_url "$urlfile") &
	pids+=($!)
	for _ in $(seq 200); do
		[ -s "$urlfile" ] && curl -fsS "$(sed 's#/beta$##' "$urlfile")/healthz" >/dev/null 2>&1 && return
		sleep 0.05
	done
	echo "serve $name did not start" >&2
	exit 1
}

start embedded ""
start memory memory
embedded_url=$(cat "$work/embedded.url")
memory_url=$(cat "$work/memory.url")
# A token per process: each has its own data directory and so its own signing key.
token_embedded=$("$bin" token --data "$work/embedded" --tenant load-tenant)
token_memory=$("$bin" token --data "$work/memory" --tenant load-tenant)

# cell STORE METHOD CONNS: one hey run; prints a table row and remembers the rate.
declare -A rate
cell() {
	local store=$1 method=$2 conns=$3 url token out
	if [ "$store" = embedded ]; then url=$embedded_url token=$token_embedded; else url=$memory_url token=$token_memory; fi
	local args=(-z "$DURATION" -c "$conns" -m "$method" -H "Authorization: Bearer $token")
	if [ "$method" = PATCH ]; then
		args+=(-T application/json -d "$BODY")
	fi
	out=$(hey "${args[@]}" "${url%/beta}$API")
	local rps p50 p99 codes
	rps=$(awk '/Requests\/sec/ {printf "%.0f", $2}' <<<"$out")
	p50=$(awk '/ 50% in/ {printf "%.2f", $3 * 1000}' <<<"$out")
	p99=$(awk '/ 99% in/ {printf "%.2f", $3 * 1000}' <<<"$out")
	codes=$(awk '/^[[:space:]]+\[[0-9]+\]/ {printf "%s %s ", $1, $2}' <<<"$out")
	rate[$store/$method/$conns]=$rps
	printf '| %s | %s | %s | %s | %s | %s | %s|\n' "$method" "$conns" "$store" "$rps" "$p50" "$p99" "$codes"
}

fs=$(df -T "$work" | awk 'NR == 2 {print $2 " on " $1}')
echo "## Store load (hey -z $DURATION, loopback)"
echo
echo "$(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)),"
echo "$(uname -sr), $(go version | awk '{print $3}'), data file on $fs."
echo
echo "| request | connections | store | req/s | p50 ms | p99 ms | statuses |"
echo "|---|---:|---|---:|---:|---:|---|"
for method in PATCH GET; do
	for conns in "${CONNS[@]}"; do
		cell embedded "$method" "$conns"
		cell memory "$method" "$conns"
	done
done
echo
for conns in "${CONNS[@]}"; do
	e=${rate[embedded/PATCH/$conns]} m=${rate[memory/PATCH/$conns]}
	awk -v e="$e" -v m="$m" -v c="$conns" 'BEGIN {
		r = m > 0 ? e / m : 0
		verdict = c == 32 ? (r >= 1 / 3 ? " (aim: >= 0.33, met)" : " (aim: >= 0.33, missed)") : ""
		printf "Durable PATCH / in-memory PATCH at %d connection%s: %.2f%s\n\n", c, c == 1 ? "" : "s", r, verdict
	}'
done
