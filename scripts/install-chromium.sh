#!/usr/bin/env bash
# Installs Debian's Chromium (used by docs/browser_test.go) when it is absent.
# Idempotent: does nothing when /usr/bin/chromium already exists.
# Takes about 2 minutes and ~500 MB on a fresh machine. Needs root (apt-get).
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
	echo "chromium already installed: $(/usr/bin/chromium --version 2>/dev/null || echo /usr/bin/chromium)"
	exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
	SUDO="sudo"
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
$SUDO apt-get install -y --no-install-recommends chromium fonts-liberation
/usr/bin/chromium --version
