#!/usr/bin/env bash
# Builds the static API reference: one self-contained HTML file, OUTDIR/docs.html, with the
# rendered contract, Redoc's script and the contract itself inlined (Redocly CLI 2 build-docs
# --inlineBundle, config redocly.yaml). The page needs no server; open it from disk.
#
# The contract is openapi/documented.yaml, what `remoteassist serve` serves and renders at /docs
# by default: go generate writes into it what the written openapi/openapi.yaml lacks and a reader
# needs (each operation's Permissions list, the names a $select may hold).
#
#   scripts/docs-build.sh [OUTDIR]     (default: tmp/docs)
#
# Then it opens the page in headless Chromium to check that (see the end of this script).
#
# Redocly's page template links its logo from a CDN, and the page would show it; the template used
# here (scripts/docs-template.hbs) adds a Content-Security-Policy that lets the page load nothing
# from anywhere: every script and style is inline, images only data: URLs.
set -euo pipefail

cd "$(dirname "$0")/.."
# shellcheck source=scripts/lint-npm-env.sh
. scripts/lint-npm-env.sh
npm_ensure_installed

out=${1:-tmp/docs}
mkdir -p "$out"

# The template with the guard script inlined where it says <!-- REDOC-GUARD -->.
template=$(mktemp --suffix=.hbs)
trap 'rm -f "$template"' EXIT
awk -v guard=docs/assets/redoc-guard.js '
	/<!-- REDOC-GUARD -->/ {
		print "  <script>"
		while ((getline line < guard) > 0) print line
		print "  </script>"
		next
	}
	{ print }
' scripts/docs-template.hbs > "$template"

# Redocly CLI prints a framed notice about Node.js 20 on stderr; drop the frame.
node_modules/.bin/redocly build-docs openapi/documented.yaml \
	--config redocly.yaml --lint-config error \
	--inlineBundle \
	--template "$template" \
	--output "$out/docs.html" 2> >(grep -v '[║╔╚]' >&2 || true)

# Self-contained: no external script, style sheet, font or image reference in the markup.
if grep -Eo '<(script|link|img|iframe)[^>]+(src|href)="(https?:)?//[^"]*"' "$out/docs.html"; then
	echo "docs-build: $out/docs.html references another origin" >&2
	exit 1
fi
echo "docs-build: wrote $out/docs.html ($(wc -c < "$out/docs.html") bytes)"

# Open it in headless Chromium and fail if it requests anything but itself (docs/browser_test.go,
# TestBrowserStaticBuild). Needs Go and Chromium (scripts/install-chromium.sh); DOCS_BUILD_VERIFY=0
# skips it.
if [ "${DOCS_BUILD_VERIFY:-1}" = 0 ]; then
	echo "docs-build: not checked in a browser (DOCS_BUILD_VERIFY=0)"
elif ! command -v go >/dev/null || [ ! -x "${CHROMIUM:-/usr/bin/chromium}" ]; then
	echo "docs-build: not checked in a browser (no go or no Chromium; see scripts/install-chromium.sh)" >&2
else
	DOCS_STATIC_HTML="$(cd "$out" && pwd)/docs.html" go test ./docs -run '^TestBrowserStaticBuild$' -count=1
	echo "docs-build: checked in Chromium: renders, requests nothing beyond the file"
fi
