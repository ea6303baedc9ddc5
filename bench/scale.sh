#!/usr/bin/env bash
# Cost as work grows (issue #12, item 7): "remoteassist serve" with 1k, 100k and 1M tenants
# stored, on the embedded store (bbolt) and on PostgreSQL; bench/SCALE.md records a run.
#
#   bash bench/scale.sh
#   SCALE_TENANTS="1000 100000" SCALE_STORES=embedded SCALE_ROUNDS=3 bash bench/scale.sh
#   REMOTEASSIST_SCALE_DIR=/var/tmp/scale bash bench/scale.sh    # keep the stores for the next run
#
# What it does (bench/scale, a Go program, does the measuring):
#
#   1. builds remoteassist and bench/scale once;
#   2. makes the stores, once per directory: for the embedded store a data directory per size
#      (bolt.Open, then UpdateSettings of every tenant, t-0000000 to t-(N-1), with varied
#      settings, group-committed 256 at a time); for PostgreSQL a throwaway cluster (initdb from
#      the installed binaries, run as the postgres user when root; default durability: fsync and
#      synchronous_commit on) with a database per size (postgres.Open, ReplaceAllSettings with
#      COPY, VACUUM ANALYZE);
#   3. measures (scale measure, pinned to CPU 0): every server is started and stopped
#      SCALE_STARTUPS (3) times, one after the other: start-up to the first 200 on /healthz and on
#      /readyz, and the RSS 1 s after; the last start of each stays up. Then SCALE_TOKENS (5000)
#      tokens per server for as many random stored tenants, minted with its data directory's key
#      (the server's token cache holds 10,000) and each used once to warm the cache; then
#      SCALE_ROUNDS (7) rounds, interleaved across all servers, of the cells SCALE_CELLS
#      (GET and PATCH at 32 and at 1 connection), each SCALE_DURATION (3s) after 0.5 s unmeasured,
#      every request with a random one of the tokens, the server's CPU time (/proc/PID/stat) and
#      write_bytes (/proc/PID/io) read around each cell; then the RSS again, the live heap (a GC forced through
#      /debug/pprof/heap?gc=1 on --ops-addr) and the data's size;
#   4. floods a server (serve --throttle intune, a new embedded store) with one GET from each of
#      SCALE_FLOOD_TENANTS (120000) distinct, unstored tenants, reading its memory every 10,000.
#
# The servers (and PostgreSQL) run pinned to CPU SCALE_SERVER_CPU (1), the load generator to CPU
# 0. Test traffic goes to 127.0.0.1 only. Outputs: $BENCH_OUT (bench/out)/scale.md, and the raw
# rows in scale-rows.tsv. Every server and PostgreSQL started is stopped on exit; the stores are
# made in a temporary directory that is removed on exit, unless REMOTEASSIST_SCALE_DIR names one
# to keep (about 100 MB for the embedded store at 1M tenants, 300 MB for PostgreSQL with its WAL).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${BENCH_OUT:-bench/out}
TENANTS=${SCALE_TENANTS:-1000 100000 1000000}
STORES=${SCALE_STORES:-embedded postgres}
ROUNDS=${SCALE_ROUNDS:-7}
DURATION=${SCALE_DURATION:-3s}
TOKENS=${SCALE_TOKENS:-5000}
CELLS=${SCALE_CELLS:-GET:32,PATCH:32,GET:1,PATCH:1}
STARTUPS=${SCALE_STARTUPS:-3}
FLOOD=${SCALE_FLOOD_TENANTS:-120000}
CPU=${SCALE_SERVER_CPU:-1}
mkdir -p "$OUT"

keep=${REMOTEASSIST_SCALE_DIR:-}
if [ -n "$keep" ]; then
	mkdir -p "$keep"
	work=$(cd "$keep" && pwd)
else
	work=$(mktemp -d "${TMPDIR:-/tmp}/remoteassist-scale.XXXXXX")
