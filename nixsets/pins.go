package nixsets

// Pin is a nixpkgs revision and the NAR hash of its source tarball (SRI form, as in flake.lock).
type Pin struct {
	Rev    string
	SHA256 string
}

// TarballURL is where Nix fetches the pinned nixpkgs source from.
func (p Pin) TarballURL() string {
	return "https://github.com/NixOS/nixpkgs/archive/" + p.Rev + ".tar.gz"
}

// DefaultPin is the nixpkgs every Laingfile without `nixpkgs:` follows, so that projects on the
// same release share store paths, and therefore layers, by default.
func DefaultPin() Pin {
	return Pin{
		Rev:    "48698d12cc10555a4f3e3222d9c669b884a49dfe",
		SHA256: "sha256-yxgb4AmkVHY5OOBrC79Vv6EVd4QZEotqv+6jcvA212M=",
	}
}

// DefaultBuilderImage is the image whose Nix runs the build step, pinned by digest. The named
// build context `nix-builder` replaces it.
const DefaultBuilderImage = "docker.io/nixos/nix:2.28.3@sha256:e623d73af9cac82d1b50784c83e0cf2a4b83bfd2cfe8d5b67809a2fc94e043ac"
