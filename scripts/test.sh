#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run → make test → this script). It installs what the
# tests need (Chromium, PostgreSQL binaries, Node.js and npm, and the pinned npm packages of the
# linters and docs build, the TypeScript client's tests and the JavaScript SDK tests) when
# missing, then
# checks, in order: generated code in sync with the spec, gofmt, go vet, spec lint, all Go tests
# (the container tests on a Docker daemon and image this script provides), the concurrent
# packages' tests again under the race detector, the testcontainers module, brief fuzzing of
# every fuzz target.
set -euo pipefail
cd "$(dirname "$0")/.."

# Each step's header says how long the run has taken so far, so that a slow step shows.
step() { printf '\n=== %s (at %d s)\n' "$*" "$SECONDS"; }

step "dependencies"
bash scripts/install-chromium.sh
bash scripts/install-deps.sh
go mod download
# Every directory with npm packages that a test or tool runs (scripts/lint-npm-env.sh's npm_dirs),
# each unless installed from its package-lock.json as it is: go test installs none and fails when
# one is missing or stale, so that it reaches no registry.
bash scripts/lint-npm-env.sh install

step "generated code matches openapi/openapi.yaml"
# gen/ and the served documents in openapi/ are generated from openapi/openapi.yaml (and its overlays).
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

step "spec lint (Spectral, Spectral OWASP, Redocly)"
bash scripts/lint-spec.sh

step "Docker and the image (for the container tests)"
# A daemon that already answers is used and left running; otherwise scripts/docker.sh starts a
# private one (installing docker.io if needed), which the trap stops however this script ends.
if ! DOCKER_HOST=$(bash scripts/docker.sh running); then
	trap 'bash scripts/docker.sh stop' EXIT
	DOCKER_HOST=$(bash scripts/docker.sh start)
fi
# Ryuk's image cannot be pulled here, and every test removes its own containers.
export DOCKER_HOST TESTCONTAINERS_RYUK_DISABLED=true REMOTEASSIST_TEST_IMAGE=remoteassist:test
bash scripts/image.sh "$REMOTEASSIST_TEST_IMAGE"

step "go test"
go test -count=1 -timeout 20m ./...

# The client's retries, the stores' batching, the control plane's rules and journal (which every
# API request and the admin API share) and the CLI's log buffer share state between goroutines.
# About 10 s on 2 cores with a warm build cache, 2 min with a cold one.
step "go test -race (server, auth, client, stores, control plane, test server, CLI)"
go test -race -count=1 ./server/ ./jwtauth/ ./client/ ./bolt/ ./postgres/ ./storetest/ ./memory/ ./control/ ./remoteassisttest/ ./cmd/...

# A module of its own (so the main module never depends on Docker's client): go test ./... above
# does not enter it.
step "testcontainers module: go vet, go test against the image"
(cd testcontainers && go vet ./... && go test -count=1 -timeout 10m ./...)

# Every fuzz target of every package, each for a fixed number of executions (never a duration:
# golang/go#75804); about 1 minute on 2 idle cores.
step "fuzz (brief, count budgets)"
bash scripts/fuzz.sh

echo
echo "make test: everything passed in $SECONDS s"
