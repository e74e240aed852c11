package laingfile2llb

import (
	"sort"

	"github.com/laingville/laingfile"
	"github.com/laingville/laingfile/nixsets"
)

// PackageOrigin is one package of a target's image and what in the Laingfile brought it.
type PackageOrigin struct {
	// Attr is the attribute path, or the project file as the build step sees it.
	Attr string
	// Set is the package set that brought it; "" for the target's own packages and for the
	// packages every image gets (Implied).
	Set     string
	Implied bool
	// Paths are its output paths, as the Nix build step reported them.
	Paths []string
}

// PackageOrigins lists a target's packages in the global order that decides which layer a small
// store path lands in: the package sets in the release's order (so a path of the base set is
// owned by base in every image), then the target's own packages by name, then the packages
// every image gets. A package is listed under every set of the target that has it, and
// otherwise once. packagePaths maps attribute paths (and project files) to their output paths.
func PackageOrigins(t *laingfile.Target, packagePaths map[string][]string) []PackageOrigin {
	var origins []PackageOrigin
	inTarget := map[string]bool{}
	for _, s := range t.Sets {
		inTarget[s.Name] = true
	}
	claimed := map[string]bool{}
	for _, set := range nixsets.Sets() {
		if !inTarget[set.Name] {
			continue
		}
		for _, attr := range set.Attrs {
			claimed[attr] = true
			origins = append(origins, PackageOrigin{Attr: attr, Set: set.Name, Paths: packagePaths[attr]})
		}
	}
	var own []string
	for _, p := range t.Packages {
		name := p.Attr
		if name == "" {
			name = contextPath(p.Path)
		}
		if !claimed[name] {
			own = append(own, name)
			claimed[name] = true
		}
	}
	sort.Strings(own)
	for _, name := range own {
		origins = append(origins, PackageOrigin{Attr: name, Paths: packagePaths[name]})
	}
	for _, name := range ImpliedPackages() {
		if !claimed[name] {
			claimed[name] = true
			origins = append(origins, PackageOrigin{Attr: name, Implied: true, Paths: packagePaths[name]})
		}
	}
	return origins
}

// Owners lists what brings store paths into a target's image, in PackageOrigins' order: one
// owner per package set of the target (even one that brings nothing), then one per package.
func Owners(t *laingfile.Target, packagePaths map[string][]string) []Owner {
	var owners []Owner
	inTarget := map[string]bool{}
	for _, s := range t.Sets {
		inTarget[s.Name] = true
	}
	for _, set := range nixsets.Sets() {
		if inTarget[set.Name] {
			owners = append(owners, Owner{Name: "set " + set.Name})
		}
	}
	setOwner := func(set string) *Owner {
		for i := range owners {
			if owners[i].Name == "set "+set {
				return &owners[i]
			}
		}
		return nil
	}
	for _, o := range PackageOrigins(t, packagePaths) {
		if o.Set != "" {
			so := setOwner(o.Set)
			so.Roots = append(so.Roots, o.Paths...)
			continue
		}
		owners = append(owners, Owner{Name: "package " + o.Attr, Roots: o.Paths})
	}
	return owners
}
