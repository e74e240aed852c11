#!/usr/bin/env bash
# The demo: builds the python example's devcontainer and runtime images for linux/amd64 and
# linux/arm64 with `docker buildx build`, offline, exactly as a user would (the frontend image
# is selected with BUILDKIT_SYNTAX), pushes them to the local registry and shows their layers
# and what they share.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cd "$REPO_ROOT"
hack/setup.sh

example=examples/python
images=()
for target in devcontainer runtime; do
	image=$LAINGFILE_REGISTRY/demo/python-$target:latest
	log "docker buildx build -f $example/Laingfile --target $target → $image"
	docker buildx build --builder "$LAINGFILE_BUILDER" \
		-f "$example/Laingfile" --target "$target" \
		--platform linux/amd64,linux/arm64 \
		--build-arg BUILDKIT_SYNTAX="$LAINGFILE_REGISTRY/laingfile/frontend:dev" \
		--build-context nix-builder="docker-image://$LAINGFILE_REGISTRY/laingfile/nix-builder:test" \
		--build-context nixpkgs=test/fixtures/nixpkgs \
		--push -t "$image" "$example"
	images+=("$image")
done

log "layers (linux/amd64)"
go run ./cmd/laing layers "${images[@]}"
