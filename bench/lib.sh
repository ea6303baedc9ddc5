# shellcheck shell=bash
# Sourced by the bench scripts (bash): what several of them do alike.

# bench_need TOOL...: installs Debian's package of each tool not on PATH (the package has the
# tool's name), as root or through sudo.
bench_need() {
	local missing=() tool sudo=""
	for tool in "$@"; do
		command -v "$tool" >/dev/null || missing+=("$tool")
	done
	[ ${#missing[@]} -eq 0 ] && return
	[ "$(id -u)" -ne 0 ] && sudo="sudo"
	echo "installing ${missing[*]}" >&2
	$sudo apt-get update -qq && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

# bench_workdir [PARENT]: sets work to a new directory (in PARENT, or the temporary directory)
# and pids to the processes the script will start (it appends them); on exit, the processes are
# killed and waited for, and the directory is removed.
bench_workdir() {
	work=$(mktemp -d "${1:-${TMPDIR:-/tmp}}/remoteassist-bench-XXXXXX")
	pids=()
	trap bench_cleanup EXIT
}

bench_cleanup() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}

# bench_wrk_script FILE METHOD TOKEN: the wrk script of the load rows' request: METHOD on the
# settings with the bearer TOKEN and a client-request-id, and for a PATCH its JSON body. When wrk
# ends it prints "RESULT req/s p50ms p99ms N", N the answers of status 400 or more.
bench_wrk_script() {
	local file=$1 method=$2 token=$3
	cat >"$file" <<LUA
wrk.method = "$method"
wrk.headers["Authorization"] = "Bearer $token"
wrk.headers["client-request-id"] = "0e6b4e5e-4b0c-4c1a-9d1c-3f1d2b7a9c10"
if wrk.method == "PATCH" then
  wrk.headers["Content-Type"] = "application/json"
  wrk.body = '{"remoteAssistanceState":"enabled","blockChat":true}'
end
done = function(summary, latency, requests)
  io.write(string.format("RESULT %.0f %.3f %.3f %d\n", summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, summary.errors.status))
end
LUA
}

# bench_wait_healthz NAME PORT LOG [SECONDS]: waits for the server NAME on 127.0.0.1:PORT to
# answer /healthz, for at most SECONDS (10); past them it prints LOG, the server's output, and
# exits the script.
bench_wait_healthz() {
	local name=$1 port=$2 log=$3 seconds=${4:-10} i
	for ((i = 0; i < seconds * 20; i++)); do
		if curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; then
			return
		fi
		sleep 0.05
	done
	echo "$name on 127.0.0.1:$port did not answer /healthz within ${seconds}s" >&2
	cat "$log" >&2
	exit 1
}
