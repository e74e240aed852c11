# The Laingfile layer step, run by sh in the Nix builder on the build step's /nix cache mount:
# copies one layer's store paths into /out/nix/store, each checked first against the NAR hash
# the build step planned it with. A path the store lacks (this builder's /nix is not the one
# the build step ran on: an imported cache, a pruned cache mount) is fetched from the caches.
# Input: /laingfile/layer, a line per store path: the path and its NAR hash (as
# nix-store --query --hash prints it: sha256:<Nix base 32>). The step's cache key is that file: an unchanged layer is
# BuildKit's cache hit, whatever else the image holds, without reading a byte of it.
set -eu
. /laingfile/nixopts.sh
mkdir -p /out/nix/store
paths=""
while read -r p _; do paths="$paths $p"; done </laingfile/layer
# shellcheck disable=SC2086
missing=$(nix-store --check-validity --print-invalid $paths)
if [ -n "$missing" ]; then
	echo "nix: fetching$(for p in $missing; do printf ' %s' "${p#/nix/store/*-}"; done)"
	# shellcheck disable=SC2086
	if ! nix-store "$@" --realise $missing >/dev/null; then
		echo "nix: this builder's /nix lacks store paths that a cached build step made, and the builder's binary caches do not have them (its /nix cache was pruned?); build again with --no-cache" >&2
		exit 1
	fi
fi
# The hashes Nix registered, in the order asked: one process for the whole layer.
# shellcheck disable=SC2086
nix-store --query --hash $paths >/tmp/registered
while read -r p want && read -r got <&3; do
	if [ "$got" != "$want" ]; then
		echo "nix: $p is registered with the NAR hash $got on this builder, not $want as planned; remove the builder's /nix cache: docker buildx prune --filter type=exec.cachemount" >&2
		exit 1
	fi
done </laingfile/layer 3</tmp/registered
# Every store path must be what Nix registered before it becomes a layer: its contents (the
# NAR hash), and the metadata a NAR does not record (Nix leaves every store file owned by root
# and without setuid, setgid, sticky or write bits).
# shellcheck disable=SC2086
if ! nix-store --verify-path $paths; then
	echo "nix: store paths on this builder differ from what Nix registered (above); remove the builder's /nix cache: docker buildx prune --filter type=exec.cachemount" >&2
	exit 1
fi
for p in $paths; do
	cp -a "$p" /out/nix/store/
done
find /out/nix/store -mindepth 1 ! -type l \( ! -user 0 -o -perm -4000 -o -perm -2000 -o -perm -1000 \
	-o -perm -0200 -o -perm -0020 -o -perm -0002 \) >/tmp/noncanonical
if [ -s /tmp/noncanonical ]; then
	echo "nix: store files on this builder have an owner or mode bits Nix never gives them (setuid, setgid, sticky, writable):" >&2
	head -n 20 /tmp/noncanonical | while IFS= read -r f; do echo "  ${f#/out}" >&2; done
	echo "nix: remove the builder's /nix cache: docker buildx prune --filter type=exec.cachemount" >&2
	exit 1
fi
