# The commands a newcomer needs. `make test` is exactly what CI runs (.ci/run).
.PHONY: run test generate lint docs bench load fuzz

run:
	go run ./cmd/remoteassist serve

test:
	bash scripts/test.sh

generate:
	go generate ./...

lint:
	bash scripts/lint-spec.sh

docs:
	bash scripts/docs-build.sh dist

bench:
	bash bench/run.sh

load:
	bash bench/run.sh load

# Ten times CI's execution budget for every fuzz target (about 2 minutes a target).
fuzz:
	bash scripts/fuzz.sh 10
