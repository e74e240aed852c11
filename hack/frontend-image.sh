#!/usr/bin/env bash
# Builds the frontend image from this checkout (linux/amd64 + linux/arm64) with the local Go
# and pushes it to the local registry as 127.0.0.1:5000/laingfile/frontend:dev. No golang
# base image and no network are needed.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ref=${1:-$LAINGFILE_REGISTRY/laingfile/frontend:dev}
log "building the frontend image $ref"
cd "$REPO_ROOT"
go run ./hack/frontendimage -repo "$REPO_ROOT" -push "$ref" \
	-version "$(git describe --always --dirty 2>/dev/null || echo dev)"
