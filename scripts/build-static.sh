#!/usr/bin/env bash
# Builds the static remoteassist binary, the one every artefact ships: `make build`, `make
# install`, `make image` (scripts/image.sh) and the multi-stage Dockerfile all run this script,
# so they all use the same flags:
#
#   bash scripts/build-static.sh [OUT]      # default bin/remoteassist
#   bash scripts/build-static.sh --install  # into $(go env GOBIN), else $(go env GOPATH)/bin
#
# CGO off (no libc needed: it runs on an empty base image), -trimpath (no local paths in the
# binary), stripped (-s -w), and -buildvcs=false: the version and the commit are stamped with -X
# instead, from $VERSION and $REVISION when set, else from git: the tag HEAD is at, else a Go
# pseudo-version (v0.0.0-COMMITTIME-COMMIT), with +dirty when the tree has uncommitted changes.
# Stamping rather than buildvcs works without .git (a Docker build context) and in a git
# worktree, where buildvcs stamps nothing; and two builds of one commit with one Go give
# byte-identical binaries, whichever of these ran them. `remoteassist version` prints both.
set -euo pipefail
cd "$(dirname "$0")/.."

out=${1:-bin/remoteassist}
if [ "$out" = --install ]; then
	gobin=$(go env GOBIN)
	out="${gobin:-$(go env GOPATH)/bin}/remoteassist"
fi

version=${VERSION:-}
revision=${REVISION:-}
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	dirty=""
	if [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then
		dirty="+dirty"
	fi
	if [ -z "$revision" ]; then
		revision=$(git rev-parse HEAD)
	fi
	if [ -z "$version" ]; then
		if tag=$(git describe --tags --exact-match --match 'v[0-9]*' HEAD 2>/dev/null); then
			version="$tag$dirty"
		else
			version="v0.0.0-$(TZ=UTC git log -1 --format=%cd --date=format-local:%Y%m%d%H%M%S HEAD)-$(git rev-parse --short=12 HEAD)$dirty"
		fi
	fi
fi

ldflags="-s -w"
[ -z "$version" ] || ldflags="$ldflags -X main.version=$version"
[ -z "$revision" ] || ldflags="$ldflags -X main.revision=$revision"

CGO_ENABLED=0 go build -buildvcs=false -trimpath -ldflags="$ldflags" -o "$out" ./cmd/remoteassist
echo "built $out ($version, commit ${revision:-unknown})" >&2
