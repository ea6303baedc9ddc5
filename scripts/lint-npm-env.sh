# shellcheck shell=bash
# Sourced by the lint-/docs- scripts: the environment for the npm tools and npm_ensure_installed.
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

# npm_ensure_installed runs `npm ci` when node_modules is missing or was installed from another
# package-lock.json (a stamp file in node_modules records the lock file's sha256).
npm_ensure_installed() {
	local root stamp want have
	root=$(git -C "$(dirname "${BASH_SOURCE[0]}")" rev-parse --show-toplevel 2>/dev/null || (cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd))
	if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
		echo "node and npm are needed (Debian: apt-get install -y nodejs npm)" >&2
		return 1
	fi
	if ! node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)'; then
		echo "Node.js >= 20.19 is needed (@redocly/cli 2), found $(node --version)" >&2
		return 1
	fi
	stamp="$root/node_modules/.remoteassist-lock.sha256"
	want=$(sha256sum "$root/package-lock.json" | cut -d' ' -f1)
	have=$(cat "$stamp" 2>/dev/null || true)
	if [ ! -d "$root/node_modules" ] || [ "$want" != "$have" ]; then
		echo "npm ci (node_modules is missing or stale)" >&2
		(cd "$root" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error) >&2 || return 1
		printf '%s\n' "$want" > "$stamp"
	fi
}