fi
# PostgreSQL's user must be able to reach its directory inside.
chmod 711 "$work"
child=""
pg_up=""
cleanup() {
	local status=$?
	if [ -n "$child" ]; then
		kill "$child" 2>/dev/null || true
		wait "$child" 2>/dev/null || true
	fi
	if [ -n "$pg_up" ]; then
		as_pg "$PGBIN/pg_ctl" -D "$work/pg/data" -m fast -w stop >/dev/null 2>&1 || true
	fi
	if [ -z "$keep" ]; then
		rm -rf "$work"
	else
		rm -rf "$work/bin" "$work/flood" "$work"/*.md
	fi
	exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# run CMD...: runs a command in the background and waits for it, so that the trap can stop it.
run() {
	"$@" &
	child=$!
	wait "$child"
	child=""
}

human() {
	case $1 in
	*000000) echo "${1%000000}M" ;;
	*000) echo "${1%000}k" ;;
	*) echo "$1" ;;
	esac
}

if [ "$(df -Pk "$work" | awk 'NR == 2 {print $4}')" -lt $((2 * 1024 * 1024)) ]; then
	echo "scale.sh: less than 2 GiB free on $(df -P "$work" | awk 'NR == 2 {print $6}'); the stores need up to about 0.5 GiB, set REMOTEASSIST_SCALE_DIR elsewhere" >&2
	exit 1
fi

mkdir -p "$work/bin"
go build -o "$work/bin/remoteassist" ./cmd/remoteassist
go build -o "$work/bin/scale" ./bench/scale
scale=$work/bin/scale

# PostgreSQL: a cluster of its own in $work/pg, on a free loopback port.
# (initdb refuses to run as root: as root, PostgreSQL runs as the postgres user.)
pguser=()
if [ "$(id -u)" -eq 0 ]; then
	pguser=(setpriv --reuid=postgres --regid=postgres --init-groups)
fi
as_pg() { "${pguser[@]}" "$@"; }
PGBIN=""
if [[ " $STORES " == *" postgres "* ]]; then
	PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
	if [ -z "$PGBIN" ] && command -v initdb >/dev/null; then
		PGBIN=$(dirname "$(command -v initdb)")
	fi
	if [ -z "$PGBIN" ]; then
		echo "scale.sh: no PostgreSQL server binaries (Debian: apt-get install postgresql); or SCALE_STORES=embedded" >&2
		exit 1
	fi
	mkdir -p "$work/pg"
	if [ "$(id -u)" -eq 0 ]; then
		chown postgres:postgres "$work/pg"
	fi
	if [ ! -f "$work/pg/data/PG_VERSION" ]; then
		as_pg "$PGBIN/initdb" -D "$work/pg/data" -U postgres -A trust -E UTF8 --locale=C >/dev/null
	fi
	PGPORT=$("$scale" freeport)
	taskset -c "$CPU" "${pguser[@]}" "$PGBIN/pg_ctl" -D "$work/pg/data" -l "$work/pg/log" -w \
		-o "-c listen_addresses=127.0.0.1 -p $PGPORT -c unix_socket_directories=$work/pg -c max_connections=200" start >/dev/null
	pg_up=1
fi
pgdsn() { echo "postgres://postgres@127.0.0.1:$PGPORT/scale_$1?sslmode=disable"; }

# The stores, made once per directory.
targets=()
for store in $STORES; do
	for n in $TENANTS; do
		name=$store-$(human "$n")
		dir=$work/$name
		case $store in
		embedded)
			if [ ! -f "$dir/.populated" ]; then
				rm -rf "$dir"
				echo "making $name" >&2
				run "$scale" populate -store bolt -data "$dir" -n "$n"
				touch "$dir/.populated"
			fi
			targets+=(-target "name=$name,tenants=$n,data=$dir")
			;;
		postgres)
			if [ ! -f "$dir/.populated" ]; then
				rm -rf "$dir"
				echo "making $name" >&2
				as_pg "$PGBIN/dropdb" --if-exists -h 127.0.0.1 -p "$PGPORT" -U postgres "scale_$n"
				as_pg "$PGBIN/createdb" -h 127.0.0.1 -p "$PGPORT" -U postgres "scale_$n"
				run "$scale" populate -store postgres -dsn "$(pgdsn "$n")" -data "$dir" -n "$n"
				touch "$dir/.populated"
			fi
			targets+=(-target "name=$name,tenants=$n,data=$dir,store=$(pgdsn "$n")")
			;;
		*)
			echo "scale.sh: SCALE_STORES: unknown store $store (want embedded, postgres)" >&2
			exit 2
			;;
		esac
	done
done

load_start=$(cut -d' ' -f1-3 /proc/loadavg)
date_start=$(date -u +%Y-%m-%dT%H:%MZ)
run taskset -c 0 "$scale" measure -bin "$work/bin/remoteassist" -server-cpu "$CPU" -startups "$STARTUPS" -rounds "$ROUNDS" \
	-duration "$DURATION" -tokens "$TOKENS" -cells "$CELLS" -out "$work/measure.md" -raw "$OUT/scale-rows.tsv" "${targets[@]}" >/dev/null
rm -rf "$work/flood"
if [ "$FLOOD" -gt 0 ]; then
	run taskset -c 0 "$scale" flood -bin "$work/bin/remoteassist" -server-cpu "$CPU" -data "$work/flood" -tenants "$FLOOD" \
		-out "$work/flood.md" >/dev/null
fi

pgversion=""
if [ -n "$PGBIN" ]; then
	pgversion=", PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}') (defaults: fsync and synchronous_commit on, shared_buffers 128MB; pinned with the servers)"
fi
{
	echo "## Cost as work grows ($date_start, commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD 2>/dev/null || echo +dirty))"
	echo
	echo "$(nproc) cores ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)), $(uname -sr), $(go version | awk '{print $3}')$pgversion; stores on $(df -T "$work" | awk 'NR == 2 {print $2}'); load average $load_start at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end. Servers on CPU $CPU, the load generator on CPU 0."
	echo
	echo "Command: \`$(for v in SCALE_TENANTS SCALE_STORES SCALE_ROUNDS SCALE_DURATION SCALE_TOKENS SCALE_CELLS SCALE_STARTUPS SCALE_FLOOD_TENANTS SCALE_SERVER_CPU; do [ -n "${!v:-}" ] && printf '%s="%s" ' "$v" "${!v}"; done)bash bench/scale.sh\`"
	echo
	cat "$work/measure.md"
	if [ -f "$work/flood.md" ]; then
		cat "$work/flood.md"
	fi
} >"$OUT/scale.md"
cat "$OUT/scale.md"
