# The commands a newcomer needs. `make test` is exactly what CI runs (.ci/run).
.PHONY: run install test generate lint docs bench load fuzz build image docker-start docker-stop

# Where go install puts remoteassist: $GOBIN if set, else $(go env GOPATH)/bin. The README's
# commands run it by name, so that directory must be on PATH.
BINDIR = $(or $(shell go env GOBIN),$(shell go env GOPATH)/bin)

# Builds and installs remoteassist, then serves on the embedded store; ARGS are serve's flags,
# e.g. make run ARGS='--store memory'.
run: install
	$(BINDIR)/remoteassist serve $(ARGS)

# The binary scripts/build-static.sh makes (version and commit stamped), installed in BINDIR.
install:
	@echo "building remoteassist: about 90 s the first time (every dependency compiles), seconds after..."
	bash scripts/build-static.sh --install
	@case ":$$PATH:" in *":$(BINDIR):"*) ;; *) echo "note: $(BINDIR) is not on PATH; add it: export PATH=\"$(BINDIR):\$$PATH\"" ;; esac

# The static binary every artefact ships, version and commit stamped (scripts/build-static.sh).
build:
	bash scripts/build-static.sh bin/remoteassist

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

# Ten times CI's execution budget for every fuzz target (about 2 minutes a target).
fuzz:
	bash scripts/fuzz.sh 10
