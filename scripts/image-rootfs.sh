#!/usr/bin/env bash
# Lays out the image's files in DIR, the root file system the final stage of both Dockerfiles
# copies from (the stage named rootfs):
#
#   DIR/remoteassist                          the static binary (scripts/build-static.sh)
#   DIR/etc/ssl/certs/ca-certificates.crt     CA certificates, for a JWKS URL over https
#   DIR/data/                                 the volume: signing key and embedded store
#
# The Dockerfile's build stage runs it with the builder image's certificates; scripts/image.sh
# runs it with the host's. VERSION and REVISION are passed on to build-static.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

dir=${1:?usage: bash scripts/image-rootfs.sh DIR}
certs=/etc/ssl/certs/ca-certificates.crt
if [ ! -s "$certs" ]; then
	echo "image-rootfs.sh: $certs is missing (Debian: apt-get install ca-certificates)" >&2
	exit 1
fi
mkdir -p "$dir/etc/ssl/certs" "$dir/data"
cp "$certs" "$dir/etc/ssl/certs/ca-certificates.crt"
chmod 0644 "$dir/etc/ssl/certs/ca-certificates.crt"
bash scripts/build-static.sh "$dir/remoteassist"
