#!/usr/bin/env bash
# Runs every test: the unit tests and the end-to-end tests against a real buildkitd, buildx,
# registry and Nix. It installs and starts what is missing first (all idempotent), so it works
# on a fresh machine; the environment stays up afterwards (hack/env.sh down stops it).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cd "$REPO_ROOT"
hack/setup.sh
log "go test ./..."
# One package at a time: the end-to-end packages share one buildkitd on two cores.
go test -count=1 -p 1 -timeout 60m "$@" ./...
