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
# The Laingfile's binary caches (`substituters:`) come on top of the builder's own. A private
# cache's token arrives as a secret file (LAINGFILE_NETRC lists host,login,file) and goes into
# a netrc in /tmp, a tmpfs that no output or cache record contains.
if [ -n "${LAINGFILE_SUBSTITUTERS:-}" ]; then
	set -- "$@" --option extra-substituters "$LAINGFILE_SUBSTITUTERS"
fi
if [ -n "${LAINGFILE_TRUSTED_PUBLIC_KEYS:-}" ]; then
	set -- "$@" --option extra-trusted-public-keys "$LAINGFILE_TRUSTED_PUBLIC_KEYS"
fi
if [ -n "${LAINGFILE_NETRC:-}" ]; then
	netrc=/tmp/laingfile-netrc
	(umask 077 && : >"$netrc")
	for entry in $LAINGFILE_NETRC; do
		host=${entry%%,*} rest=${entry#*,}
		login=${rest%%,*} file=${rest#*,}
		printf 'machine %s' "$host" >>"$netrc"
		if [ -n "$login" ]; then printf ' login %s' "$login" >>"$netrc"; fi
		printf ' password %s\n' "$(cat "$file")" >>"$netrc"
	done
	set -- "$@" --option netrc-file "$netrc"
fi
expr="/laingfile/build.nix --argstr requestFile /laingfile/request.json"

# jsonString quotes a string for JSON.
jsonString() {
	printf '"%s"' "$(printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g')"
}

echo "nix: evaluating for $LAINGFILE_SYSTEM"
# A fetch whose NAR hash is not the one given (the nixpkgs pin, or a fetch in an overlay or a
# package file) is reported rather than failed, so that the frontend can point at the pin:
# Nix's message names the URL and the hashes specified and got.
# shellcheck disable=SC2086
{
	status=0
	nix-instantiate "$@" --eval --strict --json $expr -A report 2>&1 >"$out/report.json" || status=$?
	echo "$status" >/tmp/eval-status
} | tee /tmp/eval-log >&2
if [ "$(cat /tmp/eval-status)" != 0 ]; then
	if grep -q "hash mismatch in file downloaded from" /tmp/eval-log; then
		url=$(sed -n "s/.*hash mismatch in file downloaded from '\(.*\)':.*/\1/p" /tmp/eval-log | head -n 1)
		specified=$(sed -n 's/^ *specified: *\([^ ]*\).*/\1/p' /tmp/eval-log | head -n 1)
		got=$(sed -n 's/^ *got: *\([^ ]*\).*/\1/p' /tmp/eval-log | head -n 1)
		printf '{"hashMismatch":{"url":%s,"specified":%s,"got":%s}}\n' \
			"$(jsonString "$url")" "$(jsonString "$specified")" "$(jsonString "$got")" >"$out/report.json"
		echo "nix: $url does not have the NAR hash $specified; see the Laingfile errors"
		exit 0
	fi
	exit 1
fi
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
