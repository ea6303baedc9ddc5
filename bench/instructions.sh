#!/usr/bin/env bash
# The whole process's cost per request in CPU instructions, serve against the floor: the rows of
# bench/load.sh (the same servers, flags, tokens and requests), each server run under valgrind's
# callgrind, which counts every user-space instruction the process executes. A count does not
# depend on what else the host runs, so where load.sh's rates swing by 2x within seconds on a
# shared machine, this gives the same figure to about 1 % run after run: it tells what a change
# costs or saves, and where (the functions whose counts differ most), before a load run
# measures what the rates make of it. It leaves out the kernel's share (reading and writing the
# sockets, which both servers do alike: `strace -c` counts one read and one write a request on
# each) and whatever instructions cost beyond their count (cache misses), so it is a diagnostic
# beside load.sh, not a replacement for it.
#
#   bash bench/instructions.sh      # or: bash bench/run.sh instructions
#
# Knobs: CG_DURATION (10s) of counted load per server, after a 3 s warm-up; CG_TOP (25), the
# functions listed for the GET row; CG_GOGC, a GOGC for both servers (default: Go's);
# CG_CACHESIM=1, callgrind's cache simulation too (about twice as slow): each row then also
# gives the estimated cycles per request, callgrind's own estimate (instructions, plus 10 for
# each first-level miss and 100 for each last-level miss, of the host's caches as callgrind
# reads them), and the rate ratio they predict, which counts what an instruction costs beyond
# its count where the two servers' code and data do not fit the caches alike. Each
# server runs with GOMAXPROCS=1, as load.sh's pinned servers do, and GODEBUG=asyncpreemptoff=1,
# as callgrind cannot take the signals of Go's asynchronous preemption. Outputs go to bench/out/
# (BENCH_OUT): instructions.md, and callgrind's files in instructions/ (callgrind_annotate them).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${BENCH_OUT:-bench/out}
DURATION=${CG_DURATION:-10s}
TOP=${CG_TOP:-25}
mkdir -p "$OUT/instructions"
source bench/lib.sh
bench_need wrk valgrind
go build -o "$OUT/remoteassist" ./cmd/remoteassist
go build -o "$OUT/floorserver" ./bench/floor/cmd/floorserver
bench_workdir

scopes="DeviceManagementServiceConfig.ReadWrite.All"
settings=/beta/deviceManagement/remoteAssistanceSettings
"$OUT/remoteassist" token --data "$work/embedded" --tenant load-tenant --scopes "$scopes" >"$work/token-embedded" 2>/dev/null
"$OUT/remoteassist" token --data "$work/memory" --tenant load-tenant --scopes "$scopes" >"$work/token-memory" 2>/dev/null

# script NAME METHOD TOKEN: load.sh's wrk script of that name, $work/NAME.lua.
script() { bench_wrk_script "$work/$1.lua" "$2" "$3"; }
script get-embedded GET "$(cat "$work/token-embedded")"
script patch-embedded PATCH "$(cat "$work/token-embedded")"
script patch-memory PATCH "$(cat "$work/token-memory")"

# count NAME PORT LUA PATH -- CMD...: runs CMD under callgrind, loads it (warm-up uncounted),
# and sets counted_requests and counted_instructions to the counted window's. It runs in the
# script's shell, so that the exit trap stops the server if anything fails.
count() {
	local name=$1 port=$2 lua=$3 path=$4
	shift 5
	rm -f "$OUT/instructions/$name".out*
	env GOMAXPROCS=1 GODEBUG=asyncpreemptoff=1 ${CG_GOGC:+GOGC=$CG_GOGC} \
		valgrind --tool=callgrind $([ "${CG_CACHESIM:-0}" != 0 ] && echo --cache-sim=yes) --instr-atstart=no --callgrind-out-file="$OUT/instructions/$name.out" \
		"$@" >"$OUT/instructions/$name.log" 2>&1 &
	local pid=$!
	pids+=("$pid")
	bench_wait_healthz "$name under callgrind" "$port" "$OUT/instructions/$name.log" 60
	wrk -t1 -c32 -d3s -s "$work/$lua.lua" "http://127.0.0.1:$port$path" >/dev/null
	callgrind_control -i on "$pid" >/dev/null 2>&1
	counted_requests=$(wrk -t1 -c32 -d"$DURATION" -s "$work/$lua.lua" "http://127.0.0.1:$port$path" |
		awk '/ requests in / {print $1}')
	callgrind_control -i off "$pid" >/dev/null 2>&1
	callgrind_control -d "$pid" >/dev/null 2>&1
	kill "$pid"
	wait "$pid" 2>/dev/null || true
	local dump
	dump=$(ls -S "$OUT/instructions/$name".out* | awk 'NR == 1')
	mv "$dump" "$OUT/instructions/$name.callgrind"
	rm -f "$OUT/instructions/$name".out*
	echo "$counted_requests" >"$OUT/instructions/$name.requests"
	counted_instructions=$(callgrind_annotate "$OUT/instructions/$name.callgrind" 2>/dev/null |
		awk '/PROGRAM TOTALS/ && !seen {gsub(",", "", $1); print $1; seen = 1}')
	counted_cycles=
	if [ "${CG_CACHESIM:-0}" != 0 ]; then
		# The totals' line in the order of the "Events shown" line: Ir I1mr ILmr Dr D1mr DLmr Dw D1mw DLmw.
		counted_cycles=$(callgrind_annotate "$OUT/instructions/$name.callgrind" 2>/dev/null | awk '
			/^Events shown:/ {for (i = 3; i <= NF; i++) ev[$i] = i - 2}
			/PROGRAM TOTALS/ && !seen {seen = 1; line = $0; gsub(/\([^)]*\)/, "", line); gsub(",", "", line); split(line, v, " ")
				print v[ev["Ir"]] + 10 * (v[ev["I1mr"]] + v[ev["D1mr"]] + v[ev["D1mw"]]) + 100 * (v[ev["ILmr"]] + v[ev["DLmr"]] + v[ev["DLmw"]])}')
	fi
}

