#!/usr/bin/env bash
# The embedded store's integrity work, measured (bench/STORE.md records a run):
#
#   1. the check at Open (the package's own check of every page and record, and bbolt's
#      tx.Check) at 1k, 100k and 1M tenants, next to bbolt's Open alone: BenchmarkOpen in bolt/;
#   2. durable updates and reads, this tree against BASE (default c340c90, the tree before the
#      integrity work): bolt's BenchmarkUpdateSerial, BenchmarkUpdateParallel and
#      BenchmarkSettings, the two test binaries run in alternation, ROUNDS rounds;
#   3. the same work on Pebble (bench/pebble, a module of its own), in the same rounds.
#
#   bash bench/store-check.sh                  # all three
#   ROUNDS=8 BASE=main bash bench/store-check.sh
#   bash bench/store-check.sh open             # only 1
#
# The files of 1k, 100k and 1M tenants are made once in $REMOTEASSIST_BENCH_DIR (default /tmp):
# 1M tenants is a 157 MiB bbolt file and takes about a minute to make. The figures are medians of
# the rounds; on a shared machine the ratios matter more than the absolute values.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-5}
BASE=${BASE:-c340c90}
what=${1:-all}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# median FILE NAME COLUMN: the median of a benchmark's value in column COLUMN over the rounds.
median() {
	awk -v n="$2" -v c="$3" '/^Benchmark/ {name = $1; sub(/-[0-9]+$/, "", name); if (name == n) print $c}' "$1" | sort -g |
		awk '{v[NR] = $1} END {if (NR == 0) {print "-"} else if (NR % 2) {print v[(NR + 1) / 2]} else {print (v[NR / 2] + v[NR / 2 + 1]) / 2}}'
}

open_check() {
	echo "## Check at Open (go test -bench BenchmarkOpen ./bolt/, -benchtime 5x)"
	echo
	go test -run '^$' -bench BenchmarkOpen -benchtime 5x -count 3 ./bolt/ | tee "$work/open.txt" | grep -E '^Benchmark' >&2 || true
	echo "| tenants | file MiB | bbolt Open alone | bbolt tx.Check alone | check at Open | check + tx.Check (default) | heap B/tenant |"
	echo "|---:|---:|---:|---:|---:|---:|---:|"
	for n in 1000 100000 1000000; do
		b=BenchmarkOpen/tenants=$n
		awk -v n="$n" -v mib="$(median "$work/open.txt" "$b/bbolt-only" 5)" \
			-v bo="$(median "$work/open.txt" "$b/bbolt-only" 3)" \
			-v tc="$(median "$work/open.txt" "$b/bbolt-tx.Check-only" 3)" \
			-v ck="$(median "$work/open.txt" "$b/check" 3)" \
			-v all="$(median "$work/open.txt" "$b/check+bbolt-check" 3)" \
			-v heap="$(median "$work/open.txt" "$b/check" 5)" \
			'BEGIN {printf "| %d | %.1f | %.2f ms | %.1f ms | %.1f ms | %.1f ms | %.0f |\n", n, mib, bo / 1e6, tc / 1e6, ck / 1e6, all / 1e6, heap}'
	done
	echo
}

updates() {
	echo "## Durable updates and reads: $BASE against this tree, and Pebble ($ROUNDS alternating rounds)"
	echo
	mkdir -p "$work/base"
	git archive "$BASE" | tar -x -C "$work/base"
	(cd "$work/base" && go test -c -o "$work/before.test" ./bolt/)
	go test -c -o "$work/after.test" ./bolt/
	(cd bench/pebble && go test -c -o "$work/pebble.test" .)
	local bench='^Benchmark(UpdateSerial|UpdateParallel|Settings)$'
	for i in $(seq "$ROUNDS"); do
		echo "round $i/$ROUNDS" >&2
		for v in before after pebble; do
			(cd "$work" && "./$v.test" -test.run '^$' -test.bench "$bench" -test.benchmem >>"$work/$v.txt")
		done
	done
	echo "| benchmark | before ns/op | after ns/op | after/before | pebble ns/op | pebble/after | updates/fsync before, after |"
	echo "|---|---:|---:|---:|---:|---:|---:|"
	for b in BenchmarkUpdateSerial BenchmarkUpdateParallel/callers=1xGOMAXPROCS BenchmarkUpdateParallel/callers=8xGOMAXPROCS \
		BenchmarkUpdateParallel/callers=64xGOMAXPROCS BenchmarkSettings; do
		local x y p fx fy
		x=$(median "$work/before.txt" "$b" 3)
		y=$(median "$work/after.txt" "$b" 3)
		p=$(median "$work/pebble.txt" "$b" 3)
		fx=-
		fy=-
		if [[ $b == *Parallel* ]]; then
			fx=$(median "$work/before.txt" "$b" 5)
			fy=$(median "$work/after.txt" "$b" 5)
		fi
		awk -v b="${b#Benchmark}" -v x="$x" -v y="$y" -v p="$p" -v fx="$fx" -v fy="$fy" \
			'BEGIN {printf "| %s | %d | %d | %.2f | %d | %.2f | %s, %s |\n", b, x, y, y / x, p, p / y, fx, fy}'
	done
	echo
	echo "Pebble at 1M tenants: $(cd "$work" && ./pebble.test -test.run '^$' -test.bench '^BenchmarkOpen$' -test.benchtime 3x | awk '/^BenchmarkOpen/ {printf "%s %.1f ms; ", $1, $3 / 1e6}')"
	echo
}

echo "$(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)), $(uname -sr), $(go version | awk '{print $3}'), load average $(cut -d' ' -f1-3 /proc/loadavg), temporary files on $(df -T "${TMPDIR:-/tmp}" | awk 'NR == 2 {print $2}')."
echo
case "$what" in
all)
	open_check
	updates
	;;
open) open_check ;;
updates) updates ;;
*)
	echo "usage: bench/store-check.sh [all|open|updates]" >&2
	exit 2
	;;
esac
