# Builds this project's images for linux/amd64 and linux/arm64 with the Laingfile frontend:
#
#   docker buildx bake                  # both targets
#   docker buildx bake runtime --push   # one target, pushed as ${REGISTRY}/runtime:${TAG}
#
# The Laingfile's `# syntax=` line selects the frontend. The last three variables replace the
# frontend, the Nix builder image and nixpkgs, for testing those; empty keeps the defaults.

variable "REGISTRY" {
  default = "ghcr.io/acme/rust-example"
}

variable "TAG" {
  default = "latest"
}

# A build context holding the frontend image, e.g. docker-image://registry.example/laingfile:dev.
variable "LAINGFILE_FRONTEND" {
  default = ""
}

# A build context holding the Nix builder image, e.g. docker-image://registry.example/nix-builder:dev.
variable "NIX_BUILDER" {
  default = ""
}

# A build context holding a nixpkgs source tree: a directory, a git URL or a tarball URL.
variable "NIXPKGS" {
  default = ""
}

group "default" {
  targets = ["devcontainer", "runtime"]
}

target "_laingfile" {
  dockerfile = "Laingfile"
  platforms  = ["linux/amd64", "linux/arm64"]
  args       = LAINGFILE_FRONTEND == "" ? {} : { BUILDKIT_SYNTAX = "laingfile" }
  contexts = merge(
    LAINGFILE_FRONTEND == "" ? {} : { laingfile = LAINGFILE_FRONTEND },
    NIX_BUILDER == "" ? {} : { nix-builder = NIX_BUILDER },
    NIXPKGS == "" ? {} : { nixpkgs = NIXPKGS },
  )
}

target "devcontainer" {
  inherits = ["_laingfile"]
  target   = "devcontainer"
  tags     = ["${REGISTRY}/devcontainer:${TAG}"]
}

target "runtime" {
  inherits = ["_laingfile"]
  target   = "runtime"
  tags     = ["${REGISTRY}/runtime:${TAG}"]
}
