#!/usr/bin/env bash
# Checks that the multi-stage Dockerfile builds the image `make image` builds, on a machine
# that cannot pull a Go image: it imports a stand-in for golang:1.26.8 from this machine's Go
# (its GOROOT, bash and a few tools with their libraries, the CA certificates), builds Dockerfile
# with --build-arg GO_IMAGE=that, builds Dockerfile.prebuilt with scripts/image.sh, both with
# the same VERSION and REVISION, and compares the two binaries byte for byte, the image configs
# and the file lists (modes, owners, sizes). Not part of make test: the build stage downloads
# every module of go.mod from the module proxy (--network host) and takes a minute or two.
#
#   bash scripts/check-dockerfile.sh    # needs a daemon (scripts/docker.sh start) and this machine's Go
set -euo pipefail
cd "$(dirname "$0")/.."

DOCKER_HOST=$(bash scripts/docker.sh host)
export DOCKER_HOST
go_version=$(go env GOVERSION)
want=$(sed -n 's/^ARG GO_IMAGE=golang:\([0-9.]*\).*/go\1/p' Dockerfile)
if [ "$go_version" != "$want" ]; then
	echo "check-dockerfile.sh: this machine's Go is $go_version, the Dockerfile's $want: the binaries would differ" >&2
	exit 1
fi

work=$(mktemp -d)
standin=remoteassist-check-go:$$
multi=remoteassist-check-multistage:$$
prebuilt=remoteassist-check-prebuilt:$$
dangling() { docker images -q --filter dangling=true | sort; }
before=$(dangling)
cleanup() {
	docker rmi -f "$standin" "$multi" "$prebuilt" >/dev/null 2>&1 || true
	# The builds' intermediate stage images, left dangling once the tags are gone.
	local leftover
	leftover=$(comm -13 <(echo "$before") <(dangling))
	# shellcheck disable=SC2086
	[ -z "$leftover" ] || docker rmi $leftover >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT

root="$work/root"
mkdir -p "$root/tmp" "$root/root" "$root/etc/ssl/certs" "$root/usr/local"
chmod 1777 "$root/tmp"
for tool in /bin/bash /bin/sh /usr/bin/env /bin/cp /bin/mkdir /bin/chmod /bin/cat /bin/rm /usr/bin/dirname; do
	real=$(readlink -f "$tool")
	mkdir -p "$root$(dirname "$tool")"
	cp "$real" "$root$tool"
	for lib in $(ldd "$real" | grep -o '/[^ ]*'); do
		mkdir -p "$root$(dirname "$lib")"
		cp -n "$(readlink -f "$lib")" "$root$lib"
	done
done
cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/"
cp -a "$(go env GOROOT)" "$root/usr/local/go"
tar -C "$root" -c . | docker import \
	--change 'ENV PATH=/usr/local/go/bin:/usr/bin:/bin' --change 'ENV GOPATH=/go' \
	--change 'ENV HOME=/root' --change 'ENV GOTOOLCHAIN=local' - "$standin" >/dev/null

version=v0.0.0-dockerfile-check
revision=$(git rev-parse HEAD)
echo "building Dockerfile (builder: a stand-in for golang:${want#go})" >&2
DOCKER_BUILDKIT=0 docker build --quiet --force-rm --network host --build-arg GO_IMAGE="$standin" \
	--build-arg VERSION="$version" --build-arg REVISION="$revision" -t "$multi" . >/dev/null
echo "building Dockerfile.prebuilt (scripts/image.sh)" >&2
VERSION=$version REVISION=$revision bash scripts/image.sh "$prebuilt"

status=0
for image in "$multi" "$prebuilt"; do
	name=${image%%:*}
	id=$(docker create --network none "$image")
	docker cp "$id:/remoteassist" "$work/$name.bin" >/dev/null
	docker rm "$id" >/dev/null
	docker image inspect --format '{{json .Config}}' "$image" >"$work/$name.config"
	mkdir "$work/$name.fs"
	docker save "$image" | tar -x -C "$work/$name.fs"
	for layer in "$work/$name.fs"/*/layer.tar; do tar -tvf "$layer"; done | awk '{print $1, $2, $3, $6}' | sort >"$work/$name.files"
done
a=remoteassist-check-multistage b=remoteassist-check-prebuilt
cmp -s "$work/$a.bin" "$work/$b.bin" || { echo "the binaries differ" >&2; status=1; }
diff "$work/$a.config" "$work/$b.config" >&2 || { echo "the image configs differ" >&2; status=1; }
diff "$work/$a.files" "$work/$b.files" >&2 || { echo "the file lists differ" >&2; status=1; }
if [ $status -eq 0 ]; then
	echo "same image: binary sha256 $(sha256sum "$work/$a.bin" | cut -c1-16)…, same config, same files" >&2
fi
exit $status
