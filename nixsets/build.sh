# The Laingfile build step, run by sh in the Nix builder with /nix on a cache mount.
# Inputs: /laingfile/{build.nix,request.json,overlays/}, the nixpkgs source at /nixpkgs when the
# build pins it by a build context, and LAINGFILE_SYSTEM (the target system).
# Outputs in /out: laingfile/report.json always; when there are no problems also
# laingfile/profile (the profile's store path), laingfile/paths (the closure, a path per line),
# laingfile/closure (the closure in Nix's
# registration format: path, narHash, narSize, deriver, reference count, references),
# laingfile/substituters.tsv (what each of the Laingfile's caches gave),
# laingfile/nixdb/{db.sqlite,schema} (a Nix database of the closure). The store paths stay in
# /nix: the layer steps (layer.sh) copy them out, one layer each.
set -eu
out=/out/laingfile
mkdir -p "$out"

# Seeds the shared /nix on first use; Nix's settings for this step: build users, the
# Laingfile's caches and their netrc.
. /laingfile/nixopts.sh
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
built=0 substituted=0 download=""
while IFS= read -r line; do
	case $line in
	"these "*" derivations will be built:") n=${line#these } built=${n%% *} ;;
	"this derivation will be built:") built=1 ;;
	"these "*" paths will be fetched"* | "this path will be fetched"*)
		case $line in
		"these "*) n=${line#these } substituted=${n%% *} ;;
		*) substituted=1 ;;
		esac
		# "(12.34 MiB download, 56.78 MiB unpacked):"
		case $line in *" download"*) n=${line#*(} download=" (${n%% download*} download)" ;; esac
		;;
	"  /nix/store/"*.drv) n=${line#  /nix/store/*-} && echo "nix: to build ${n%.drv}" ;;
	esac
done </tmp/plan
echo "nix: realising: $substituted paths to substitute$download, $built to build"
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
# cacheFailure URL prints Nix's first complaint about a cache (unreachable, a refused token),
# from the evaluation and realisation logs.
cacheFailure() {
	cat /tmp/eval-log /tmp/realise-log 2>/dev/null | grep -F "'${1%/}" |
		grep -E "unable to download|HTTP error|disabling binary cache|Couldn't|does not appear to be a binary cache" |
		head -n 1 | tr '\t' ' '
}
if ! realise "$@"; then
	if grep -q "unable to load seccomp BPF program" /tmp/realise-log; then
		echo "nix: Nix runs emulated here and cannot filter its builders' system calls; building without the filter"
		realise "$@" --option filter-syscalls false
	else
		for url in ${LAINGFILE_SUBSTITUTERS:-}; do
			failure=$(cacheFailure "$url")
			if [ -n "$failure" ]; then
				echo "nix: the binary cache $url failed (see its substituters: entry): $failure" >&2
			fi
		done
		exit 1
	fi
fi
# What happened, from Nix's own account: a path the plan fetched may have been built after all
# (a signature no key trusts, a cache that failed).
built=$(grep -c "^building '" /tmp/realise-log || true)
substituted=$(grep -c "^copying path '" /tmp/realise-log || true)
echo "nix: substituted $substituted paths, built $built"
# Per cache of the Laingfile: the paths fetched from it, the substitutes ignored for want of a
# trusted signature, and the first failure, tab-separated, for the frontend's warnings.
: >"$out/substituters.tsv"
for url in ${LAINGFILE_SUBSTITUTERS:-}; do
	u=${url%/}
	fetched=$(grep "^copying path '" /tmp/realise-log | grep -c -F "from '$u'" || true)
	untrusted=$(grep -F "from '$u'" /tmp/realise-log | grep -c -F "not signed by any of the keys" || true)
	failure=$(cacheFailure "$url")
	if [ "$fetched" != 0 ]; then echo "nix: fetched $fetched paths from $url"; fi
	printf '%s\t%s\t%s\t%s\n' "$url" "$fetched" "$untrusted" "$failure" >>"$out/substituters.tsv"
done

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
