#!/usr/bin/env bash
# Builds the test Nix builder image (a stand-in for docker.io/nixos/nix:2.28.3 with the
# same layout and tools on PATH) from Debian's nix-bin, bash, curl, git, openssh-client,
# ca-certificates and busybox-static for amd64 and arm64,
# writes the relocatable bootstrap trees the fixture nixpkgs universe copies
# (test/fixtures/nixpkgs/bootstrap/<system>/{nix,busybox,sudo,glibc,gcc-lib}), and pushes the image
# as a linux/amd64 + linux/arm64 index. Work whose inputs did not change is skipped.
#
#   hack/nix-builder.sh            stage, build and push (needs the registry up)
#   hack/nix-builder.sh --no-push  stage and write the bootstrap trees only
#   hack/nix-builder.sh --force    rebuild even when the inputs did not change
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need_root

ARCHES=(amd64 arm64)
IMAGE=${NIX_BUILDER_IMAGE:-$LAINGFILE_REGISTRY/laingfile/nix-builder:test}
WORK=$LAINGFILE_CACHE/nix-builder
BOOTSTRAP=$REPO_ROOT/test/fixtures/nixpkgs/bootstrap
PUSH=1 FORCE=0
for arg in "$@"; do
	case $arg in
	--no-push) PUSH=0 ;;
	--force) FORCE=1 ;;
	*) die "unknown argument $arg (use --no-push or --force)" ;;
	esac
done

