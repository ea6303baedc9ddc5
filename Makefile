# The commands a newcomer needs. `make test` is exactly what CI runs (.ci/run).
.PHONY: run test generate lint docs bench load fuzz build install image docker-start docker-stop

run:
	go run ./cmd/remoteassist serve

# The static binary every artefact ships, version and commit stamped (scripts/build-static.sh).
build:
	bash scripts/build-static.sh bin/remoteassist

install:
	bash scripts/build-static.sh --install

# The container image, from the binary above (IMAGE=name:tag to change the tag). Needs a Docker
# daemon: `make docker-start` prints a DOCKER_HOST for one, `make docker-stop` stops it.
IMAGE ?= remoteassist:dev
image:
	bash scripts/image.sh $(IMAGE)

docker-start:
	@bash scripts/docker.sh start

docker-stop:
	bash scripts/docker.sh stop

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

fuzz:
	bash scripts/fuzz.sh 30s
