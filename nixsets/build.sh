# The Laingfile build step, run by sh in the Nix builder with /nix on a cache mount.
# Inputs: /laingfile/{build.nix,request.json,overlays/}, the nixpkgs source at /nixpkgs when the
# build pins it by a build context, and LAINGFILE_SYSTEM (the target system).
# Outputs in /out: laingfile/report.json always; when there are no problems also
# laingfile/profile (the profile's store path), laingfile/closure (the closure in Nix's
# registration format: path, narHash, narSize, deriver, reference count, references),
# laingfile/nixdb/{db.sqlite,schema} (a Nix database of the closure) and the closure itself
# under nix/store.
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
# Packages kept out of the profile (a devcontainer's sudo, installed setuid outside the store)
# are part of the image all the same.
# shellcheck disable=SC2086
excluded=$(nix-build "$@" --no-out-link $expr -A excluded)
echo "$profile" >"$out/profile"
ls -A "$profile" >"$out/profile-entries"
# shellcheck disable=SC2086
nix-store --query --requisites "$profile" $excluded >"$out/paths"
# shellcheck disable=SC2046
nix-store --dump-db $(cat "$out/paths") >"$out/closure"

# A Nix database registering exactly the closure, for images that carry Nix (devcontainers):
# loaded into an empty chroot store, which needs the registrations, not the paths. Its
# registration times are the clock's; the frontend pins them.
echo "nix: registering the closure in a Nix database"
db=/tmp/nixdb/nix/var/nix/db
rm -rf /tmp/nixdb
nix-store "$@" --store "local?root=/tmp/nixdb" --load-db <"$out/closure"
if [ -e "$db/db.sqlite-wal" ]; then
	echo "nix: the database was not closed cleanly ($db/db.sqlite-wal is left)" >&2
	exit 1
fi
mkdir -p "$out/nixdb"
cp "$db/db.sqlite" "$db/schema" "$out/nixdb/"
rm -rf /tmp/nixdb
echo "nix: copying $(wc -l <"$out/paths") store paths"
while read -r p; do
	cp -a "$p" /out/nix/store/
done <"$out/paths"
rm "$out/paths"
