package laingfile2llb

import (
	"container/heap"
	"fmt"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/moby/buildkit/client/llb"

	"github.com/laingville/laingfile/internal/nixstore"
)

// LayerTime is the mtime of every file the frontend writes into a layer. It is Nix's own
// canonical mtime, so a store path's layer is the same whatever epoch an image is built with.
func LayerTime() time.Time { return time.Unix(1, 0).UTC() }

// Layer is one image layer: file actions applied on scratch (or, where the builder lacks MergeOp,
// on the layer below), with the names a user sees.
type Layer struct {
	// Name is the progress name, e.g. "layer 12/87 /nix/store/…-openssl-3.0.13".
	Name string
	// CreatedBy is the image history entry for the layer.
	CreatedBy string
	Action    *llb.FileAction
	// Constraints carry source locations and the like.
	Constraints []llb.ConstraintsOpt
	// StorePaths are the store paths the layer holds (none for the customisation and copy layers).
	StorePaths []string
	// Source is the state the store paths are copied from (store layers only).
	Source llb.State
	// Dirs are the directories the layer makes, by path: a layer above that needs one of them
	// makes it the same way, since its own would replace it in the image.
	Dirs map[string]Dir
}

// LayerPlan groups a closure into at most Budget store layers.
type LayerPlan struct {
	Groups []LayerGroup
	// SmallPath is the size under which paths were grouped (0: every path has its own layer).
	SmallPath int64
}

// LayerGroup is the store paths of one layer.
type LayerGroup struct {
	Paths []nixstore.StorePath
	// Owner names the owner that brought a group of small paths ("" for a path in a layer of
	// its own).
	Owner string
}

// Owner is what brings store paths into an image: a package set or a single package, named
// with the output paths of its packages. Owners come in a fixed, global priority order.
type Owner struct {
	Name  string
	Roots []string
}

// DefaultSmallPath is the size under which a store path shares its layer with the other small
// paths its owner brings, when a closure does not fit the layer budget.
const DefaultSmallPath = 1 << 20

// PlanLayers decides which store paths share a layer. A closure that fits the budget gets one
// layer per store path. A larger one keeps every path of DefaultSmallPath or more in a layer of
// its own and puts the smaller ones in one layer per owner: the first owner, in the given
// order, whose closure contains the path. Both rules depend only on the path and on the
// owners, not on what else is in the image, so the same store path lands in the same layer in
// every image that has the same owner for it: that is what makes layers shared across images.
// When even that does not fit, the size limit doubles until it does.
func PlanLayers(c nixstore.Closure, budget int, owners []Owner) (LayerPlan, error) {
	if budget < 1 {
		return LayerPlan{}, fmt.Errorf("no layers left for %d store paths: raise maxLayers", len(c))
	}
	ordered := orderStorePaths(c)
	if len(ordered) <= budget {
		groups := make([]LayerGroup, len(ordered))
		for i, p := range ordered {
			groups[i] = LayerGroup{Paths: []nixstore.StorePath{p}}
		}
		return LayerPlan{Groups: groups}, nil
	}
	ownerOf := assignOwners(c, owners)
	names := make([]string, len(owners)+1)
	for i, o := range owners {
		names[i] = o.Name
	}
	names[len(owners)] = "the image"
	total := c.BoundedSize()
	// At most 43 rounds: the limit stops doubling at 2^62, the largest NAR size a closure has.
	for small := int64(DefaultSmallPath); ; small *= 2 {
		plan := groupSmallPaths(ordered, ownerOf, names, small)
		if len(plan.Groups) <= budget {
			return plan, nil
		}
		if small > total || small >= nixstore.MaxNarSize {
			// Even with every path grouped there are more owners than layers: merge the
			// groups of the last owners into one.
			rest := LayerGroup{Owner: "several owners"}
			for _, g := range plan.Groups[budget-1:] {
				rest.Paths = append(rest.Paths, g.Paths...)
			}
			return LayerPlan{Groups: append(plan.Groups[:budget-1], rest), SmallPath: small}, nil
		}
	}
}