# row ROW SERVE_PORT LUA PATH FLOOR_LUA SERVE_ARGS...: one row's line of the table.
row() {
	local row=$1 port=$2 lua=$3 path=$4 floorlua=$5 sreq sins
	shift 5
	echo "row $row" >&2
	count "serve-$row" "$port" "$lua" "$path" -- "$OUT/remoteassist" serve --addr "127.0.0.1:$port" "$@"
	sreq=$counted_requests sins=$counted_instructions scyc=$counted_cycles
	count "floor-$row" 18081 "$floorlua" "$path" -- "$OUT/floorserver" --addr 127.0.0.1:18081
	awk -v row="$row" -v sr="$sreq" -v si="$sins" -v fr="$counted_requests" -v fi="$counted_instructions" \
		-v sc="$scyc" -v fc="$counted_cycles" 'BEGIN {
		s = si / sr; f = fi / fr
		printf "| %s | %.0f | %.0f | %.3f | %.2fx | %d / %d |", row, s, f, s / f, f / s, sr, fr
		if (sc != "") printf " %.0f | %.0f | %.2fx |", sc / sr, fc / fr, (fc / fr) / (sc / sr)
		printf "\n" }'
}

# The table is written by this shell (a pipe into tee would run the rows in a subshell, out of
# the exit trap's reach), then shown.
{
	echo "## Instructions per request, whole process ($(date -u +%F), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown))"
	echo
	echo "callgrind, user space only; wrk -t1 -c32 -d$DURATION counted after a 3 s warm-up; GOMAXPROCS=1, GODEBUG=asyncpreemptoff=1${CG_GOGC:+, GOGC=$CG_GOGC}$([ "${CG_CACHESIM:-0}" != 0 ] && echo ", --cache-sim=yes"). The column floor/serve is the floor's count over serve's: the rate ratio these counts predict, if an instruction cost the same in both."
	echo
	if [ "${CG_CACHESIM:-0}" != 0 ]; then
		echo "| row | serve instructions / request | floor instructions / request | serve/floor | floor/serve | requests counted (serve / floor) | serve estimated cycles / request | floor estimated cycles / request | floor/serve by cycles |"
		echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
	else
		echo "| row | serve instructions / request | floor instructions / request | serve/floor | floor/serve | requests counted (serve / floor) |"
		echo "|---|---:|---:|---:|---:|---:|"
	fi
	row GET 18080 get-embedded "$settings" get-embedded --data "$work/embedded"
	row PATCH_memory 18082 patch-memory "$settings" patch-memory --data "$work/memory" --store memory
	row PATCH_durable 18080 patch-embedded "$settings" patch-memory --data "$work/embedded"
	row healthz 18080 get-embedded /healthz get-embedded --data "$work/embedded"
	echo
	echo "GET: the $TOP functions whose own instructions per request differ most (serve, floor, serve - floor):"
	echo
	echo '```'
	for side in serve floor; do
		callgrind_annotate --auto=no --inclusive=no --threshold=100 "$OUT/instructions/$side-GET.callgrind" 2>/dev/null |
			awk -v side="$side" -v n="$(cat "$OUT/instructions/$side-GET.requests")" \
				'match($0, /^ *[0-9,]+ \( *[0-9.]+%\)  /) {ir = $1; gsub(",", "", ir); f = substr($0, RLENGTH + 1)
				 sub(/ \[[^]]*\]$/, "", f); sub(/^[^:]*:/, "", f); print side "\t" ir / n "\t" f}'
	done | awk -F'\t' '{ins[$1 FS $3] += $2; names[$3] = 1}
		END {for (f in names) printf "%.0f\t%8.0f %8.0f %+8.0f  %s\n", ins["serve" FS f] - ins["floor" FS f], ins["serve" FS f], ins["floor" FS f], ins["serve" FS f] - ins["floor" FS f], f}' |
		sort -t"$(printf '\t')" -k1,1nr | awk -v n="$TOP" 'NR <= n' | cut -f2-
	echo '```'
} >"$OUT/instructions.md"
cat "$OUT/instructions.md"
