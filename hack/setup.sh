#!/usr/bin/env bash
# Installs and starts everything the demo and the tests need, doing nothing that is already
# done: the tools, the environment, the test Nix builder image, this checkout's frontend
# image and the BuildKit image of the docker-container builders.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cd "$REPO_ROOT"
hack/tools.sh
hack/env.sh up
hack/nix-builder.sh
hack/binary-cache.sh
hack/frontend-image.sh
hack/buildkit-image.sh
