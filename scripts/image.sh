#!/usr/bin/env bash
# Builds the container image from a binary built on the host (make image):
#
#   bash scripts/image.sh [TAG]    # default remoteassist:dev; needs a daemon (scripts/docker.sh)
#
# The context is scripts/image-rootfs.sh's layout in a temporary directory; the Dockerfile is
# Dockerfile.prebuilt, whose final stage is Dockerfile's (the multi-stage build for machines that
# can pull a Go image). The labels' version and revision are the binary's own
# (`remoteassist version`). Prints the image's size at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

tag=${1:-remoteassist:dev}
# The daemon scripts/docker.sh start uses (or started), unless DOCKER_HOST says otherwise.
DOCKER_HOST=$(bash scripts/docker.sh host)
export DOCKER_HOST
if ! docker version >/dev/null 2>&1; then
	echo "image.sh: no Docker daemon answers at $DOCKER_HOST: start one with 'bash scripts/docker.sh start' (make docker-start)" >&2
	exit 1
fi
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT

bash scripts/image-rootfs.sh "$ctx"
version=$("$ctx/remoteassist" version | sed -n 's/^remoteassist //p')
revision=$("$ctx/remoteassist" version | sed -n 's/^commit \([0-9a-f]*\).*/\1/p')

# The legacy builder (Debian's dockerd 20.10 has no BuildKit plugin for the CLI) is enough: the
# Dockerfile uses nothing newer.
# The legacy builder keeps each stage's image; those this build left dangling (and the image
# the tag named before) are removed afterwards.
dangling() { docker images -q --filter dangling=true | sort; }
before=$(dangling)
DOCKER_BUILDKIT=0 docker build --quiet -f Dockerfile.prebuilt \
	--build-arg VERSION="$version" --build-arg REVISION="$revision" \
	-t "$tag" "$ctx" >/dev/null
leftover=$(comm -13 <(echo "$before") <(dangling))
# shellcheck disable=SC2086
[ -z "$leftover" ] || docker rmi $leftover >/dev/null 2>&1 || true
size=$(docker image inspect --format '{{.Size}}' "$tag")
echo "built image $tag: $version, $((size / 1000)) kB ($size bytes)" >&2
