#!/usr/bin/env bash
# Installs the tools the test environment needs: Debian packages, plus buildkitd,
# buildctl, docker-buildx, registry, actionlint (which checks the examples'
# GitHub workflows), syft (which the SBOM tests scan images with) and Docker Engine's dockerd and docker-proxy (for buildx's
# `docker` driver) built from their Go module source at the versions in
# hack/versions.env, and the Dev Containers CLI from npm. Binaries are cached per version under
# $LAINGFILE_CACHE/tools, so a second run only checks and re-links.
set -euo pipefail
# shellcheck source=hack/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need_root
load_versions
: "${ACTIONLINT_VERSION:?hack/versions.env must set ACTIONLINT_VERSION}"
: "${DOCKERD_VERSION:?hack/versions.env must set DOCKERD_VERSION}"
: "${SYFT_VERSION:?hack/versions.env must set SYFT_VERSION}"

# g++-aarch64-linux-gnu cross-compiles the arm64 program the devcontainer tests run as a
# binary from outside Nix.
# containerd (with its runc shim) runs the containers of the dockerd instances hack/env.sh
# starts (each dockerd starts one of its own); iproute2 makes their bridges.
APT_PACKAGES=(runc nix-bin busybox-static qemu-user-static patchelf g++-aarch64-linux-gnu containerd iproute2 tini)

