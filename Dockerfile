# The Laingfile frontend image: the frontend as a static binary on scratch, which BuildKit runs
# for a Laingfile named by a `# syntax=` line or the BUILDKIT_SYNTAX build arg. Build it with
#
#   docker buildx bake frontend     # this checkout, linux/amd64 and linux/arm64
#   docker buildx bake release      # what hack/release.sh pushes: the release tags, provenance, SBOM
#
# (docker-bake.hcl, which also builds the examples with it).
#
# The build stage needs the golang image and the Go module proxy. Without them, hack/release.sh
# compiles the binaries with the local Go (hack/frontendimage -binaries) and replaces the build
# stage with them (--build-context build=DIR, DIR/out/OS-ARCH/bin/laingfile-frontend), so that
# the final stage below, and so the labels and attestations, are the same either way.
# hack/frontendimage also assembles the same image without a builder (hack/frontend-image.sh
# pushes it to the test registry); the two must stay in step: the binary at
# /bin/laingfile-frontend, built with the same -ldflags, the same entrypoint and the same labels.

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
        -o /out/$TARGETOS-$TARGETARCH$TARGETVARIANT/bin/laingfile-frontend ./cmd/laingfile-frontend

FROM scratch
ARG TARGETOS TARGETARCH TARGETVARIANT
ARG VERSION=dev
COPY --from=build /out/$TARGETOS-$TARGETARCH$TARGETVARIANT/bin/laingfile-frontend /bin/laingfile-frontend
# The gateway capabilities the frontend uses, and that it needs no network of its own (only its
# Nix build step does, and that step asks for it).
LABEL moby.buildkit.frontend.caps="moby.buildkit.frontend.inputs,moby.buildkit.frontend.subrequests,moby.buildkit.frontend.contexts" \
      moby.buildkit.frontend.network.none="true" \
      org.opencontainers.image.title="Laingfile frontend" \
      org.opencontainers.image.source="https://github.com/laingville/laingfile" \
      org.opencontainers.image.version="$VERSION"
ENTRYPOINT ["/bin/laingfile-frontend"]
