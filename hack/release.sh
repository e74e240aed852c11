#!/usr/bin/env bash
# Builds and pushes a release of the frontend image: `docker buildx bake release` (root
# docker-bake.hcl) for linux/amd64 and linux/arm64, tagged X, X.Y, X.Y.Z and latest, with
# BuildKit's SLSA provenance and SPDX SBOM attestations. The release workflow
# (.github/workflows/release.yml) runs it, so that a release and its test take the same steps.
#
#   hack/release.sh [--online] [--examples] VERSION      # VERSION: v1.4.0 (or 1.4.0)
#   hack/release.sh --notes VERSION                      # print its CHANGELOG.md section
#
# RELEASE_IMAGE is the image (default 127.0.0.1:5000/laingfile/frontend, the test registry);
# EXAMPLES_REGISTRY where --examples pushes the examples' images (default
# 127.0.0.1:5000/laingfile/examples). Offline (the default) the binaries come from the local Go,
# replacing the Dockerfile's build stage, and the SBOM from hack/frontendimage/sbomscanner (the
# syft that hack/tools.sh builds, as BuildKit's default generator wraps syft), as the golang
# image and BuildKit's default SBOM generator cannot be pulled; the final stage,
# tags, labels and attestations are the same. --online builds everything in the Dockerfile and
# uses BuildKit's default generator. --examples also builds every example with the released
# frontend and pushes it with an SBOM (what the daily scan reads); offline it needs the bake
# file's NIX_BUILDER and NIXPKGS. Run it again to push the same release again.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage="usage: hack/release.sh [--online] [--examples] VERSION, or --notes VERSION (e.g. v1.4.0)"
online=false examples=false notes=false version=""
while (($#)); do
	case $1 in
	--online) online=true ;;
	--examples) examples=true ;;
	--notes) notes=true ;;
	-h | --help)
		echo "$usage"
		exit 0
		;;
	-*) die "unknown option $1; $usage" ;;
	*)
		[[ -z $version ]] || die "one VERSION only; $usage"
		version=$1
		;;
	esac
	shift
done
[[ -n $version ]] || die "$usage"
# Semantic versions, with the v of the git tag; a pre-release (v1.5.0-rc.1) is tagged only as
# itself (docker-bake.hcl's release_tags).
[[ $version =~ ^v?[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$ ]] ||
	die "VERSION $version is not a release version: expected vMAJOR.MINOR.PATCH, e.g. v1.4.0"
version=v${version#v}

# release_notes prints the CHANGELOG.md section of $version (Keep a Changelog: "## [1.4.0] - date"
# up to the next "## [" or the link definitions at the end), without its heading: what the
# GitHub release says.
release_notes() {
	local section
	section=$(awk -v heading="## [${version#v}]" '
		/^## \[/ { if (found) exit; found = index($0, heading) == 1; next }
		/^\[[^]]*\]: / { if (found) exit }
		found' "$REPO_ROOT/CHANGELOG.md")
	[[ -n ${section//[[:space:]]/} ]] ||
		die "CHANGELOG.md has no section \"## [${version#v}] - YYYY-MM-DD\": move the Unreleased entries there before tagging $version"
	printf '%s\n' "$section"
}
if $notes; then
	release_notes
	exit 0
fi

export VERSION=$version
export FRONTEND_IMAGE=${RELEASE_IMAGE:-$LAINGFILE_REGISTRY/laingfile/frontend}
export EXAMPLES_REGISTRY=${EXAMPLES_REGISTRY:-$LAINGFILE_REGISTRY/laingfile/examples}
cd "$REPO_ROOT"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

bake=(docker buildx bake --push --metadata-file "$work/metadata.json")
if ! $online; then
	# The test environment's builder, unless one is chosen.
	export BUILDX_BUILDER=${BUILDX_BUILDER:-$LAINGFILE_BUILDER}
	log "building the SBOM generator image with the local Go"
	scanner=$(go run ./hack/frontendimage -repo "$REPO_ROOT" -sbom-scanner -version "$version" \
		-platform "linux/$(go env GOARCH)" \
		-push "$LAINGFILE_REGISTRY/laingfile/sbom-scanner:$version" | tee /dev/stderr |
		sed -n 's/^==> sbom scanner image \(sha256:[0-9a-f]*\)$/\1/p')
	[[ -n $scanner ]] || die "hack/frontendimage printed no digest for the SBOM generator image"
	export SBOM_GENERATOR=$LAINGFILE_REGISTRY/laingfile/sbom-scanner:$version@$scanner
	log "building the frontend binaries with the local Go"
	go run ./hack/frontendimage -repo "$REPO_ROOT" -binaries "$work/binaries" -version "$version"
	export FRONTEND_BINARIES=$work/binaries
	bake+=(--allow "fs.read=$work/binaries")
fi

log "docker buildx bake release: $FRONTEND_IMAGE $version (online: $online)"
"${bake[@]}" release
# bake's metadata: {"release": {"containerimage.digest": "sha256:…", "image.name": "TAG,TAG…", …}}
metadata=$(tr -d '\n ' <"$work/metadata.json")
digest=$(sed -n 's/.*"containerimage.digest":"\(sha256:[0-9a-f]*\)".*/\1/p' <<<"$metadata")
[[ -n $digest ]] || die "docker buildx bake wrote no image digest to its metadata file"
log "released $FRONTEND_IMAGE@$digest as"
sed -n 's/.*"image.name":"\([^"]*\)".*/\1/p' <<<"$metadata" | tr ',' '\n' | sed 's/^/    /'
# The workflow signs the index by this digest.
[[ -z ${GITHUB_OUTPUT:-} ]] || echo "digest=$digest" >>"$GITHUB_OUTPUT"

if $examples; then
	log "docker buildx bake examples with $FRONTEND_IMAGE@$digest, pushed to $EXAMPLES_REGISTRY with SBOMs"
	LAINGFILE_FRONTEND=docker-image://$FRONTEND_IMAGE@$digest "${bake[@]}" --sbom=true examples
fi
