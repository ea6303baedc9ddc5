#!/usr/bin/env bash
# make bench: the whole performance comparison of the server ("stack") with the hand-written
# floor (bench/floor), in one command.
#
#   bash bench/run.sh            # Go benchmarks, the loopback load run, instructions, start-up
#   bash bench/run.sh go         # only the Go benchmarks (or: load, instructions, startup)
#
# Go benchmarks: the server test binary is built once and run ROUNDS times (default 10); each
# round runs every request against the stack and the floor one after the other, so the two are
# interleaved and share the machine's state. Reported: benchstat's medians (stack vs floor
# columns) and, per request, the median stack/floor ratio against the issue's targets.
# Outputs go to bench/out/ (BENCH_OUT to change): raw.txt, benchstat.txt, ratios.md, load.md,
# instructions.md, startup.md. bench/RESULTS.md records a run with the machine and the date.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-10}
BENCHTIME=${BENCHTIME:-1s}
OUT=${BENCH_OUT:-bench/out}
BENCHSTAT=golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da
what=${1:-all}
mkdir -p "$OUT"

run_go() {
	echo "== Go benchmarks: $ROUNDS interleaved rounds, -benchtime $BENCHTIME"
	go test -c -o "$OUT/server.test" ./server
	: >"$OUT/raw.txt"
	for i in $(seq "$ROUNDS"); do
		echo "round $i/$ROUNDS"
		"$OUT/server.test" -test.run '^$' -test.bench '^BenchmarkServe$' -test.benchtime "$BENCHTIME" \
			-test.benchmem >>"$OUT/raw.txt"
	done
	go run "$BENCHSTAT" -col /impl "$OUT/raw.txt" | tee "$OUT/benchstat.txt"
	go run ./bench/ratio <"$OUT/raw.txt" | tee "$OUT/ratios.md"
}

case "$what" in
all)
	run_go
	bash bench/load.sh | tee "$OUT/load.md"
	bash bench/instructions.sh
	bash bench/startup.sh | tee "$OUT/startup.md"
	;;
go) run_go ;;
load) bash bench/load.sh | tee "$OUT/load.md" ;;
instructions) bash bench/instructions.sh ;;
startup) bash bench/startup.sh | tee "$OUT/startup.md" ;;
*)
	echo "usage: bench/run.sh [all|go|load|instructions|startup]" >&2
	exit 2
	;;
esac