// assignOwners maps each store path to the index of the first owner whose closure contains
// it; paths no owner brings (the profile itself) get len(owners).
func assignOwners(c nixstore.Closure, owners []Owner) map[string]int {
	refs := map[string][]string{}
	for _, p := range c {
		refs[p.Path] = p.References
	}
	ownerOf := map[string]int{}
	for i, o := range owners {
		stack := append([]string(nil), o.Roots...)
		for len(stack) > 0 {
			p := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if _, known := refs[p]; !known {
				continue // not in this closure
			}
			if _, owned := ownerOf[p]; owned {
				continue
			}
			ownerOf[p] = i
			stack = append(stack, refs[p]...)
		}
	}
	for _, p := range c {
		if _, owned := ownerOf[p.Path]; !owned {
			ownerOf[p.Path] = len(owners)
		}
	}
	return ownerOf
}

// groupSmallPaths gives paths of at least small bytes their own layers, in dependency order,
// followed by one layer per owner for the smaller paths, in owner order.
func groupSmallPaths(ordered []nixstore.StorePath, ownerOf map[string]int, ownerNames []string, small int64) LayerPlan {
	plan := LayerPlan{SmallPath: small}
	byOwner := make([][]nixstore.StorePath, len(ownerNames))
	for _, p := range ordered {
		if p.NarSize >= small {
			plan.Groups = append(plan.Groups, LayerGroup{Paths: []nixstore.StorePath{p}})
			continue
		}
		o := ownerOf[p.Path]
		byOwner[o] = append(byOwner[o], p)
	}
	for i, g := range byOwner {
		if len(g) > 0 {
			plan.Groups = append(plan.Groups, LayerGroup{Paths: g, Owner: ownerNames[i]})
		}
	}
	return plan
}

// orderStorePaths sorts a closure so that every path comes after the paths it references, ties
// broken by path: the order of layers in every image is a function of its closure alone.
func orderStorePaths(c nixstore.Closure) []nixstore.StorePath {
	byPath := map[string]nixstore.StorePath{}
	pending := map[string]int{}
	referrers := map[string][]string{}
	for _, p := range c {
		byPath[p.Path] = p
	}
	for _, p := range c {
		for _, r := range p.References {
			if r == p.Path {
				continue // a path may refer to itself
			}
			if _, ok := byPath[r]; ok {
				pending[p.Path]++
				referrers[r] = append(referrers[r], p.Path)
			}
		}
	}
	ready := &pathHeap{}
	for _, p := range c {
		if pending[p.Path] == 0 {
			heap.Push(ready, p.Path)
		}
	}
	var out []nixstore.StorePath
	for ready.Len() > 0 {
		next := heap.Pop(ready).(string)
		out = append(out, byPath[next])
		for _, r := range referrers[next] {
			pending[r]--
			if pending[r] == 0 {
				heap.Push(ready, r)
			}
		}
	}
	if len(out) < len(c) { // a reference cycle, which Nix does not allow; keep every path anyway
		seen := map[string]bool{}
		for _, p := range out {
			seen[p.Path] = true
		}
		for _, p := range c {
			if !seen[p.Path] {
				out = append(out, p)
			}
		}
	}
	return out
}

// pathHeap is the store paths ready to be ordered, smallest first: a heap, so that ordering a
// closure of n paths takes n log n steps, however wide.
type pathHeap []string

