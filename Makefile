# The commands a newcomer needs. `make test` is exactly what CI runs (.ci/run).
.PHONY: run install test generate lint docs bench load fuzz

# Where go install puts remoteassist: $GOBIN if set, else $(go env GOPATH)/bin. The README's
# commands run it by name, so that directory must be on PATH.
BINDIR = $(or $(shell go env GOBIN),$(shell go env GOPATH)/bin)

# Builds and installs remoteassist, then serves on the embedded store; ARGS are serve's flags,
# e.g. make run ARGS='--store memory'.
run: install
	$(BINDIR)/remoteassist serve $(ARGS)

install:
	@echo "building remoteassist: about 90 s the first time (every dependency compiles), seconds after..."
	go install ./cmd/remoteassist
	@echo "installed $(BINDIR)/remoteassist"
	@case ":$$PATH:" in *":$(BINDIR):"*) ;; *) echo "note: $(BINDIR) is not on PATH; add it: export PATH=\"$(BINDIR):\$$PATH\"" ;; esac

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
