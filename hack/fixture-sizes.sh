#!/usr/bin/env bash
# Builds the package sets and images of the fixture nixpkgs universe
# (test/fixtures/nixpkgs) with the host's Nix and prints, per profile, each
# closure's store-path count and size (NAR bytes from nix-store -q --size), the
# gzip ratio of a sample, and the shape of the python devcontainer closure.
#
#   hack/fixture-sizes.sh                      x86_64-linux, both profiles
#   hack/fixture-sizes.sh --system aarch64-linux --profile small
#
# Needs the bootstrap trees (hack/nix-builder.sh --no-push) and, for
# aarch64-linux on an x86_64 host, qemu registered with binfmt_misc (hack/env.sh up).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

FIXTURE=$REPO_ROOT/test/fixtures/nixpkgs
SYSTEM=x86_64-linux
PROFILES=(small realistic)
while (($#)); do
	case $1 in
	--system) SYSTEM=$2 && shift 2 ;;
	--profile) PROFILES=("$2") && shift 2 ;;
	*) die "unknown argument $1 (use --system SYSTEM, --profile small|realistic)" ;;
	esac
done

NIX_OPTS=(--option sandbox false --option build-users-group '' --option substituters ''
	--option extra-platforms aarch64-linux --max-jobs "$(nproc)")
[[ -x $FIXTURE/bootstrap/$SYSTEM/busybox/bin/busybox ]] ||
	die "no bootstrap tree for $SYSTEM: run hack/nix-builder.sh --no-push"

# universe PROFILE is the Nix expression of the package set.
universe() {
	printf '(import %s { system = "%s"; config.fixtureProfile = "%s"; })' "$FIXTURE" "$SYSTEM" "$1"
}

# names PROFILE ATTR prints the attribute names of the attrset ATTR.
names() {
	nix-instantiate --eval --strict --json -E "builtins.attrNames ($(universe "$1")).$2" | tr -d '[]"' | tr ',' ' '
}

# closure PROFILE ATTR builds ATTR and prints its closure, one path a line.
closure() {
	local outs
	outs=$(nix-build "${NIX_OPTS[@]}" --no-out-link -E "$(universe "$1")" -A "$2" 2>/dev/null)
	[[ -n $outs ]] || return 0
	# shellcheck disable=SC2086 # one argument per store path
	nix-store -qR $outs
}

# sizes PATHS... prints "NAR-bytes path" per path.
sizes() {
	(($#)) || return 0
	paste -d' ' <(nix-store -q --size "$@") <(printf '%s\n' "$@")
}

mib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }

report() {
	local profile=$1 kind=$2 name paths total
	for name in $(names "$profile" "fixture.$kind"); do
		mapfile -t paths < <(closure "$profile" "fixture.$kind.$name")
		total=$(sizes "${paths[@]}" | awk '{ s += $1 } END { print s + 0 }')
		printf '  %-9s %-20s %5d paths %9s MiB\n' "$profile" "$name" "${#paths[@]}" "$(mib "$total")"
	done
}

for profile in "${PROFILES[@]}"; do
	log "building the $profile profile for $SYSTEM"
	start=$SECONDS
	closure "$profile" fixture.images.pythonDevcontainer >/dev/null
	log "python devcontainer closure built in $((SECONDS - start))s (0s when it was already in the store)"

	log "package sets ($profile)"
	report "$profile" sets
	log "images ($profile)"
	report "$profile" images

	log "python devcontainer ($profile)"
	mapfile -t paths < <(closure "$profile" fixture.images.pythonDevcontainer)
	sizes "${paths[@]}" | sort -n | awk '
		{ n++; s += $1; if ($1 < 1048576) small++; if ($1 > 104857600) big[n] = sprintf("%s (%.0f MiB)", $2, $1 / 1048576) }
		END {
			printf "  %d paths, %.1f MiB, %.0f%% under 1 MiB, %d over 100 MiB\n", n, s / 1048576, 100 * small / n, length(big)
			for (i in big) printf "    %s\n", big[i]
		}'

	# A sample compressed the way a layer is: python312's store path as a tar.
	python=$(printf '%s\n' "${paths[@]}" | grep -m1 -- '-python3-[0-9.]*$')
	raw=$(tar -C / -cf - "${python#/}" | wc -c)
	gz=$(tar -C / -cf - "${python#/}" | gzip -6 | wc -c)
	printf '  gzip -6 ratio of %s as a tar: %s (%s -> %s MiB)\n' "$(basename "$python")" \
		"$(awk -v a="$gz" -v b="$raw" 'BEGIN { printf "%.3f", a / b }')" "$(mib "$raw")" "$(mib "$gz")"
done
