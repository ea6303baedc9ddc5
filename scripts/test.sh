#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run → make test → this script). It installs what the
# tests need (Chromium, PostgreSQL binaries, the npm linters) when missing, then checks, in order:
# generated code in sync with the spec, gofmt, go vet, spec lint, all Go tests, brief fuzzing.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n=== %s\n' "$*"; }

step "dependencies"
bash scripts/install-chromium.sh
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
	echo "installing PostgreSQL server binaries"
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi
go mod download

step "generated code matches openapi/openapi.yaml"
before=$(mktemp -d)
cp -r gen "$before/gen"
go generate ./...
if ! diff -r "$before/gen" gen; then
	echo "gen/ is out of date with the spec: run 'go generate ./...' and commit the result" >&2
	exit 1
fi
rm -rf "$before"

step "gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './node_modules/*'))
if [ -n "$unformatted" ]; then
	echo "not gofmt-clean:" >&2; echo "$unformatted" >&2; exit 1
fi

step "go vet"
go vet ./...

step "spec lint (Spectral, Redocly)"
bash scripts/lint-spec.sh

step "go test"
go test -count=1 -timeout 20m ./...

if [ -f scripts/fuzz.sh ]; then
	step "fuzz (brief)"
	bash scripts/fuzz.sh 10s
fi
