package llb

import (
	"sort"

	"github.com/laingville/laingfile/frontend/laingfile"
	"github.com/laingville/laingfile/nixsets"
)

// Owners lists what brings store paths into a target's image, in the global order that decides
// which layer a small store path lands in: the package sets in the release's order (so a path
// of the base set is owned by base in every image), then the target's own packages by name,
// then the packages every image gets. packagePaths maps attribute paths (and project files) to
// their output paths, as the Nix build step reported them.
func Owners(t *laingfile.Target, packagePaths map[string][]string) []Owner {
	var owners []Owner
	inTarget := map[string]bool{}
	for _, s := range t.Sets {
		inTarget[s.Name] = true
	}
	claimed := map[string]bool{}
	for _, set := range nixsets.Sets() {
		if !inTarget[set.Name] {
			continue
		}
		o := Owner{Name: "set " + set.Name}
		for _, attr := range set.Attrs {
			o.Roots = append(o.Roots, packagePaths[attr]...)
			claimed[attr] = true
		}
		owners = append(owners, o)
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
		owners = append(owners, Owner{Name: "package " + name, Roots: packagePaths[name]})
	}
	for _, name := range ImpliedPackages() {
		if !claimed[name] {
			claimed[name] = true
			owners = append(owners, Owner{Name: "package " + name, Roots: packagePaths[name]})
		}
	}
	return owners
}
