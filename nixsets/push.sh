# The Laingfile push step, run by sh in the Nix builder on the same /nix cache mount as the
# build step: uploads to one binary cache the store paths of the image that Nix built on this
# builder (not those it fetched, which a cache already serves), with the part of their closure
# the cache lacks, signed with the cache's key.
# Inputs: /laingfile/step/paths (the image's closure, from the build step), LAINGFILE_PUSH_URL,
# LAINGFILE_PUSH_KEY (the file with the signing key), LAINGFILE_PUSH_BEST_EFFORT ("1": a failed
# push only warns) and the settings nixopts.sh reads (the cache's token among them).
# Output in /out: laingfile/push-warning, the message of a best-effort push that failed (empty
# when none did).
set -eu
out=/out/laingfile
mkdir -p "$out"
: >"$out/push-warning"
. /laingfile/nixopts.sh
url=$LAINGFILE_PUSH_URL
nixcmd() { nix --extra-experimental-features nix-command "$@"; }

# Nix marks the paths it built in its database as "ultimate"; fetched paths carry signatures
# instead. `nix path-info --json` is a list before Nix 2.19 and an object by path after.
# Only the paths in this /nix: where the build step came from the cache (an imported one), Nix
# built nothing here.
# shellcheck disable=SC2046
invalid=" $(nix-store --check-validity --print-invalid $(cat /laingfile/step/paths) | tr '\n' ' ')"
valid=""
while read -r p; do
	case $invalid in *" $p "*) ;; *) valid="$valid $p" ;; esac
done </laingfile/step/paths
if [ -z "$valid" ]; then
	echo "cache: the build step's paths are not in this builder's /nix (its result came from the build cache); nothing to push to $url"
	exit 0
fi
# shellcheck disable=SC2086
nixcmd path-info --json $valid >/tmp/path-info.json
built=$(nix-instantiate --eval --strict --argstr file /tmp/path-info.json -E '{ file }:
  let
    info = builtins.fromJSON (builtins.readFile file);
    list = if builtins.isList info then info
      else map (path: info.${path} // { inherit path; }) (builtins.attrNames info);
  in toString (map (p: p.path) (builtins.filter (p: p.ultimate or false) list))' | tr -d '"')

if [ -z "$built" ]; then
	echo "cache: Nix built none of this image's paths here; nothing to push to $url"
	exit 0
fi
# A binary cache holds whole closures: Nix copies each built path with the references the cache
# lacks (fetched ones too), and skips what the cache has.
# shellcheck disable=SC2086
closure=$(nix-store --query --requisites $built | wc -l)
n=0
for p in $built; do n=$((n + 1)); done
echo "cache: pushing the $n paths built here, with their closure ($closure paths), to $url, less what it has"
# shellcheck disable=SC2086
if nixcmd copy "$@" --to "$url?secret-key=$LAINGFILE_PUSH_KEY" $built 2>/tmp/push-log; then
	copied=""
	while IFS= read -r line; do
		case $line in "copying path '"*) p=${line#copying path \'} copied="$copied ${p%%\'*}" ;; esac
	done </tmp/push-log
	count=0 bytes=0
	# shellcheck disable=SC2086
	for size in $( [ -z "$copied" ] || nix-store --query --size $copied); do
		count=$((count + 1)) bytes=$((bytes + size))
	done
	if [ "$count" = 0 ]; then
		echo "cache: $url has all $closure paths; nothing to push"
		exit 0
	fi
	# The NAR size, as Nix prints sizes: "0.4 KiB", "12.3 MiB".
	if [ "$bytes" -lt 1048576 ]; then
		tenths=$((bytes * 10 / 1024)) unit=KiB
	else
		tenths=$((bytes * 10 / 1048576)) unit=MiB
	fi
	echo "cache: pushed $count paths ($((tenths / 10)).$((tenths % 10)) $unit) to $url"
	exit 0
fi
cat /tmp/push-log >&2
why=$(grep -E "error|HTTP" /tmp/push-log | head -n 1)
if [ "${LAINGFILE_PUSH_BEST_EFFORT:-}" = 1 ]; then
	echo "cache: pushing to $url failed, and the Laingfile asks for a best effort: ${why:-see above}" | tee "$out/push-warning"
	exit 0
fi
echo "cache: pushing to $url failed (see its substituters: entry; bestEffort: true makes this a warning): ${why:-see above}" >&2
exit 1
