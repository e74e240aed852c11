package laingfile2llb

import (
	"fmt"
	"slices"

	"github.com/laingville/laingfile/internal/nixstore"
)

// BuilderTools are the builder image's own Nix and tools: its store paths and its default
// profile. The Nix step's /nix is a cache mount that every project on the builder writes, so
// the step never runs a program from it: each of the builder's store paths is mounted
// read-only from the image over the cache, and PATH is the image's profile, resolved to its
// store path (the profile links under /nix/var/nix/profiles live in the cache too).
type BuilderTools struct {
	// StorePaths are the entries of the builder image's /nix/store (its whole closure).
	StorePaths []string
	// Profile is the store path /nix/var/nix/profiles/default points to in the image.
	Profile string
}

// maxBuilderStorePaths bounds the read-only mounts: a nixos/nix image has about a hundred
// store paths; an image with far more is not a Nix builder image.
const maxBuilderStorePaths = 4096

// NewBuilderTools checks what the frontend read from the builder image: store paths directly
// under /nix/store, and a profile among them.
func NewBuilderTools(storePaths []string, profile string) (BuilderTools, error) {
	if len(storePaths) == 0 {
		return BuilderTools{}, fmt.Errorf("the Nix builder image has an empty /nix/store: it is not a Nix image (see docker.io/nixos/nix)")
	}
	if len(storePaths) > maxBuilderStorePaths {
		return BuilderTools{}, fmt.Errorf("the Nix builder image has %d store paths, more than the %d a builder image may have", len(storePaths), maxBuilderStorePaths)
	}
	paths := slices.Clone(storePaths)
	slices.Sort(paths)
	for _, p := range paths {
		if !nixstore.IsStorePath(p) {
			return BuilderTools{}, fmt.Errorf("the Nix builder image's store has an entry %q that is not a store path", p)
		}
	}
	if !slices.Contains(paths, profile) {
		return BuilderTools{}, fmt.Errorf("the Nix builder image's default profile %q is not one of its store paths", profile)
	}
	return BuilderTools{StorePaths: paths, Profile: profile}, nil
}

// BinDir is where the step finds nix-store, sh and the rest.
func (t BuilderTools) BinDir() string { return t.Profile + "/bin" }
