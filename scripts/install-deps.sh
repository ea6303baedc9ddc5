#!/usr/bin/env bash
# Installs Debian's packages the tests need besides Chromium (scripts/install-chromium.sh), each
# only when it is absent:
#   PostgreSQL server binaries (internal/pgtest runs a throwaway server), unless
#     /usr/lib/postgresql/*/bin/initdb or an initdb on PATH exists;
#   Node.js and npm (the spec linters, scripts/lint-spec.sh; Microsoft's JavaScript SDKs in
#     sdkcompat/js and the TypeScript client in clients/typescript, whose packages
#     `bash scripts/lint-npm-env.sh install` installs), unless npm is on PATH;
#   curl (e2e follows serve --tls's advice to curl users), unless curl is on PATH.
# Idempotent: does nothing when all are there. Needs root (apt-get); uses sudo when not root.
set -euo pipefail

packages=()
if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null; then
	echo "PostgreSQL server binaries already installed"
else
	packages+=(postgresql)
fi
if command -v npm >/dev/null; then
	echo "npm already installed: $(npm --version)"
else
	packages+=(nodejs npm)
fi
if command -v curl >/dev/null; then
	echo "curl already installed"
else
	packages+=(curl)
fi
if [ ${#packages[@]} -eq 0 ]; then
	exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
	SUDO="sudo"
fi

echo "installing ${packages[*]}"
$SUDO apt-get update -qq
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
