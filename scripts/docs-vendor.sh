#!/usr/bin/env bash
# Refreshes the Redoc bundle vendored into the Go package docs from node_modules.
#
#   scripts/docs-vendor.sh
#
# The version is the exact "redoc" pin of package.json (installed by `npm ci` from
# package-lock.json, whose integrity hashes npm checks). The script compresses
#   node_modules/redoc/bundles/redoc.standalone.js          -> docs/assets/redoc.standalone.js.gz
# (gzip -9 -n: the package embeds and serves it compressed, a third of the bundle's size), copies
#   node_modules/redoc/bundles/redoc.standalone.js.LICENSE.txt and node_modules/redoc/LICENSE
# and records the version in docs/assets/VERSION and the uncompressed bundle's sha256 in
# docs/assets/redoc.standalone.js.sha256 (sha256sum format). docs/docs_test.go checks all of them
# against each other and against package.json / package-lock.json (and, with node_modules
# installed, the decompressed copy against the npm package's bytes).
#
# To move to another Redoc 2.x release: change the pin in package.json, `npm install`, run this
# script, run `go test ./docs/`, and commit package.json, package-lock.json and docs/assets/.
set -euo pipefail

cd "$(dirname "$0")/.."
root=$(pwd)

# shellcheck source=scripts/lint-npm-env.sh
. "$root/scripts/lint-npm-env.sh"
npm_ensure_installed

want=$(node -p 'require("./package.json").devDependencies.redoc')
have=$(node -p 'require("./node_modules/redoc/package.json").version')
if [ "$want" != "$have" ]; then
	echo "docs-vendor: package.json pins redoc $want but node_modules has $have" >&2
	exit 1
fi
case "$want" in
	*[!0-9.]*) echo "docs-vendor: redoc must be pinned to an exact version, got '$want'" >&2; exit 1 ;;
esac

src=node_modules/redoc/bundles
dst=docs/assets
mkdir -p "$dst"
rm -f "$dst/redoc.standalone.js" # vendored uncompressed before
gzip -9 -n -c "$src/redoc.standalone.js" > "$dst/redoc.standalone.js.gz"
cp "$src/redoc.standalone.js.LICENSE.txt" "$dst/redoc.standalone.js.LICENSE.txt"
cp node_modules/redoc/LICENSE "$dst/redoc.LICENSE"
printf '%s\n' "$want" > "$dst/VERSION"
(cd "$src" && sha256sum redoc.standalone.js) > "$dst/redoc.standalone.js.sha256"

echo "docs-vendor: redoc $want vendored into $dst ($(wc -c < "$src/redoc.standalone.js") bytes, $(wc -c < "$dst/redoc.standalone.js.gz") compressed)"
cat "$dst/redoc.standalone.js.sha256"
