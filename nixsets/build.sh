# The Laingfile build step, run by sh in the Nix builder with /nix on a cache mount.
# Inputs: /laingfile/{build.nix,request.json,overlays/}, the nixpkgs source at /nixpkgs when the
# build pins it by a build context, and LAINGFILE_SYSTEM (the target system).
# Outputs in /out: laingfile/report.json always; when there are no problems also
# laingfile/profile (the profile's store path), laingfile/closure (the closure in Nix's
# registration format: path, narHash, narSize, deriver, reference count, references) and the
# closure itself under nix/store.
set -eu
out=/out/laingfile
mkdir -p "$out" /out/nix/store

# Settings that make any Nix image work as a single-user root Nix inside a build container.
# The target system is added to extra-platforms so that a build Nix cannot substitute runs
# under binfmt emulation.
set -- --option sandbox false --option build-users-group "" \
	--option extra-platforms "$LAINGFILE_SYSTEM"
if [ -n "${LAINGFILE_SUBSTITUTERS:-}" ]; then
	set -- "$@" --option substituters "$LAINGFILE_SUBSTITUTERS"
fi
if [ -n "${LAINGFILE_TRUSTED_PUBLIC_KEYS:-}" ]; then
	set -- "$@" --option trusted-public-keys "$LAINGFILE_TRUSTED_PUBLIC_KEYS"
fi
expr="/laingfile/build.nix --argstr requestFile /laingfile/request.json"

echo "nix: evaluating for $LAINGFILE_SYSTEM"
# shellcheck disable=SC2086
nix-instantiate "$@" --eval --strict --json $expr -A report >"$out/report.json"
# shellcheck disable=SC2086
problems=$(nix-instantiate "$@" --eval $expr -A problemCount)
if [ "$problems" != 0 ]; then
	echo "nix: $problems problem(s) in the requested packages; see the Laingfile errors"
	exit 0
fi

echo "nix: realising"
# shellcheck disable=SC2086
profile=$(nix-build "$@" --no-out-link $expr -A profile)
echo "$profile" >"$out/profile"
ls -A "$profile" >"$out/profile-entries"
nix-store --query --requisites "$profile" >"$out/paths"
# shellcheck disable=SC2046
nix-store --dump-db $(cat "$out/paths") >"$out/closure"
echo "nix: copying $(wc -l <"$out/paths") store paths"
while read -r p; do
	cp -a "$p" /out/nix/store/
done <"$out/paths"
rm "$out/paths"
