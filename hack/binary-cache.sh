#!/usr/bin/env bash
# Makes the test environment's Nix binary caches with hack/binarycache: the closures of the
# python example's images for x86_64-linux and aarch64-linux, realised by the test Nix builder
# image through buildkitd and copied by Nix into a signed and an unsigned file:// cache in
# $LAINGFILE_BINARY_CACHE (keys/, signed/, unsigned/), which hack/env.sh serves on
# http://$LAINGFILE_BINARY_CACHE_ADDR. Nothing is made again while the inputs (the requests,
# the builder image's digest, the fixture nixpkgs) stay the same.
#
#   hack/binary-cache.sh          make the caches (after hack/env.sh up and hack/nix-builder.sh)
#   hack/binary-cache.sh --force  make them again, with a new key
set -euo pipefail
# shellcheck source=hack/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need_root

args=()
for arg in "$@"; do
	case $arg in
	--force) args+=(-force) ;;
	*) die "unknown argument $arg (use --force)" ;;
	esac
done
command -v go >/dev/null || die "go is not on PATH (hack/binarycache is a Go program)"

work=$(dirname "$LAINGFILE_BINARY_CACHE")
mkdir -p "$work"
exec 9>"$work/lock" # one run at a time
flock -n 9 || { log "waiting for another hack/binary-cache.sh to finish"; flock 9; }

cd "$REPO_ROOT"
log "making the binary caches in $LAINGFILE_BINARY_CACHE (hack/binarycache make)"
go run ./hack/binarycache make -repo "$REPO_ROOT" -out "$LAINGFILE_BINARY_CACHE" -addr "$LAINGFILE_SOCK" "${args[@]}"
if [[ $(http_status "$LAINGFILE_BINARY_CACHE_ADDR" /signed/nix-cache-info 2>/dev/null) == 200 ]]; then
	log "served on http://$LAINGFILE_BINARY_CACHE_ADDR/{signed,unsigned,private,push/NAME}"
else
	warn "no binary cache server answers on http://$LAINGFILE_BINARY_CACHE_ADDR; run hack/env.sh up"
fi
log "done in ${SECONDS}s"
