#!/usr/bin/env bash
# Lints the OpenAPI contract with both linters and fails unless both report zero problems:
#   Spectral 6 (ruleset .spectral.yaml = spectral:oas), failing on every severity (--fail-severity=hint);
#   Spectral 6 again on the served documents only (openapi/documented.yaml, openapi/graph.yaml: what
#     clients get; openapi/admin.bundle.yaml: what the admin listener serves), with
#     .spectral-owasp.yaml (the OWASP API Security ruleset), likewise on every severity;
#   Redocly CLI 2 (redocly.yaml = recommended), failing on errors and warnings (scripts/lint-redocly.mjs).
# Runs `npm ci` first when node_modules is missing or older than package-lock.json.
#
#   scripts/lint-spec.sh [SPEC...]     (default: the written contract and every served profile's document)
set -euo pipefail

cd "$(dirname "$0")/.."
# shellcheck source=scripts/lint-npm-env.sh
. scripts/lint-npm-env.sh
npm_ensure_installed

specs=("$@")
if [ ${#specs[@]} -eq 0 ]; then
	specs=(openapi/openapi.yaml openapi/documented.yaml openapi/graph.yaml openapi/admin.yaml openapi/admin.bundle.yaml)
fi

status=0
echo "== spectral $(node_modules/.bin/spectral --version) (.spectral.yaml)"
if node_modules/.bin/spectral lint "${specs[@]}" --ruleset .spectral.yaml --fail-severity=hint --format=stylish; then
	echo "spectral: 0 problems"
else
	status=1
fi

# The OWASP ruleset judges what is served: the written contracts lack what go generate derives
# (openapi.yaml the $select list's pattern; admin.yaml the API's schemas it borrows, which
# admin.bundle.yaml, the admin listener's document, holds), so they are left out. The admin
# document's exceptions (no TLS, no CORS on its listener) are in .spectral-owasp.yaml.
owasp=()
for spec in "${specs[@]}"; do
	case "$spec" in
	openapi/openapi.yaml | openapi/admin.yaml) ;;
	*) owasp+=("$spec") ;;
	esac
done
if [ ${#owasp[@]} -gt 0 ]; then
	echo "== spectral OWASP (.spectral-owasp.yaml): ${owasp[*]}"
	if node_modules/.bin/spectral lint "${owasp[@]}" --ruleset .spectral-owasp.yaml --fail-severity=hint --format=stylish; then
		echo "spectral OWASP: 0 problems"
	else
		status=1
	fi
fi

echo "== redocly (redocly.yaml)"
node scripts/lint-redocly.mjs "${specs[@]}" || status=1

if [ "$status" -ne 0 ]; then
	echo "lint-spec: FAILED" >&2
fi
exit "$status"
