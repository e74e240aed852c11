#!/usr/bin/env bash
# Assembles, offline, a BuildKit image equivalent to moby/buildkit:$BUILDKIT_VERSION for
# linux/amd64 and linux/arm64 and pushes it to the local registry as
# 127.0.0.1:5000/laingfile/buildkit:$BUILDKIT_VERSION, for the tests of buildx's
# `docker-container` driver (what docker/setup-buildx-action creates) and of multi-node
# builders. No Docker Hub: the image is what moby/buildkit's Dockerfile puts in
# /usr/bin (buildkitd, buildctl, and runc as buildkit-runc) with the same environment,
# volume and state directories, assembled by hack/buildkitimage.
#
# - buildkitd and buildctl: for amd64 the binaries hack/tools.sh builds (checked to be
#   static); for arm64 the same module, version and flags, cross-compiled with
#   CGO_ENABLED=0. buildkitd's own image builds them the same way (CGO_ENABLED=0).
# - buildkit-runc: runc at the version buildkit's Dockerfile pins (ARG RUNC_VERSION),
#   built from its Go module like buildkit's Dockerfile does it: cgo, linked statically,
#   tags 'apparmor seccomp netgo cgo static_build osusergo', against Debian's libseccomp.a
#   (libseccomp-dev of each architecture, downloaded with apt-get download, not
#   installed) and glibc's static libc (native gcc, and aarch64-linux-gnu-gcc for arm64).
# - Not included: qemu (binfmt_misc on the host serves emulation), the CNI plugins
#   (buildkitd falls back to host networking without a CNI config, as upstream does) and
#   Alpine's git, ssh, pigz, xz and shell (git sources and `docker exec sh` are not used).
#
#   hack/buildkit-image.sh [REF]    build what is missing and push unless up to date
#
# BUILDKIT_IMAGE_PLATFORMS (default linux/amd64,linux/arm64) picks the platforms;
# BUILDKIT_RUNC_VERSION overrides the runc version read from buildkit's Dockerfile.
# Binaries are cached under $LAINGFILE_CACHE/buildkit-image; a second run only
# re-assembles the image (deterministically) and finds the registry up to date.
set -euo pipefail
# shellcheck source=hack/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need_root
load_versions

[[ -x /usr/local/go/bin/go ]] && PATH=$PATH:/usr/local/go/bin
command -v go >/dev/null || die "go is required (expected /usr/local/go/bin/go)"

IMAGE=${1:-$LAINGFILE_REGISTRY/laingfile/buildkit:$BUILDKIT_VERSION}
PLATFORMS=${BUILDKIT_IMAGE_PLATFORMS:-linux/amd64,linux/arm64}
WORK=$LAINGFILE_CACHE/buildkit-image
TOOLS=$LAINGFILE_CACHE/tools/buildkit-$BUILDKIT_VERSION
BK=github.com/moby/buildkit
RUNC_MOD=github.com/opencontainers/runc
HOST_ARCH=$(go env GOHOSTARCH)

# module_dir MOD@VER prints the module's source directory in the Go module cache,
# downloading it through the module proxy if needed.
module_dir() {
	local dir
	dir=$(go mod download -json "$1" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')
	[[ -n $dir && -d $dir ]] || die "go mod download $1 did not give a source directory"
	echo "$dir"
}

# is_static FILE: an ELF file without a program interpreter (no dynamic loader).
is_static() {
	local headers
	headers=$(readelf -lW "$1" 2>/dev/null) || return 1
	[[ $headers != *"program interpreter"* ]]
}

# elf_arch FILE prints the ELF machine of FILE as a GOARCH (amd64, arm64).
elf_arch() {
	local machine
	machine=$(readelf -hW "$1" | sed -n 's/^[[:space:]]*Machine:[[:space:]]*//p')
	case $machine in
	*X86-64*) echo amd64 ;;
	*AArch64*) echo arm64 ;;
	*) echo "unknown($machine)" ;;
	esac
}

# check_binary FILE ARCH fails unless FILE is a static ELF executable for ARCH.
check_binary() {
	is_static "$1" || die "$1 is not statically linked"
	[[ $(elf_arch "$1") == "$2" ]] || die "$1 is for $(elf_arch "$1"), want $2"
}

# src_copy MOD@VER DEST makes a writable copy of the module source in DEST (buildkit's
# replace directives keep `go install mod@v` from working; see hack/tools.sh).
src_copy() {
	local dir
	dir=$(module_dir "$1")
	rm -rf "$2"
	mkdir -p "$2"
	cp -a "$dir/." "$2/"
	chmod -R u+w "$2"
}

