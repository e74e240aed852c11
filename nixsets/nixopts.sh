# Nix's settings for the build and push steps, as the positional parameters ("$@"), sourced by
# both. Inputs: LAINGFILE_SYSTEM (optional), LAINGFILE_SUBSTITUTERS,
# LAINGFILE_TRUSTED_PUBLIC_KEYS and LAINGFILE_NETRC (see llb.NixStep).
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
