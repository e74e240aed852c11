# Builds the Laingfile frontend image from this checkout, and the examples with that image, in
# one run:
#
#   docker buildx bake frontend                    # the frontend image (Dockerfile)
#   docker buildx bake examples                    # every example target, with this checkout's frontend
#   docker buildx bake example-python-runtime      # one of them
#   docker buildx bake frontend --push --set frontend.tags=registry.example/laingfile:dev
#   VERSION=v1.4.0 docker buildx bake release --push   # what hack/release.sh does
#
# The examples select the frontend with BUILDKIT_SYNTAX=laingfile, a build context that is the
# `frontend` target by default. The variables replace the frontend, the Nix builder image and
# nixpkgs (hack/ and the tests point them at the local test registry and the fixture
# universe); empty NIX_BUILDER and NIXPKGS keep the frontend's pinned defaults.

variable "FRONTEND_IMAGE" {
  default = "ghcr.io/laingville/laingfile"
}

# The version stamped into the frontend (its progress line and labels) and its image's tags.
variable "VERSION" {
  default = "dev"
}

# A directory with frontend binaries built outside the Dockerfile, as
# DIR/out/OS-ARCH/bin/laingfile-frontend: it replaces the Dockerfile's build stage, which needs
# the golang image and the Go module proxy. hack/release.sh sets it when it builds offline.
variable "FRONTEND_BINARIES" {
  default = ""
}

# The image that generates the release's SBOM attestation; empty is BuildKit's default
# (docker/buildkit-syft-scanner). hack/release.sh offline sets one from the test registry.
variable "SBOM_GENERATOR" {
  default = ""
}

# release_tags are a release's image tags: v1.4.0 is tagged 1, 1.4, 1.4.0 and latest, so that
# `# syntax=…:1` follows the newest 1.x.y; any other version (dev, v1.5.0-rc.1) only as itself.
function "release_tags" {
  params = [image, version]
  result = can(regex("^v?[0-9]+[.][0-9]+[.][0-9]+$", version)) ? [
    for tag in semver_tags(regex("^v?([0-9]+)[.]([0-9]+)[.]([0-9]+)$", version)) : "${image}:${tag}"
  ] : ["${image}:${trimprefix(version, "v")}"]
}

function "semver_tags" {
  params = [v]
  result = [v[0], "${v[0]}.${v[1]}", "${v[0]}.${v[1]}.${v[2]}", "latest"]
}

# The build context the examples take the frontend from: this checkout's `frontend` target, or
# an image such as docker-image://127.0.0.1:5000/laingfile/frontend:dev.
variable "LAINGFILE_FRONTEND" {
  default = "target:frontend"
}

# A build context holding the Nix builder image, e.g. docker-image://127.0.0.1:5000/laingfile/nix-builder:test.
variable "NIX_BUILDER" {
  default = ""
}

# A build context holding a nixpkgs source tree, e.g. test/fixtures/nixpkgs.
variable "NIXPKGS" {
  default = ""
}

variable "EXAMPLES_REGISTRY" {
  default = "ghcr.io/laingville/laingfile-examples"
}

group "default" {
  targets = ["frontend"]
}

target "frontend" {
  context    = "."
  dockerfile = "Dockerfile"
  platforms  = ["linux/amd64", "linux/arm64"]
  args = {
    VERSION = VERSION
  }
  contexts = FRONTEND_BINARIES == "" ? {} : { build = FRONTEND_BINARIES }
  tags     = ["${FRONTEND_IMAGE}:${VERSION}"]
}

# release: the frontend image as a release publishes it (hack/release.sh, the release workflow):
# the release tags, SLSA provenance of the whole build and an SPDX SBOM, both attached by
# BuildKit to the image index.
target "release" {
  inherits = ["frontend"]
  tags     = release_tags(FRONTEND_IMAGE, VERSION)
  attest = [
    "type=provenance,mode=max",
    SBOM_GENERATOR == "" ? "type=sbom" : "type=sbom,generator=${SBOM_GENERATOR}",
  ]
}

# example-<lang>-<target>: each example's devcontainer and runtime, built with the frontend
# above. `docker buildx bake examples` builds all eight.
target "examples" {
  name = "example-${lang}-${tgt}"
  matrix = {
    lang = ["python", "node", "go", "rust"]
    tgt  = ["devcontainer", "runtime"]
  }
  context    = "examples/${lang}"
  dockerfile = "Laingfile"
  target     = tgt
  platforms  = ["linux/amd64", "linux/arm64"]
  args = {
    BUILDKIT_SYNTAX = "laingfile"
  }
  contexts = merge(
    { laingfile = LAINGFILE_FRONTEND },
    NIX_BUILDER == "" ? {} : { nix-builder = NIX_BUILDER },
    NIXPKGS == "" ? {} : { nixpkgs = NIXPKGS },
  )
  tags = release_tags("${EXAMPLES_REGISTRY}/${lang}-${tgt}", VERSION)
}
