# The Laingfile frontend image: the frontend as a static binary on scratch, which BuildKit runs
# for a Laingfile named by a `# syntax=` line or the BUILDKIT_SYNTAX build arg. Build it with
#
#   docker buildx bake frontend
#
# (docker-bake.hcl: linux/amd64 and linux/arm64, and the examples built with it).
#
# This needs the golang image and the Go module proxy. hack/frontendimage assembles the same
# image offline, with the local Go (hack/frontend-image.sh pushes it to the test registry); the
# two must stay in step: the binary at /bin/laingfile-frontend, built with the same -ldflags,
# the same entrypoint and the same labels.

ARG GO_VERSION=1.26.8

# The compiler runs on the build platform and cross-compiles: no emulation.
FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS build
WORKDIR /src
RUN --mount=type=bind,source=go.mod,target=go.mod \
    --mount=type=bind,source=go.sum,target=go.sum \
    --mount=type=cache,target=/go/pkg/mod \
    go mod download
ARG TARGETOS TARGETARCH TARGETVARIANT
ARG VERSION=dev
RUN --mount=type=bind,target=. \
    --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH GOARM=${TARGETVARIANT#v} \
    go build -trimpath -ldflags "-s -w -X main.version=$VERSION" \
        -o /out/bin/laingfile-frontend ./cmd/laingfile-frontend

FROM scratch
ARG VERSION=dev
COPY --from=build /out/bin/laingfile-frontend /bin/laingfile-frontend
# The gateway capabilities the frontend uses, and that it needs no network of its own (only its
# Nix build step does, and that step asks for it).
LABEL moby.buildkit.frontend.caps="moby.buildkit.frontend.inputs,moby.buildkit.frontend.subrequests,moby.buildkit.frontend.contexts" \
      moby.buildkit.frontend.network.none="true" \
      org.opencontainers.image.title="Laingfile frontend" \
      org.opencontainers.image.version="$VERSION"
ENTRYPOINT ["/bin/laingfile-frontend"]
