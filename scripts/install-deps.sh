#!/usr/bin/env bash
# Installs Debian's packages the tests need besides Chromium (scripts/install-chromium.sh), each
# only when it is absent:
#   PostgreSQL server binaries (internal/pgtest runs a throwaway server), unless
#     /usr/lib/postgresql/*/bin/initdb or an initdb on PATH exists;
#   Node.js and npm (the spec linters, scripts/lint-spec.sh; Microsoft's JavaScript SDKs in
#     sdkcompat/js and the TypeScript client in clients/typescript, whose packages
#     `bash scripts/lint-npm-env.sh install` installs), unless node and npm are on PATH; then
#     it fails unless node is at least the version scripts/lint-npm-env.sh requires
#     ($npm_node_min, 20.19): Debian 12's nodejs is 18, too old, and is not replaced here;
#   curl (e2e follows serve --tls's advice to curl users), unless curl is on PATH.
# Idempotent: installs nothing when all are there. Needs root (apt-get); uses sudo when not root.
set -euo pipefail

packages=()
if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null; then
	echo "PostgreSQL server binaries already installed"
else
	packages+=(postgresql)
fi
if command -v node >/dev/null && command -v npm >/dev/null; then
	echo "Node.js $(node --version) and npm $(npm --version) already installed"
else
	packages+=(nodejs npm)
fi
if command -v curl >/dev/null; then
	echo "curl already installed"
else
	packages+=(curl)
fi
if [ ${#packages[@]} -gt 0 ]; then
	SUDO=""
	if [ "$(id -u)" -ne 0 ]; then
		SUDO="sudo"
	fi
	echo "installing ${packages[*]}"
	$SUDO apt-get update -qq
	$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
fi

# The Node.js the npm tools and the JavaScript tests need, whichever installed it.
# shellcheck source=scripts/lint-npm-env.sh
. "$(dirname "$0")/lint-npm-env.sh"
if ! npm_node_ok; then
	echo "install-deps.sh: install Node.js $npm_node_min or later (e.g. Node.js's own binaries from nodejs.org, or a newer distribution's nodejs) and put it first on PATH; $(command -v node || echo 'no node') is not replaced here" >&2
	exit 1
fi
