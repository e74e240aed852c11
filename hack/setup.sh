#!/usr/bin/env bash
# Installs and starts everything the demo and the tests need, doing nothing that is already
# done: the tools, the environment, the test Nix builder image and this checkout's frontend
# image.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cd "$REPO_ROOT"
hack/tools.sh
hack/env.sh up
hack/nix-builder.sh
hack/frontend-image.sh