# buildkit_binaries ARCH prints the directory holding static buildkitd and buildctl for
# ARCH: hack/tools.sh's for the host architecture when they are static, otherwise built
# here from the same module with the same flags and CGO_ENABLED=0.
buildkit_binaries() {
	local arch=$1 dest=$WORK/buildkit-$BUILDKIT_VERSION-$1 src b
	if [[ $arch == "$HOST_ARCH" ]]; then
		[[ -f $TOOLS/.complete ]] || die "$TOOLS has no buildkitd and buildctl; run hack/tools.sh"
		if is_static "$TOOLS/buildkitd" && is_static "$TOOLS/buildctl"; then
			log "buildkit $BUILDKIT_VERSION $arch: hack/tools.sh's static buildkitd and buildctl ($TOOLS)" >&2
			echo "$TOOLS"
			return
		fi
		log "hack/tools.sh's buildkitd or buildctl is not static; building static ones" >&2
	fi
	if [[ -f $dest/.complete ]]; then
		log "buildkit $BUILDKIT_VERSION $arch already built ($dest)" >&2
		echo "$dest"
		return
	fi
	src=$WORK/src/buildkit-$BUILDKIT_VERSION
	log "cross-compiling buildkitd and buildctl $BUILDKIT_VERSION for linux/$arch (CGO_ENABLED=0)" >&2
	src_copy "$BK@$BUILDKIT_VERSION" "$src"
	rm -rf "$dest.tmp"
	mkdir -p "$dest.tmp"
	for b in buildkitd buildctl; do
		# The flags of hack/tools.sh's build_tool.
		(cd "$src" && GOFLAGS="-mod=mod -buildvcs=false" CGO_ENABLED=0 GOOS=linux GOARCH=$arch \
			go build -trimpath -ldflags "-s -w -X $BK/version.Version=$BUILDKIT_VERSION -X $BK/version.Package=$BK" \
			-o "$dest.tmp/$b" "./cmd/$b") 2> >(grep -v '^go: downloading ' >&2)
		check_binary "$dest.tmp/$b" "$arch"
	done
	touch "$dest.tmp/.complete"
	rm -rf "$dest" "$src"
	mv "$dest.tmp" "$dest"
	echo "$dest"
}

# runc_version prints the runc version buildkit's Dockerfile builds its image with.
runc_version() {
	if [[ -n ${BUILDKIT_RUNC_VERSION:-} ]]; then
		echo "$BUILDKIT_RUNC_VERSION"
		return
	fi
	local v
	v=$(sed -n 's/^ARG RUNC_VERSION=\(v[0-9][^[:space:]]*\)$/\1/p' "$(module_dir "$BK@$BUILDKIT_VERSION")/Dockerfile")
	[[ -n $v ]] || die "the Dockerfile of $BK@$BUILDKIT_VERSION has no ARG RUNC_VERSION; set BUILDKIT_RUNC_VERSION"
	echo "$v"
}

triplet() {
	case $1 in
	amd64) echo x86_64-linux-gnu ;;
	arm64) echo aarch64-linux-gnu ;;
	*) die "no gnu triplet for $1" ;;
	esac
}

# cc_for ARCH prints the C compiler that targets ARCH.
cc_for() {
	if [[ $1 == "$HOST_ARCH" ]]; then
		echo gcc
	else
		echo "$(triplet "$1")-gcc"
	fi
}

# seccomp_sysroot ARCH prints a directory with Debian's libseccomp-dev for ARCH unpacked
# (headers, libseccomp.a, pkg-config file), downloaded once with apt-get download.
seccomp_sysroot() {
	local arch=$1 dir=$WORK/libseccomp-$1 version deb tmp
	if [[ -f $dir/.complete ]]; then
		echo "$dir"
		return
	fi
	version=$(apt-cache policy "libseccomp-dev:$arch" | awk '$1 == "Candidate:" { print $2 }')
	if [[ -z $version || $version == "(none)" ]]; then
		[[ $arch == "$(dpkg --print-architecture)" ]] || grep -qx "$arch" <<<"$(dpkg --print-foreign-architectures)" || {
			log "adding dpkg architecture $arch (for apt-get download libseccomp-dev:$arch)" >&2
			dpkg --add-architecture "$arch"
		}
		log "apt-get update" >&2
		apt-get update -qq >&2
		version=$(apt-cache policy "libseccomp-dev:$arch" | awk '$1 == "Candidate:" { print $2 }')
		[[ -n $version && $version != "(none)" ]] || die "apt knows no libseccomp-dev:$arch"
	fi
	tmp=$(mktemp -d)
	log "downloading libseccomp-dev:$arch $version (unpacked for static linking, not installed)" >&2
	(cd "$tmp" && apt-get download -qq -o APT::Sandbox::User=root "libseccomp-dev:$arch=$version" >&2)
	deb=$(ls "$tmp"/libseccomp-dev_*.deb)
	rm -rf "$dir"
	mkdir -p "$dir"
	dpkg-deb -x "$deb" "$dir"
	rm -rf "$tmp"
	[[ -f $dir/usr/lib/$(triplet "$arch")/libseccomp.a ]] || die "libseccomp-dev:$arch has no libseccomp.a"
	echo "$version" >"$dir/.complete"
	echo "$dir"
}

