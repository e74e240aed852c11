# shellcheck shell=bash
# Run by the Nix builder image's /bin/sh (bash) for `binarycache make`, as root, with the
# store in the exec's own rootfs.
# Inputs: /laingfile/{build.nix,overlays/,requests/<system>/<name>.json}, the frontend's build
# expression and requests as its build step gets them, the nixpkgs tree at /nixpkgs and
# LAINGFILE_CACHE_KEY (the signing key's name).
# Outputs in /out: keys/{secret,public}; paths/<system>, the union of that system's closures;
# signed/ and unsigned/, file:// binary caches of every path in paths/, made by `nix copy`
# with and without the secret key.
set -eu
set -o pipefail

mkdir -p /out/keys /out/paths
echo "binarycache: generating the signing key $LAINGFILE_CACHE_KEY"
nix-store --generate-binary-cache-key "$LAINGFILE_CACHE_KEY" /out/keys/secret /out/keys/public

# The frontend's build step settings (nixsets/build.sh); aarch64 builds run under binfmt.
opts="--option sandbox false --option build-users-group nixbld --option extra-platforms aarch64-linux"
filter=""

for dir in /laingfile/requests/*; do
	system=${dir##*/}
	: >/tmp/paths
	for req in "$dir"/*.json; do
		name=${req##*/}
		name=${name%.json}
		echo "binarycache: $system: evaluating $name"
		# shellcheck disable=SC2016,SC2086
		roots=$(nix-instantiate $opts --eval --strict --argstr requestFile "$req" -E '{ requestFile }:
			let r = (import /laingfile/build.nix { inherit requestFile; }).report; in
			if r.problems != [ ] then throw "the request has problems: ${builtins.toJSON r.problems}"
			else toString r.roots' | tr -d '"')
		# shellcheck disable=SC2086
		drvs=$(nix-instantiate $opts /laingfile/build.nix --argstr requestFile "$req" -A realise)
		echo "binarycache: $system: realising $name"
		status=0
		# shellcheck disable=SC2086
		nix-store $opts $filter --realise $drvs >/tmp/outs 2>/tmp/realise-log || status=$?
		cat /tmp/realise-log >&2
		if [ "$status" != 0 ]; then
			grep -q "unable to load seccomp BPF program" /tmp/realise-log || exit 1
			echo "binarycache: Nix cannot filter its builders' system calls here; again with --option filter-syscalls false"
			filter="--option filter-syscalls false"
			# shellcheck disable=SC2086
			nix-store $opts $filter --realise $drvs >/tmp/outs
		fi
		# shellcheck disable=SC2046,SC2086
		nix-store --query --requisites $(cat /tmp/outs) $roots >>/tmp/paths
	done
	sort -u /tmp/paths >"/out/paths/$system"
	bytes=0
	# shellcheck disable=SC2046
	for size in $(nix-store --query --size $(cat "/out/paths/$system")); do
		bytes=$((bytes + size))
	done
	echo "binarycache: $system: $(wc -l <"/out/paths/$system") store paths, $((bytes / 1024)) KiB of NARs"
done

sort -u /out/paths/* >/tmp/all
count=$(wc -l </tmp/all)
# The two copies run side by side: each spends its time in xz, on one core.
nixcmd="nix --extra-experimental-features nix-command"
echo "binarycache: nix copy of $count store paths to file:///out/signed (signed with $LAINGFILE_CACHE_KEY) and to file:///out/unsigned (no key)"
# shellcheck disable=SC2046,SC2086
$nixcmd copy --to "file:///out/signed?secret-key=/out/keys/secret&compression=xz" $(cat /tmp/all) >/tmp/copy-signed.log 2>&1 &
signed=$!
status=0
# shellcheck disable=SC2046,SC2086
$nixcmd copy --to "file:///out/unsigned?compression=xz" $(cat /tmp/all) >/tmp/copy-unsigned.log 2>&1 || status=$?
wait "$signed" || status=$?
for cache in signed unsigned; do
	echo "binarycache: nix copy to $cache: $(grep -c '^copying path' "/tmp/copy-$cache.log" || true) paths copied"
done
if [ "$status" != 0 ]; then
	cat /tmp/copy-signed.log /tmp/copy-unsigned.log >&2
	exit 1
fi
# Nix writes only StoreDir; the server answers nix-cache-info itself, this is for file:// use.
for cache in signed unsigned; do
	printf 'StoreDir: /nix/store\nWantMassQuery: 1\nPriority: 30\n' >"/out/$cache/nix-cache-info"
	n=$(find "/out/$cache" -maxdepth 1 -name '*.narinfo' | wc -l)
	[ "$n" = "$count" ] || {
		echo "binarycache: $cache has $n narinfos, want $count" >&2
		exit 1
	}
done
unsigned_with_sig=$(grep -l '^Sig:' /out/unsigned/*.narinfo | wc -l || true)
signed_without_sig=$(grep -L "^Sig: $LAINGFILE_CACHE_KEY:" /out/signed/*.narinfo | wc -l || true)
if [ "$unsigned_with_sig" != 0 ] || [ "$signed_without_sig" != 0 ]; then
	echo "binarycache: $unsigned_with_sig unsigned narinfos have a Sig, $signed_without_sig signed ones have none" >&2
	exit 1
fi
echo "binarycache: signed $(du -sk /out/signed | cut -f1) KiB, unsigned $(du -sk /out/unsigned | cut -f1) KiB"
