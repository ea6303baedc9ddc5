# The remoteassist image, built from source: docker build -t remoteassist:dev .
#
#   docker build -t remoteassist:dev \
#     --build-arg VERSION="$(git describe --tags --always --dirty)" \
#     --build-arg REVISION="$(git rev-parse HEAD)" .
#
# The build stage runs scripts/image-rootfs.sh, which builds the binary with
# scripts/build-static.sh; `make image` runs the same scripts on the host and builds
# Dockerfile.prebuilt. Everything from the last FROM on is the same text in both files (a test,
# e2e/dockerfile_test.go, checks it), so both produce the same image from the same binary.
ARG GO_IMAGE=golang:1.26.8-bookworm

FROM ${GO_IMAGE} AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=""
ARG REVISION=""
RUN VERSION="$VERSION" REVISION="$REVISION" bash scripts/image-rootfs.sh /rootfs

FROM scratch AS rootfs
COPY --from=build /rootfs/ /

# ---- final stage: keep identical to Dockerfile.prebuilt from here on ----
FROM scratch
ARG VERSION=""
ARG REVISION=""
LABEL org.opencontainers.image.title="remoteassist" \
      org.opencontainers.image.description="Microsoft Graph's Intune remoteAssistanceSettings endpoint: emulator and multi-tenant service" \
      org.opencontainers.image.source="https://github.com/remoteassist/remoteassist" \
      org.opencontainers.image.url="https://github.com/remoteassist/remoteassist" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"
COPY --from=rootfs /remoteassist /remoteassist
COPY --from=rootfs /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=rootfs --chown=65532:65532 /data /data
# No /etc/passwd: the user is numeric, and never root.
USER 65532:65532
ENV REMOTEASSIST_ADDR=0.0.0.0:8080 \
    REMOTEASSIST_DATA=/data
VOLUME ["/data"]
EXPOSE 8080
# Readiness: 200 while the store is reachable. A scratch image has no curl; the binary asks.
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 CMD ["/remoteassist", "healthcheck"]
# serve drains in-flight requests for up to --shutdown-grace (8 s by default) on SIGTERM:
# docker stop's default 10 s covers it; give a longer grace a few seconds more.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/remoteassist"]
CMD ["serve"]
