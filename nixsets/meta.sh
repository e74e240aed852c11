# The SBOM step, run by sh in the Nix builder: evaluates what nixpkgs says of an image's
# packages (build.nix's packageMeta: names, versions, outputs, licenses, homepages) into
# /out/laingfile/package-meta.json, for the image's SBOM. Nothing is realised.
set -eu
out=/out/laingfile
mkdir -p "$out"
. /laingfile/nixopts.sh
echo "sbom: reading the names, versions and licenses of $LAINGFILE_SYSTEM packages"
nix-instantiate "$@" --eval --strict --json /laingfile/build.nix \
	--argstr requestFile /laingfile/request.json -A packageMeta >"$out/package-meta.json"