func (h pathHeap) Len() int           { return len(h) }
func (h pathHeap) Less(i, j int) bool { return h[i] < h[j] }
func (h pathHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *pathHeap) Push(x any)        { *h = append(*h, x.(string)) }
func (h *pathHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// StoreSource gives the state holding a group of store paths, for the layer of that name: the
// layer step (NixStep.LayerState).
type StoreSource func(group []nixstore.StorePath, name string) (llb.State, error)

// StoreLayers makes one layer per plan group, copying the group's store paths out of the state
// source gives for it with fixed owner and time, so that the same store paths give the same
// layer digest in every image on every builder.
func StoreLayers(source StoreSource, plan LayerPlan) ([]Layer, error) {
	layers := make([]Layer, len(plan.Groups))
	for i, group := range plan.Groups {
		var paths []string
		for _, p := range group.Paths {
			paths = append(paths, p.Path)
		}
		name := fmt.Sprintf("layer %d/%d %s", i+1, len(plan.Groups), describePaths(paths))
		if group.Owner != "" {
			name = fmt.Sprintf("layer %d/%d %d small store paths of %s: %s", i+1, len(plan.Groups), len(paths), group.Owner, describePaths(paths))
		}
		src, err := source(group.Paths, name)
		if err != nil {
			return nil, err
		}
		var action *llb.FileAction
		for _, p := range paths {
			info := &llb.CopyInfo{
				CreateDestPath: true,
				ChownOpt:       rootOwner(),
				CreatedTime:    ptr(LayerTime()),
			}
			if action == nil {
				action = llb.Copy(src, p, p, info)
			} else {
				action = action.Copy(src, p, p, info)
			}
		}
		if len(group.Paths) > 1 {
			// Each copy after the first adds to /nix/store and so sets its mtime to the wall
			// clock: stamp the assembled tree.
			action = stamped(llb.Scratch().File(action, llb.WithCustomName(name+": collect")))
		}
		layers[i] = Layer{
			Name:       name,
			CreatedBy:  "nix: " + strings.Join(paths, " "),
			Action:     action,
			StorePaths: paths,
			Source:     src,
		}
	}
	return layers, nil
}

// StorePathSource finds, among store layers, the state that holds a store path (zero and false
// when none does): where the customisation copies files out of the store from.
func StorePathSource(layers []Layer) func(path string) (llb.State, bool) {
	return func(path string) (llb.State, bool) {
		for _, l := range layers {
			if slices.Contains(l.StorePaths, path) {
				return l.Source, true
			}
		}
		return llb.State{}, false
	}
}

// describePaths names a layer's store paths the way users read them: the hash elided.
func describePaths(paths []string) string {
	if len(paths) == 0 {
		return ""
	}
	first := ShortStorePath(paths[0])
	if len(paths) == 1 {
		return first
	}
	return fmt.Sprintf("%s and %d more", first, len(paths)-1)
}

// ShortStorePath elides the hash of a store path: /nix/store/…-openssl-3.0.13.
func ShortStorePath(p string) string {
	base := path.Base(p)
	if i := strings.IndexByte(base, '-'); i == 32 {
		return path.Dir(p) + "/…" + base[i:]
	}
	return p
}

func rootOwner() *llb.ChownOpt { return ptr(owned(0, 0)) }

// Assemble stacks the layers into one state. With MergeOp each layer is its own state on
// scratch and the merge exports them as separate layers that do not depend on each other, so a
// changed layer never invalidates the others. Without it (Docker's classic image store) the
// layers are chained: the same contents, but a change re-creates every layer above it.
func Assemble(layers []Layer, merge bool) llb.State {
	if merge {
		states := make([]llb.State, len(layers))
		for i, l := range layers {
			states[i] = llb.Scratch().File(l.Action, append(l.Constraints, llb.WithCustomName(l.Name))...)
		}
		return llb.Merge(states, llb.WithCustomNamef("merge %d layers", len(layers)))
	}
	st := llb.Scratch()
	for _, l := range layers {
		st = st.File(l.Action, append(l.Constraints, llb.WithCustomName(l.Name+" (chained: the builder has no MergeOp)"))...)
	}
	return st
}

func ptr[T any](v T) *T { return &v }
