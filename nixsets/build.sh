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

# Nix runs as root inside a build container, without its sandbox (which needs privileges a
# build container does not have). Derivations build as Nix's build users (nixbld1..32 in
# every nixos/nix image), never as root: the /nix cache mount is shared by every project on
# this builder, and a build user can write only its own outputs, not the store, the database
# or the profiles. The target system is added to extra-platforms so that a build Nix cannot
# substitute runs under binfmt emulation.
set -- --option sandbox false --option build-users-group nixbld \
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

# The script runs with the builder image's tools: Nix, bash, coreutils, grep, tar, gzip,
# findutils (the real nixos/nix image has no sed or awk). JSON is written and read by Nix.

# fromReport EXPR prints EXPR, a list of strings without spaces (store paths, ids), evaluated
# with `report` bound to report.json, as words.
fromReport() {
	nix-instantiate --eval --strict --argstr file "$out/report.json" \
		-E "{ file }: let report = builtins.fromJSON (builtins.readFile file); in toString ($1)" | tr -d '"'
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
		url=$(grep -o "hash mismatch in file downloaded from '[^']*'" /tmp/eval-log | head -n 1)
		url=${url#*\'} url=${url%\'}
		specified=$(grep -o 'specified: *[^ ]*' /tmp/eval-log | head -n 1)
		got=$(grep -o 'got: *[^ ]*' /tmp/eval-log | head -n 1)
		nix-instantiate --eval --strict --json --argstr url "$url" \
			--argstr specified "${specified##* }" --argstr got "${got##* }" \
			-E '{ url, specified, got }: { hashMismatch = { inherit url specified got; }; }' >"$out/report.json"
		echo "nix: $url does not have the NAR hash ${specified##* }; see the Laingfile errors"
		exit 0
	fi
	exit 1
fi

# A package that exists but cannot be used (an alias that throws, unfree, broken, insecure,
# not for this system): Nix's own message about it goes to problems/<id>.log.
problems=$(fromReport 'map (p: p.id) report.problems')
if [ -n "$problems" ]; then
	mkdir -p "$out/problems"
	for id in $(fromReport 'map (p: p.id) (builtins.filter (p: p.problem != "missing" && p.problem != "notPackage") report.problems)'); do
		# shellcheck disable=SC2086
		nix-instantiate "$@" --eval --strict $expr -A "explain.$id" >/dev/null 2>"$out/problems/$id.log" || true
	done
	count=0
	for id in $problems; do count=$((count + 1)); done
	echo "nix: $count problem(s) in the requested packages; see the Laingfile errors"
	exit 0
fi

# What is to be done, before it is done: the derivations to build and the paths to fetch.
# shellcheck disable=SC2086
drvs=$(nix-instantiate "$@" $expr -A realise)
# shellcheck disable=SC2086
nix-store "$@" --realise --dry-run $drvs 2>/tmp/plan
built=0 substituted=0
while IFS= read -r line; do
	case $line in
	"these "*" derivations will be built:") n=${line#these } built=${n%% *} ;;
	"this derivation will be built:") built=1 ;;
	"these "*" paths will be fetched"*) n=${line#these } substituted=${n%% *} ;;
	"this path will be fetched"*) substituted=1 ;;
	"  /nix/store/"*.drv) n=${line#  /nix/store/*-} && echo "nix: to build ${n%.drv}" ;;
	esac
done </tmp/plan
echo "nix: realising: $substituted paths to substitute, $built to build"
# Nix filters its builders' system calls (no setuid files, …). Where Nix itself runs under
# QEMU user emulation (a builder node of another architecture) the kernel refuses the filter;
# only then the builds run without it.
realise() {
	# shellcheck disable=SC2086
	{
		status=0
		nix-store "$@" --realise $drvs 2>&1 >/dev/null || status=$?
		echo "$status" >/tmp/realise-status
	} | tee /tmp/realise-log >&2
	[ "$(cat /tmp/realise-status)" = 0 ]
}
if ! realise "$@"; then
	grep -q "unable to load seccomp BPF program" /tmp/realise-log || exit 1
	echo "nix: Nix runs emulated here and cannot filter its builders' system calls; building without the filter"
	realise "$@" --option filter-syscalls false
fi
echo "nix: substituted $substituted paths, built $built"

profile=$(fromReport 'report.profile')
echo "$profile" >"$out/profile"
ls -A "$profile" >"$out/profile-entries"
# shellcheck disable=SC2046
nix-store --query --requisites $(fromReport 'report.roots') >"$out/paths"
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
# Every store path must be what Nix registered before it becomes a layer: its contents
# (the NAR hash), and the metadata a NAR does not record (Nix leaves every store file owned by
# root and without setuid, setgid, sticky or write bits).
count=$(wc -l <"$out/paths")
echo "nix: verifying $count store paths against their registered NAR hashes"
# shellcheck disable=SC2046
if ! nix-store --verify-path $(cat "$out/paths"); then
	echo "nix: store paths on this builder differ from what Nix registered (above); remove the builder's /nix cache: docker buildx prune --filter type=exec.cachemount" >&2
	exit 1
fi
echo "nix: copying $count store paths"
while read -r p; do
	cp -a "$p" /out/nix/store/
done <"$out/paths"
rm "$out/paths"
find /out/nix/store -mindepth 1 ! -type l \( ! -user 0 -o -perm -4000 -o -perm -2000 -o -perm -1000 \
	-o -perm -0200 -o -perm -0020 -o -perm -0002 \) >/tmp/noncanonical
if [ -s /tmp/noncanonical ]; then
	echo "nix: store files on this builder have an owner or mode bits Nix never gives them (setuid, setgid, sticky, writable):" >&2
	head -n 20 /tmp/noncanonical | while IFS= read -r f; do echo "  ${f#/out}" >&2; done
	echo "nix: remove the builder's /nix cache: docker buildx prune --filter type=exec.cachemount" >&2
	exit 1
fi
