# shellcheck shell=bash
# Sourced by the lint-/docs- scripts: the environment for the npm tools and npm_ensure_installed.
# Run as `bash scripts/lint-npm-env.sh install [DIR...]`, it installs the pinned packages (below).
#
# No telemetry, no update checks, no install scripts: Redocly CLI reports usage unless
# REDOCLY_TELEMETRY=off, and two dependencies (core-js, @scarf/scarf) have postinstall scripts
# (banner / usage report) that none of the tools needs.

export REDOCLY_TELEMETRY=off
export REDOCLY_SUPPRESS_UPDATE_NOTICE=true
export SCARF_ANALYTICS=false
export DO_NOT_TRACK=1
export NPM_CONFIG_FUND=false
export NPM_CONFIG_AUDIT=false
export NPM_CONFIG_UPDATE_NOTIFIER=false
export NPM_CONFIG_IGNORE_SCRIPTS=true

# The directories (of the repository) whose package-lock.json pins packages that the tests and
# tools run: the root's (the spec linters, the static docs build that docs' browser test checks),
# the generated TypeScript client's (e2e), Microsoft's JavaScript SDKs' (sdkcompat). scripts/test.sh
# installs them all in its dependency step; go test installs nothing and fails when one is
# missing or stale.
npm_dirs=(. clients/typescript sdkcompat/js)

# The Node.js the tools need: @redocly/cli 2 (the root's) wants 20.19 or later.
npm_node_min=20.19

# npm_node_ok fails, saying why, unless node and npm are on PATH and node is new enough.
npm_node_ok() {
	if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
		echo "node and npm are needed (bash scripts/install-deps.sh; Debian: apt-get install -y nodejs npm)" >&2
		return 1
	fi
	if ! node -e 'const [a,b]=process.versions.node.split(".").map(Number); const [x,y]=process.argv[1].split(".").map(Number); process.exit(a>x||(a===x&&b>=y)?0:1)' "$npm_node_min"; then
		echo "Node.js >= $npm_node_min is needed (@redocly/cli 2), found $(node --version)" >&2
		return 1
	fi
}

# npm_ensure_installed [DIR] runs `npm ci` in DIR (relative to the repository's root, which is the
# default) when DIR/node_modules is missing or was installed from another package-lock.json: a
# stamp file, DIR/node_modules/.remoteassist-lock.sha256, records the lock file's sha256, and the
# tests compare it the same way. A lock on DIR/package-lock.json keeps two runs from installing at
# once. With REMOTEASSIST_NPM_NO_INSTALL=1 (the tests set it when they run a script that needs
# the packages) it fails, naming the command that installs, instead of installing.
npm_ensure_installed() {
	local root rel dir
	root=$(git -C "$(dirname "${BASH_SOURCE[0]}")" rev-parse --show-toplevel 2>/dev/null || (cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd))
	rel=${1:-.}
	dir="$root/$rel"
	if [ ! -f "$dir/package-lock.json" ]; then
		echo "npm_ensure_installed: no package-lock.json in $rel" >&2
		return 1
	fi
	npm_node_ok || return 1
	(
		flock 9
		want=$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)
		have=$(cat "$dir/node_modules/.remoteassist-lock.sha256" 2>/dev/null || true)
		if [ -d "$dir/node_modules" ] && [ "$want" = "$have" ]; then
			exit 0
		fi
		if [ "${REMOTEASSIST_NPM_NO_INSTALL:-}" = 1 ]; then
			echo "$rel/node_modules is missing or was installed from another package-lock.json; install it with: bash scripts/lint-npm-env.sh install $rel (make test's dependency step installs every directory)" >&2
			exit 1
		fi
		echo "npm ci in $rel (node_modules is missing or stale)" >&2
		(cd "$dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error) >&2 || exit 1
		printf '%s\n' "$want" > "$dir/node_modules/.remoteassist-lock.sha256"
	) 9<"$dir/package-lock.json"
}

# Run, not sourced: bash scripts/lint-npm-env.sh install [DIR...] installs DIRs (default: every
# directory of npm_dirs).
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	set -euo pipefail
	if [ "${1:-}" != install ]; then
		echo "usage: bash scripts/lint-npm-env.sh install [DIR...]   (default: ${npm_dirs[*]})" >&2
		exit 2
	fi
	shift
	if [ $# -eq 0 ]; then
		set -- "${npm_dirs[@]}"
	fi
	for d in "$@"; do
		npm_ensure_installed "$d"
	done
fi
