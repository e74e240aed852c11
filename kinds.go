package laingfile

// KindTraits is what a kind of image means. The parser, the converter and the gateway read a
// target's traits rather than compare its kind, so that a kind is described here and only here.
type KindTraits struct {
	// DefaultUser and DefaultWorkdir are the image user and working directory when the
	// Laingfile names none.
	DefaultUser, DefaultWorkdir string
	// HomeIsWorkdir makes a user's default home the working directory (a service's), not
	// /home/USER.
	HomeIsWorkdir bool
	// WheelGroup adds the group wheel (gid 10) with the user in it.
	WheelGroup bool
	// Sudo installs nixpkgs' sudo setuid outside the store (so out of the profile), with a
	// NOPASSWD rule for the user and its PAM services.
	Sudo bool
	// UserNix gives the user a Nix to build with: a database of the image's closure, a store
	// and profile the user owns, nix.conf, direnv with nix-direnv, shell start-up files, PATH
	// through the user's profile and NIX_PATH naming the pin.
	UserNix bool
	// Metadata takes the metadata: key, and the image carries the devcontainer.metadata label.
	Metadata bool
	// Interactive images are for people to work in: bash is their default command, and
	// `laing shell` takes the first of them when no target is named.
	Interactive bool
}

// kindNames are the kinds a Laingfile may name, in the order messages list them.
func kindNames() []string { return []string{string(KindDevcontainer), string(KindRuntime)} }

// Traits is what k means; see KindTraits.
func (k Kind) Traits() KindTraits {
	switch k {
	case KindDevcontainer:
		return KindTraits{DefaultUser: "vscode", DefaultWorkdir: "/workspace",
			WheelGroup: true, Sudo: true, UserNix: true, Metadata: true, Interactive: true}
	case KindRuntime:
		return KindTraits{DefaultUser: "app", DefaultWorkdir: "/app", HomeIsWorkdir: true}
	}
	return KindTraits{}
}