install_packages() {
	local missing=() p
	for p in "${APT_PACKAGES[@]}"; do
		[[ $(dpkg-query -W -f='${Status}' "$p" 2>/dev/null) == "install ok installed" ]] || missing+=("$p")
	done
	if ((${#missing[@]} == 0)); then
		log "debian packages present: ${APT_PACKAGES[*]}"
		return
	fi
	log "installing debian packages: ${missing[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# The buildkitd we test against must speak exactly the API the frontend is compiled
# against, so the pin in versions.env has to follow go.mod.
check_buildkit_pin() {
	local want
	want=$(awk '$1 == "require" && $2 == "github.com/moby/buildkit" { print $3; exit }
		$1 == "github.com/moby/buildkit" && $2 != "=>" { print $2; exit }' "$REPO_ROOT/go.mod")
	[[ -n $want ]] || die "go.mod does not require github.com/moby/buildkit"
	[[ $want == "$BUILDKIT_VERSION" ]] ||
		die "hack/versions.env has BUILDKIT_VERSION=$BUILDKIT_VERSION but go.mod requires github.com/moby/buildkit $want; make them equal"
	log "buildkit $BUILDKIT_VERSION matches go.mod"
}

# build_tool NAME MODULE VERSION LDFLAGS BIN=PKG... builds each main package PKG of
# MODULE@VERSION into $LAINGFILE_CACHE/tools/NAME-VERSION/BIN. `go install mod@v`
# refuses modules with replace directives (buildkit has them), so build inside a
# writable copy of the module source instead. $BUILD_TAGS, if set, are the build tags.
#
# A module that keeps its requirements in vendor.mod/vendor.sum instead of go.mod
# (github.com/docker/docker) is built from them renamed to go.mod/go.sum. Its vendor/
# cannot be used (-mod=vendor): module zips leave out vendor/ but for modules.txt, so
# the dependencies come from the module proxy like everyone else's.
build_tool() {
	local name=$1 mod=$2 ver=$3 ldflags=$4
	shift 4
	local dest=$LAINGFILE_CACHE/tools/$name-$ver
	local src=$LAINGFILE_CACHE/src/$name-$ver dir spec
	if [[ -f $dest/.complete ]]; then
		log "$name $ver already built ($dest)"
		return
	fi
	log "downloading $mod@$ver"
	dir=$(go mod download -json "$mod@$ver" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')
	[[ -n $dir && -d $dir ]] || die "go mod download $mod@$ver did not give a source directory"
	rm -rf "$src" "$dest.tmp"
	mkdir -p "$src" "$dest.tmp"
	cp -a "$dir/." "$src/"
	chmod -R u+w "$src"
	if [[ ! -f $src/go.mod && -f $src/vendor.mod ]]; then
		log "$mod has vendor.mod instead of go.mod: building with it as go.mod"
		mv "$src/vendor.mod" "$src/go.mod"
		mv "$src/vendor.sum" "$src/go.sum"
		rm -rf "$src/vendor"
	fi
	for spec in "$@"; do
		log "building ${spec%%=*} $ver${BUILD_TAGS:+ (tags: $BUILD_TAGS)}"
		# The first build downloads a few hundred modules; one line each is noise.
		(cd "$src" && GOFLAGS="-mod=mod -buildvcs=false" CGO_ENABLED=0 \
			go build -trimpath -tags "${BUILD_TAGS:-}" -ldflags "-s -w $ldflags" -o "$dest.tmp/${spec%%=*}" "${spec#*=}") \
			2> >(grep -v '^go: downloading ' >&2)
	done
	touch "$dest.tmp/.complete"
	rm -rf "$dest" "$src"
	mv "$dest.tmp" "$dest"
}

link() {
	mkdir -p "$(dirname "$2")"
	[[ $(readlink "$2" 2>/dev/null) == "$1" ]] && return
	log "linking $2 -> $1"
	ln -sfn "$1" "$2"
}

[[ -x /usr/local/go/bin/go ]] && PATH=$PATH:/usr/local/go/bin
command -v go >/dev/null || die "go is required (expected /usr/local/go/bin/go)"

install_packages
check_buildkit_pin

bk=github.com/moby/buildkit
bx=github.com/docker/buildx
dist=github.com/distribution/distribution/v3
al=github.com/rhysd/actionlint
build_tool buildkit "$bk" "$BUILDKIT_VERSION" \
	"-X $bk/version.Version=$BUILDKIT_VERSION -X $bk/version.Package=$bk" \
	buildkitd=./cmd/buildkitd buildctl=./cmd/buildctl
build_tool buildx "$bx" "$BUILDX_VERSION" \
	"-X $bx/version.Version=$BUILDX_VERSION -X $bx/version.Package=$bx" \
	docker-buildx=./cmd/buildx
build_tool registry "$dist" "$REGISTRY_VERSION" \
	"-X $dist/version.version=$REGISTRY_VERSION -X $dist/version.mainpkg=$dist" \
	registry=./cmd/registry
build_tool actionlint "$al" "$ACTIONLINT_VERSION" \
	"-X $al.version=$ACTIONLINT_VERSION" \
	actionlint=./cmd/actionlint
sy=github.com/anchore/syft
build_tool syft "$sy" "$SYFT_VERSION" \
	"-X main.version=$SYFT_VERSION" \
	syft=./cmd/syft
# dockerd as Docker's static builds have it, without cgo: no btrfs or devicemapper graph
# drivers (overlay2 and the containerd snapshotters remain) and no disk quota. The version
# string is what `docker version` and buildx see as the engine's.
dk=github.com/docker/docker
dockerd_version=${DOCKERD_VERSION#v}
dockerd_version=${dockerd_version%+incompatible}
BUILD_TAGS="exclude_graphdriver_btrfs exclude_graphdriver_devicemapper exclude_disk_quota" \
	build_tool dockerd "$dk" "$DOCKERD_VERSION" \
	"-X $dk/dockerversion.Version=$dockerd_version -X $dk/dockerversion.GitCommit=$DOCKERD_VERSION" \
	dockerd=./cmd/dockerd docker-proxy=./cmd/docker-proxy

# install_npm NAME PACKAGE VERSION installs an npm package at a pinned version under
# $LAINGFILE_CACHE/tools/NAME-VERSION, once.
install_npm() {
	local name=$1 pkg=$2 ver=$3 dest=$LAINGFILE_CACHE/tools/$1-$3
	if [[ -f $dest/.complete ]]; then
		log "$name $ver already installed ($dest)"
		return
	fi
	command -v npm >/dev/null || die "npm is required for $pkg (Node.js comes with this machine)"
	log "installing $pkg@$ver with npm"
	rm -rf "$dest.tmp"
	npm install --prefix "$dest.tmp" --no-audit --no-fund --loglevel=error "$pkg@$ver"
	touch "$dest.tmp/.complete"
	rm -rf "$dest"
	mv "$dest.tmp" "$dest"
}
install_npm devcontainers-cli @devcontainers/cli "$DEVCONTAINERS_CLI_VERSION"

tools=$LAINGFILE_CACHE/tools
link "$tools/devcontainers-cli-$DEVCONTAINERS_CLI_VERSION/node_modules/.bin/devcontainer" /usr/local/bin/devcontainer
link "$tools/buildkit-$BUILDKIT_VERSION/buildkitd" /usr/local/bin/buildkitd
link "$tools/buildkit-$BUILDKIT_VERSION/buildctl" /usr/local/bin/buildctl
link "$tools/registry-$REGISTRY_VERSION/registry" /usr/local/bin/registry
link "$tools/actionlint-$ACTIONLINT_VERSION/actionlint" /usr/local/bin/actionlint
link "$tools/syft-$SYFT_VERSION/syft" /usr/local/bin/syft
link "$tools/buildx-$BUILDX_VERSION/docker-buildx" "${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins/docker-buildx"
link "$tools/dockerd-$DOCKERD_VERSION/dockerd" /usr/local/bin/dockerd
link "$tools/dockerd-$DOCKERD_VERSION/docker-proxy" /usr/local/bin/docker-proxy
# dockerd runs `docker run --init` (and buildx's docker-container builders) with docker-init,
# which Docker's packages ship as a static tini.
link /usr/bin/tini-static /usr/local/bin/docker-init
log "tools ready: buildkitd $BUILDKIT_VERSION, buildx $BUILDX_VERSION, registry $REGISTRY_VERSION, actionlint $ACTIONLINT_VERSION, syft $SYFT_VERSION, dockerd $dockerd_version, devcontainer $DEVCONTAINERS_CLI_VERSION"