# Host tools: dpkg-deb and apt-get come with Debian; Nix registers the image's store
# paths in its database (whose registration times hack/nixbuilder pins, as the frontend does).
install_packages() {
	local missing=() p
	for p in nix-bin; do
		[[ $(dpkg-query -W -f='${Status}' "$p" 2>/dev/null) == "install ok installed" ]] || missing+=("$p")
	done
	((${#missing[@]} == 0)) && return
	log "installing debian packages: ${missing[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# enable_arches makes apt know the foreign architectures, once.
enable_arches() {
	local arch update=0
	for arch in "${ARCHES[@]}"; do
		[[ $arch == "$(dpkg --print-architecture)" ]] && continue
		if ! grep -qx "$arch" <<<"$(dpkg --print-foreign-architectures)"; then
			log "adding dpkg architecture $arch"
			dpkg --add-architecture "$arch"
			update=1
		fi
		[[ -n $(apt-cache madison "nix-bin:$arch" 2>/dev/null) ]] || update=1
	done
	if ((update)); then
		log "apt-get update"
		apt-get update -qq
	fi
}

# PROGRAMS are the Debian packages whose programs become relocatable trees (the
# real image's nix, bashInteractive, curl, git and openssh).
PROGRAMS=(nix-bin bash curl git openssh-client)

# package_list ARCH prints "name=version" for PROGRAMS, busybox-static,
# ca-certificates (architecture all) and every library package they need,
# recursively (less the architecture-independent data packages among them). Perl
# modules and tools they depend on (xz, perl, ...) are not part of the trees, only
# shared libraries are.
package_list() {
	local arch=$1
	{
		printf '%s\n' "${PROGRAMS[@]}" busybox-static | sed "s/\$/:$arch/"
		apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts \
			--no-breaks --no-replaces --no-enhances "${PROGRAMS[@]/%/:$arch}" |
			grep -v '^[[:space:]<]' | sed 's/:.*//' | grep -E '^(lib|zlib)' | grep -v -- '-perl$' |
			sed "s/\$/:$arch/"
		echo ca-certificates
	} | sort -u | xargs apt-cache policy |
		awk '/^[^ ]/ { p = $1; sub(/:.*/, "", p) } $1 == "Candidate:" && $2 != "(none)" { print p "=" $2 }' | sort
}

# deb_file ARCH NAME VERSION prints where apt-get download puts that package (it
# escapes the epoch colon).
deb_file() {
	local f=$WORK/debs/$1/${2}_${3//:/%3a}
	[[ -f ${f}_all.deb ]] && echo "${f}_all.deb" || echo "${f}_$1.deb"
}

# stage ARCH downloads the packages that are not cached yet and extracts them into
# $WORK/roots/ARCH, unless exactly these package versions are already there.
stage() {
	local arch=$1 list debs=$WORK/debs/$1 root=$WORK/roots/$1 p n v missing=() lists
	# Resolving the package list takes seconds; it can only change with apt's lists
	# (or with how it is resolved).
	lists=$({ stat -c '%n %Y %s' /var/lib/apt/lists/*_Packages* 2>/dev/null; declare -f package_list; echo "${PROGRAMS[*]}"; } | sha256sum)
	if [[ -f $root/.packages && -f $root/.apt-lists && $(<"$root/.apt-lists") == "$lists" ]]; then
		log "$arch: debian root up to date ($(wc -l <"$root/.packages") packages)"
		return
	fi
	list=$(package_list "$arch")
	if [[ -f $root/.packages && $(<"$root/.packages") == "$list" ]]; then
		echo "$lists" >"$root/.apt-lists"
		log "$arch: debian root up to date ($(wc -l <<<"$list") packages)"
		return
	fi
	mkdir -p "$debs"
	while IFS='=' read -r p v; do
		[[ -f $(deb_file "$arch" "$p" "$v") ]] && continue
		[[ $p == ca-certificates ]] && missing+=("$p=$v") || missing+=("$p:$arch=$v") # arch all
	done <<<"$list"
	if ((${#missing[@]})); then
		log "$arch: downloading ${#missing[@]} packages"
		(cd "$debs" && apt-get download -q=2 -o APT::Sandbox::User=root "${missing[@]}")
	fi
	# Drop superseded versions so the cache holds one version of each package.
	for p in "$debs"/*.deb; do
		grep -qxF "$p" < <(while IFS='=' read -r n v; do deb_file "$arch" "$n" "$v"; done <<<"$list") || rm -f "$p"
	done
	log "$arch: extracting $(wc -l <<<"$list") packages into $root"
	rm -rf "$root"
	mkdir -p "$root"
	while IFS='=' read -r p v; do
		dpkg-deb -x "$(deb_file "$arch" "$p" "$v")" "$root"
	done <<<"$list"
	echo "$list" >"$root/.packages"
	echo "$lists" >"$root/.apt-lists"
}

# build_go builds the image assembler for the host and, for each target architecture,
# the relocating launcher that is bin/<name> in the nix, bash, curl, git and ssh trees.
build_go() {
	local arch
	mkdir -p "$WORK/bin"
	log "building hack/nixbuilder"
	(cd "$REPO_ROOT" && go build -trimpath -buildvcs=false -o "$WORK/bin/nixbuilder" ./hack/nixbuilder)
	for arch in "${ARCHES[@]}"; do
		log "building the launcher for $arch"
		(cd "$REPO_ROOT" && CGO_ENABLED=0 GOOS=linux GOARCH=$arch go build -trimpath -buildvcs=false \
			-ldflags='-s -w -buildid=' -o "$WORK/bin/launcher-$arch" ./hack/nixbuilder/launcher)
		log "building the fixture sudo for $arch"
		(cd "$REPO_ROOT" && CGO_ENABLED=0 GOOS=linux GOARCH=$arch go build -trimpath -buildvcs=false \
			-ldflags='-s -w -buildid=' -o "$WORK/bin/sudo-$arch" ./hack/fixturesudo)
	done
}

# write_sudo_trees installs the fixture sudo as bootstrap/<system>/sudo/bin/sudo, replacing
# it only when it changed (the fixture imports the tree by content).
write_sudo_trees() {
	local arch dst
	for arch in "${ARCHES[@]}"; do
		dst=$BOOTSTRAP/$(system_of "$arch")/sudo/bin/sudo
		cmp -s "$WORK/bin/sudo-$arch" "$dst" && continue
		log "writing $dst"
		mkdir -p "$(dirname "$dst")"
		install -m 0755 "$WORK/bin/sudo-$arch" "$dst"
	done
}

# inputs_digest hashes everything the image is made of: the package lists, the
# built programs (Go builds are reproducible; the fixture sudo is not in the image)
# and the image reference.
inputs_digest() {
	{
		cat "$WORK"/roots/*/.packages
		sha256sum "$WORK"/bin/nixbuilder "$WORK"/bin/launcher-* | cut -d' ' -f1
		echo "$IMAGE push=$PUSH"
	} | sha256sum | cut -d' ' -f1
}

# up_to_date DIGEST succeeds when the last run had the same inputs, its bootstrap
# trees are still in place and (when pushing) the registry still serves its index.
up_to_date() {
	local want=$1 arch sys
	((FORCE)) && return 1
	[[ -f $WORK/stamp && $(sed -n 1p "$WORK/stamp") == "$want" ]] || return 1
	for arch in "${ARCHES[@]}"; do
		sys=$(system_of "$arch")
		[[ -x $BOOTSTRAP/$sys/nix/bin/nix && -x $BOOTSTRAP/$sys/busybox/bin/busybox ]] || return 1
		[[ -f $BOOTSTRAP/$sys/glibc/lib/libc.so.6 && -f $BOOTSTRAP/$sys/gcc-lib/lib/libstdc++.so.6 ]] || return 1
	done
	((PUSH)) || return 0
	[[ $("$WORK/bin/nixbuilder" -resolve "$IMAGE" 2>/dev/null) == "$(sed -n 2p "$WORK/stamp")" ]]
}

system_of() {
	case $1 in
	amd64) echo x86_64-linux ;;
	arm64) echo aarch64-linux ;;
	*) die "no Nix system for $1" ;;
	esac
}

main() {
	local arch digest args=() out
	command -v go >/dev/null || die "go is not on PATH (hack/nixbuilder is a Go program)"
	mkdir -p "$WORK"
	exec 9>"$WORK/lock" # one run at a time (hack/setup.sh may run this too)
	flock -n 9 || { log "waiting for another hack/nix-builder.sh to finish"; flock 9; }
	install_packages
	enable_arches
	for arch in "${ARCHES[@]}"; do stage "$arch"; done
	build_go
	write_sudo_trees
	digest=$(inputs_digest)
	if up_to_date "$digest"; then
		log "nix builder up to date: $IMAGE@$(sed -n 2p "$WORK/stamp") (${SECONDS}s)"
		return
	fi
	for arch in "${ARCHES[@]}"; do args+=(-arch "$arch=$WORK/roots/$arch,$WORK/bin/launcher-$arch"); done
	((PUSH)) && args+=(-push "$IMAGE")
	log "writing bootstrap trees and image"
	rm -f "$WORK/stamp"
	out=$("$WORK/bin/nixbuilder" "${args[@]}" -bootstrap "$BOOTSTRAP" -work "$WORK/stage")
	printf '    %s\n' "${out//$'\n'/$'\n'    }"
	printf '%s\n%s\n' "$digest" "$(awk '$1 == "index" { print $2 }' <<<"$out")" >"$WORK/stamp"
	log "done in ${SECONDS}s"
}

main
