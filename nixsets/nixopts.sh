# Sourced by the build, layer and push steps: seeds the shared /nix once, and sets Nix's settings
# as the positional parameters ("$@"). Inputs: LAINGFILE_SYSTEM (optional),
# LAINGFILE_SUBSTITUTERS, LAINGFILE_TRUSTED_PUBLIC_KEYS and LAINGFILE_NETRC (see llb.NixStep).

# The /nix cache mount starts empty. The builder image's own store paths are mounted read-only
# over it; its database, which registers them, and its profiles are copied in once, by the
# first step to get there (the others wait for it).
if [ ! -e /nix/.laingfile-seeded ]; then
	if mkdir /nix/.laingfile-seeding 2>/dev/null; then
		echo "nix: seeding this builder's /nix from the builder image"
		mkdir -p /nix/var /nix/store
		cp -a /laingfile-builder/var/. /nix/var/
		: >/nix/.laingfile-seeded
	else
		waited=0
		while [ ! -e /nix/.laingfile-seeded ]; do
			if [ "$waited" -ge 600 ]; then
				echo "nix: another step began seeding /nix and did not finish; remove the builder's /nix cache: docker buildx prune --filter type=exec.cachemount" >&2
				exit 1
			fi
			sleep 0.1
			waited=$((waited + 1))
		done
	fi
fi

# Nix runs as root inside a build container, without its sandbox (which needs privileges a
# build container does not have). Derivations build as Nix's build users (nixbld1..32 in
# every nixos/nix image), never as root: the /nix cache mount is shared by every project on
# this builder, and a build user can write only its own outputs, not the store, the database
# or the profiles. The target system is added to extra-platforms so that a build Nix cannot
# substitute runs under binfmt emulation.
set -- --option sandbox false --option build-users-group nixbld
if [ -n "${LAINGFILE_SYSTEM:-}" ]; then
	set -- "$@" --option extra-platforms "$LAINGFILE_SYSTEM"
fi
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
