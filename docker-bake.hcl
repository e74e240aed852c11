# Builds the Laingfile frontend image from this checkout, and the examples with that image, in
# one run:
#
#   docker buildx bake frontend                    # the frontend image (Dockerfile)
#   docker buildx bake examples                    # every example target, with this checkout's frontend
#   docker buildx bake example-python-runtime      # one of them
#   docker buildx bake frontend --push --set frontend.tags=registry.example/laingfile:dev
#
# The examples select the frontend with BUILDKIT_SYNTAX=laingfile, a build context that is the
# `frontend` target by default. The variables replace the frontend, the Nix builder image and
# nixpkgs (hack/ and the tests point them at the local test registry and the fixture
# universe); empty NIX_BUILDER and NIXPKGS keep the frontend's pinned defaults.

variable "FRONTEND_IMAGE" {
  default = "ghcr.io/laingville/laingfile"
}

variable "VERSION" {
  default = "dev"
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
  tags = ["${FRONTEND_IMAGE}:${VERSION}"]
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
  tags = ["${EXAMPLES_REGISTRY}/${lang}-${tgt}:${VERSION}"]
}
