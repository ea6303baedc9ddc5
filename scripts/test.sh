#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run → make test → this script). It installs what the
# tests need (Chromium, PostgreSQL binaries, Node.js and npm for the linters) when missing, then
# checks, in order: generated code in sync with the spec, gofmt, go vet, spec lint, all Go tests,
# the concurrent packages' tests again under the race detector, brief fuzzing of every fuzz target.
set -euo pipefail
cd "$(dirname "$0")/.."

# Each step's header says how long the run has taken so far, so that a slow step shows.
step() { printf '\n=== %s (at %d s)\n' "$*" "$SECONDS"; }

step "dependencies"
bash scripts/install-chromium.sh
bash scripts/install-deps.sh
go mod download

step "generated code matches openapi/openapi.yaml"
# gen/, openapi/openapi.json and openapi/contract_gen.go are generated from openapi/openapi.yaml.
before=$(mktemp -d)
cp -r gen openapi "$before/"
go generate ./...
if ! diff -r "$before/gen" gen || ! diff -r "$before/openapi" openapi; then
	echo "generated code is out of date with openapi/openapi.yaml: run 'go generate ./...' and commit the result" >&2
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

# The client's retries, the stores' batching and the CLI's log buffer share state between
# goroutines. About 10 s on 2 cores with a warm build cache, 2 min with a cold one.
step "go test -race (server, auth, client, stores, test server, CLI)"
go test -race -count=1 ./server/ ./jwtauth/ ./client/ ./bolt/ ./postgres/ ./storetest/ ./memory/ ./remoteassisttest/ ./cmd/...

# Every fuzz target of every package, each for a fixed number of executions (never a duration:
# golang/go#75804); about 1 minute on 2 idle cores.
step "fuzz (brief, count budgets)"
bash scripts/fuzz.sh

echo
echo "make test: everything passed in $SECONDS s"