# runc_binary ARCH VERSION prints the path of a static runc VERSION for ARCH, building it
# once.
runc_binary() {
	local arch=$1 ver=$2 dest=$WORK/runc-$2-$1 src sysroot cc libdir
	if [[ -f $dest/.complete ]]; then
		log "runc $ver $arch already built ($dest)" >&2
		echo "$dest/runc"
		return
	fi
	cc=$(cc_for "$arch")
	command -v "$cc" >/dev/null || die "$cc not found; run hack/tools.sh (gcc, g++-aarch64-linux-gnu)"
	sysroot=$(seccomp_sysroot "$arch")
	libdir=$sysroot/usr/lib/$(triplet "$arch")
	src=$WORK/src/runc-$ver
	log "building runc $ver for linux/$arch (cgo, static, seccomp from libseccomp-dev $(<"$sysroot/.complete"))" >&2
	src_copy "$RUNC_MOD@$ver" "$src"
	rm -rf "$dest.tmp"
	mkdir -p "$dest.tmp"
	# The .pc file says prefix=/usr; PKG_CONFIG_SYSROOT_DIR moves its -I and -L into the
	# unpacked package, and PKG_CONFIG_LIBDIR keeps the host's .pc files out.
	(cd "$src" && GOFLAGS="-mod=mod -buildvcs=false" CGO_ENABLED=1 GOOS=linux GOARCH=$arch CC=$cc \
		PKG_CONFIG_LIBDIR=$libdir/pkgconfig PKG_CONFIG_SYSROOT_DIR=$sysroot \
		go build -trimpath -tags "apparmor seccomp netgo cgo static_build osusergo" \
		-ldflags "-s -w -X main.gitCommit=$ver -extldflags -static" -o "$dest.tmp/runc" .) \
		2> >(grep -v '^go: downloading ' >&2)
	check_binary "$dest.tmp/runc" "$arch"
	# Runs natively or, for arm64, through the host's binfmt_misc emulation.
	if ! "$dest.tmp/runc" --version >&2; then
		[[ $arch == "$HOST_ARCH" ]] && die "the runc just built does not run"
		warn "cannot run the $arch runc here (no binfmt_misc emulation?); not checked"
	fi
	touch "$dest.tmp/.complete"
	rm -rf "$dest" "$src"
	mv "$dest.tmp" "$dest"
	echo "$dest/runc"
}

mkdir -p "$WORK"
runc_ver=$(runc_version)
log "BuildKit image $IMAGE: buildkit $BUILDKIT_VERSION, runc $runc_ver, platforms $PLATFORMS"
args=()
IFS=, read -ra plats <<<"$PLATFORMS"
for p in "${plats[@]}"; do
	[[ $p == linux/* ]] || die "platform $p: only linux platforms"
	arch=${p#linux/}
	bkdir=$(buildkit_binaries "$arch")
	check_binary "$bkdir/buildkitd" "$arch"
	check_binary "$bkdir/buildctl" "$arch"
	runc=$(runc_binary "$arch" "$runc_ver")
	args+=(-file "$p:usr/bin/buildkitd=$bkdir/buildkitd" -file "$p:usr/bin/buildctl=$bkdir/buildctl"
		-file "$p:usr/bin/buildkit-runc=$runc")
done

cd "$REPO_ROOT"
go run ./hack/buildkitimage -push "$IMAGE" -version "$BUILDKIT_VERSION" -runc-version "$runc_ver" \
	-ca-bundle /etc/ssl/certs/ca-certificates.crt "${args[@]}"
