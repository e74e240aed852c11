#!/usr/bin/env bash
# The demo: builds the python example's devcontainer and runtime images for linux/amd64 and
# linux/arm64 with `docker buildx build`, offline, exactly as a user would (the frontend image
# is selected with BUILDKIT_SYNTAX), pushes them to the local registry, shows their layers
# and what they share, then runs them in Docker Engine: the runtime with `docker run`, the
# devcontainer through the Dev Containers CLI, as VS Code opens it.
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

# Docker Engine (the containerd-store one hack/env.sh starts) pulls what was pushed.
engine=laingfile-containerd
runtime=${images[1]} devcontainer=${images[0]}
log "docker run $runtime"
docker --context "$engine" pull -q "$runtime" >/dev/null
docker --context "$engine" run --rm --network none "$runtime"

ws=$(mktemp -d)
trap 'rm -rf "$ws"' EXIT
cp -a "$example/." "$ws/"
sed -i "s|\"image\": *\"[^\"]*\"|\"image\": \"$devcontainer\"|" "$ws/.devcontainer/devcontainer.json"
log "devcontainer up --workspace-folder $ws (its devcontainer.json names $devcontainer)"
docker --context "$engine" pull -q "$devcontainer" >/dev/null
up=$(DOCKER_CONTEXT=$engine devcontainer up --workspace-folder "$ws" --log-level info 2>/dev/null)
container=$(sed -n 's/.*"containerId":"\([^"]*\)".*/\1/p' <<<"$up")
[[ -n $container ]] || die "devcontainer up failed: $up"
log "devcontainer exec --workspace-folder $ws bash -lc '...'"
# shellcheck disable=SC2016 # expanded in the devcontainer
DOCKER_CONTEXT=$engine devcontainer exec --workspace-folder "$ws" \
	bash -lc 'echo "$(id -un) in $PWD"; python3 --version; nix-build --version; sudo -n true && echo "sudo works"'
docker --context "$engine" rm -f "$container" >/dev/null
log "demo done"
