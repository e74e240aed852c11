package laingfile

import "strings"

// ContextUse is why a target reads a file of the build context.
type ContextUse int

const (
	// UseFlakeLock is nixpkgs.flakeLock: the lock file whose input is the pin.
	UseFlakeLock ContextUse = iota
	// UseOverlay is an overlays: entry that is a file.
	UseOverlay
	// UsePackageFile is a packages: entry that is a Nix file, built callPackage-style.
	UsePackageFile
	// UseCopySource is a copy: source.
	UseCopySource
)

// String names the use as messages do ("package file").
func (u ContextUse) String() string {
	switch u {
	case UseFlakeLock:
		return "flake.lock"
	case UseOverlay:
		return "overlay"
	case UsePackageFile:
		return "package file"
	case UseCopySource:
		return "copy source"
	}
	return "file"
}

// ForNix reports whether the Nix build step evaluates the file, so that it needs the build
// context mounted.
func (u ContextUse) ForNix() bool { return u == UseOverlay || u == UsePackageFile }

// ContextRead is one file, or files matching a pattern, that a target reads from the build
// context.
type ContextRead struct {
	Path  string // relative to the build context, as the Laingfile writes it
	Use   ContextUse
	Range Range
	// Pattern is a copy source with wildcards, which the copy itself matches.
	Pattern bool
}

// ContextReads is everything target t of f reads from the build context, in the order the
// gateway checks and reads it: the pin's flake.lock, then overlay files, package files and copy
// sources. Which files are checked before any work and whether the Nix step mounts the
// context are decided from this list; the pin reads the flake.lock it names.
func (f *File) ContextReads(t *Target) []ContextRead {
	var reads []ContextRead
	if n := f.Nixpkgs; n != nil && n.FlakeLock != "" {
		reads = append(reads, ContextRead{Path: n.FlakeLock, Use: UseFlakeLock, Range: n.FlakeLockRange})
	}
	for _, o := range f.Overlays {
		if o.Path != "" {
			reads = append(reads, ContextRead{Path: o.Path, Use: UseOverlay, Range: o.Range})
		}
	}
	for _, p := range t.Packages {
		if p.Path != "" {
			reads = append(reads, ContextRead{Path: p.Path, Use: UsePackageFile, Range: p.Range})
		}
	}
	for _, c := range t.Copy {
		reads = append(reads, ContextRead{Path: c.Src, Use: UseCopySource, Range: c.Range, Pattern: strings.ContainsAny(c.Src, "*?[")})
	}
	return reads
}

// NixReadsContext reports whether the Nix build step of t reads files of the build context.
func (f *File) NixReadsContext(t *Target) bool {
	for _, r := range f.ContextReads(t) {
		if r.Use.ForNix() {
			return true
		}
	}
	return false
}
