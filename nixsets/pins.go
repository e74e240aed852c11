package nixsets

// Pin is a nixpkgs source and the NAR hash of its unpacked tarball (SRI form, as in
// flake.lock): a revision of github.com/NixOS/nixpkgs (Rev alone), or a tarball URL (URL, with
// Rev when it is known, e.g. for a fork on GitHub). The zero Pin means the nixpkgs source came
// from a build context, so the image cannot name it.
type Pin struct {
	Rev    string
	URL    string
	SHA256 string
}

// IsZero reports whether the pin names no source.
func (p Pin) IsZero() bool { return p.Rev == "" && p.URL == "" }

// TarballURL is where Nix fetches the pinned nixpkgs source from ("" for the zero Pin).
func (p Pin) TarballURL() string {
	switch {
	case p.URL != "":
		return p.URL
	case p.Rev != "":
		return GitHubTarballURL("NixOS", "nixpkgs", p.Rev)
	}
	return ""
}

// GitHubTarballURL is GitHub's source tarball of a commit, what a flake's github: input
// fetches; its unpacked tree is the commit's `git archive`.
func GitHubTarballURL(owner, repo, rev string) string {
	return "https://github.com/" + owner + "/" + repo + "/archive/" + rev + ".tar.gz"
}

// DefaultPin is the nixpkgs every Laingfile without a pin follows, so that projects on the
// same release share store paths, and therefore layers, by default. `laing pin update --print`
// prints the newest one for a branch.
//
// `laing pin release` rewrites the rev and sha256 literals below (.github/workflows/update-pins.yml
// runs it weekly): keep them string literals in a Pin{Rev: …, SHA256: …} literal.
func DefaultPin() Pin {
	return Pin{
		Rev:    "48698d12cc10555a4f3e3222d9c669b884a49dfe",
		SHA256: "sha256-yxgb4AmkVHY5OOBrC79Vv6EVd4QZEotqv+6jcvA212M=",
	}
}

// DefaultBuilderImage is the image whose Nix runs the build step, pinned by the digest of its
// multi-platform index. The named build context `nix-builder` replaces it. `laing pin builder`
// rewrites the literal (.github/workflows/update-pins.yml runs it weekly): keep it a string
// literal.
const DefaultBuilderImage = "docker.io/nixos/nix:2.28.3@sha256:e623d73af9cac82d1b50784c83e0cf2a4b83bfd2cfe8d5b67809a2fc94e043ac"
