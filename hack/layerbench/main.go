// Command layerbench measures how well image layers are shared across projects. It realises,
// with the host's Nix and the realistic profile of the offline nixpkgs fixture, the closures of
// the images the upstream flake library shipped (its devcontainer; python and node
// devcontainers and runtimes) plus go and rust devcontainers, plans their layers with three
// strategies, and prints for every ordered pair of images what a pull of the second downloads
// when the first is present:
//
//   - ours: laingfile2llb.PlanLayers, as the frontend plans them;
//   - popularity: nixpkgs dockerTools' default, the most popular paths alone and one catch-all
//     layer, with maxLayers 100 and 50;
//   - one layer for the whole closure, what `RUN nix-env -i …` in a Dockerfile gives.
//
// A layer is identified by the store paths it holds: the frontend gives the same paths the
// same layer digest on every builder (the end-to-end determinism tests check that). Bytes
// are NAR bytes (uncompressed).
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/laingville/laingfile"
	"github.com/laingville/laingfile/internal/nixstore"
	"github.com/laingville/laingfile/laingfile2llb"
	"github.com/laingville/laingfile/nixsets"
)

// image is one image of the matrix: its sets and the closure Nix gives them.
type image struct {
	Name    string
	Kind    laingfile.Kind
	Sets    []string
	Extra   []string // packages beyond the sets
	target  *laingfile.Target
	closure nixstore.Closure
	owners  []laingfile2llb.Owner
}

func matrix() []*image {
	dev := []string{"base", "vscodeCompat", "nixTools", "devTools"}
	return []*image{
		{Name: "devcontainer", Kind: laingfile.KindDevcontainer, Sets: append(dev, "bashDev")},
		{Name: "python-dev", Kind: laingfile.KindDevcontainer, Sets: append(dev, "python", "pythonDev")},
		{Name: "python-run", Kind: laingfile.KindRuntime, Sets: []string{"base", "python"}},
		{Name: "node-dev", Kind: laingfile.KindDevcontainer, Sets: append(dev, "node", "nodeDev")},
		{Name: "node-run", Kind: laingfile.KindRuntime, Sets: []string{"base", "node"}},
		{Name: "go-dev", Kind: laingfile.KindDevcontainer, Sets: append(dev, "go", "goDev")},
		{Name: "rust-dev", Kind: laingfile.KindDevcontainer, Sets: append(dev, "rust", "rustDev")},
	}
}

func main() {
	nixpkgs := flag.String("nixpkgs", "test/fixtures/nixpkgs", "the nixpkgs (fixture) directory")
	profile := flag.String("profile", "realistic", "fixture payload profile")
	system := flag.String("system", "x86_64-linux", "Nix system")
	addPackage := flag.String("add", "postgresql_16", "package added to python-dev for the incremental-change measurement")
	build := flag.Bool("build", false, "also build the images with the frontend on a fresh buildkitd and check the real layer digests (needs hack/env.sh up and hack/nix-builder.sh)")
	flag.Parse()
	if err := run(*nixpkgs, *profile, *system, *addPackage, *build); err != nil {
		fmt.Fprintln(os.Stderr, "layerbench:", err)
		os.Exit(1)
	}
}

func run(nixpkgs, profile, system, addPackage string, build bool) error {
	abs, err := filepath.Abs(nixpkgs)
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "layerbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

	images := matrix()
	fmt.Printf("==> realising %d closures (%s profile, %s)\n", len(images), profile, system)
	for _, im := range images {
		if err := realise(im, abs, profile, system, work); err != nil {
			return fmt.Errorf("%s: %w", im.Name, err)
		}
		fmt.Printf("    %-13s %3d store paths, %s\n", im.Name, len(im.closure), mib(im.closure.Size()))
	}

	strategies := []strategy{
		{"ours (100)", func(im *image) ([][]nixstore.StorePath, error) { return ours(im) }},
		{"popularity (100)", func(im *image) ([][]nixstore.StorePath, error) { return popularity(im.closure, 99), nil }},
		{"popularity (50)", func(im *image) ([][]nixstore.StorePath, error) { return popularity(im.closure, 49), nil }},
		{"one layer", func(im *image) ([][]nixstore.StorePath, error) {
			return [][]nixstore.StorePath{im.closure}, nil
		}},
	}
	results := make([]map[pair]reuse, len(strategies))
	maxLayers := make([]int, len(strategies))
	for i, s := range strategies {
		plans := map[string][][]nixstore.StorePath{}
		for _, im := range images {
			groups, err := s.plan(im)
			if err != nil {
				return err
			}
			plans[im.Name] = groups
			maxLayers[i] = max(maxLayers[i], len(groups)+1) // + the customisation layer
		}
		results[i] = measure(images, plans)
	}
	printTable(images, strategies, results, maxLayers)
	if err := incremental(images[1], addPackage, abs, profile, system, work); err != nil {
		return err
	}
	if build {
		return buildMatrix(images, abs, profile, addPackage)
	}
	return nil
}

// realise builds the image's profile with the host's Nix, through the same build expression
// and request the frontend uses, and reads its closure and package paths back.
func realise(im *image, nixpkgs, profile, system, work string) error {
	var doc strings.Builder
	fmt.Fprintf(&doc, "kind: %s\nsets: [%s]\n", im.Kind, strings.Join(im.Sets, ", "))
	if len(im.Extra) > 0 {
		fmt.Fprintf(&doc, "packages: [%s]\n", strings.Join(im.Extra, ", "))
	}
	f, err := laingfile.Parse("Laingfile", []byte(doc.String()), nixsets.ParseOptions(nil))
	if err != nil {
		return err
	}
	im.target = f.Targets[0]
	req := laingfile2llb.NixRequest(f, im.target, system, nixsets.DefaultPin())
	req.Nixpkgs = nixsets.NixpkgsSource{Path: nixpkgs}
	req.Config["fixtureProfile"] = profile
	reqFile := filepath.Join(work, im.Name+".json")
	data, _ := json.Marshal(req)
	if err := os.WriteFile(reqFile, data, 0o644); err != nil {
		return err
	}
	exprFile := filepath.Join(work, "build.nix")
	if err := os.WriteFile(exprFile, nixsets.BuildExpression(), 0o644); err != nil {
		return err
	}
	settings := []string{"--option", "sandbox", "false", "--option", "build-users-group", "", "--option", "substituters", "",
		"--option", "extra-platforms", system}
	opts := append(slices.Clip(settings), exprFile, "--argstr", "requestFile", reqFile)
	reportJSON, err := nix("nix-instantiate", append([]string{"--eval", "--strict", "--json", "-A", "report"}, opts...)...)
	if err != nil {
		return err
	}
	var report nixsets.Report
	if err := json.Unmarshal([]byte(reportJSON), &report); err != nil {
		return err
	}
	if len(report.Problems) > 0 {
		return fmt.Errorf("unknown packages: %+v", report.Problems)
	}
	// As the build step does: realise, then the closure of the report's roots.
	drvs, err := nix("nix-instantiate", append([]string{"-A", "realise"}, opts...)...)
	if err != nil {
		return err
	}
	if _, err := nix("nix-store", append(append(settings, "--realise"), strings.Fields(drvs)...)...); err != nil {
		return err
	}
	paths, err := nix("nix-store", append([]string{"--query", "--requisites"}, report.Roots...)...)
	if err != nil {
		return err
	}
	registration, err := nix("nix-store", append([]string{"--dump-db"}, strings.Fields(paths)...)...)
	if err != nil {
		return err
	}
	if im.closure, err = nixstore.ParseRegistration([]byte(registration)); err != nil {
		return err
	}
	packages := map[string][]string{}
	for _, p := range report.Packages {
		packages[p.Attr] = p.Paths
	}
	im.owners = laingfile2llb.Owners(im.target, packages)
	return nil
}

func nix(cmd string, args ...string) (string, error) {
	out, err := exec.Command(cmd, args...).Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return "", fmt.Errorf("%s: %v\n%s", cmd, err, ee.Stderr)
		}
		return "", fmt.Errorf("%s: %w (install Nix with hack/tools.sh)", cmd, err)
	}
	return string(out), nil
}

type strategy struct {
	name string
	plan func(*image) ([][]nixstore.StorePath, error)
}

// ours plans as the frontend does, with the target's store-layer budget.
func ours(im *image) ([][]nixstore.StorePath, error) {
	plan, err := laingfile2llb.PlanLayers(im.closure, laingfile2llb.StoreLayerBudget(im.target), im.owners)
	var groups [][]nixstore.StorePath
	for _, g := range plan.Groups {
		groups = append(groups, g.Paths)
	}
	return groups, err
}

// popularity is nixpkgs' popularity contest (dockerTools.buildLayeredImage): a path's
// popularity is the number of paths in the closure that depend on it, directly or not; the
// most popular budget-1 paths get a layer each and the rest share the last one.
func popularity(c nixstore.Closure, budget int) [][]nixstore.StorePath {
	refs := map[string][]string{}
	for _, p := range c {
		refs[p.Path] = p.References
	}
	score := map[string]int{}
	for _, p := range c {
		seen := map[string]bool{p.Path: true}
		stack := append([]string(nil), refs[p.Path]...)
		for len(stack) > 0 {
			x := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if seen[x] {
				continue
			}
			seen[x] = true
			score[x]++
			stack = append(stack, refs[x]...)
		}
	}
	sorted := append(nixstore.Closure(nil), c...)
	sort.SliceStable(sorted, func(i, j int) bool {
		if score[sorted[i].Path] != score[sorted[j].Path] {
			return score[sorted[i].Path] > score[sorted[j].Path]
		}
		return sorted[i].Path < sorted[j].Path
	})
	var groups [][]nixstore.StorePath
	for i, p := range sorted {
		if i == budget-1 {
			return append(groups, sorted[i:])
		}
		groups = append(groups, []nixstore.StorePath{p})
	}
	return groups
}

type pair struct{ present, pulled string }

// reuse is what a pull of an image downloads when another is present.
type reuse struct {
	Shareable  int64 // bytes of the pulled image's store paths the present image has
	Reused     int64 // bytes of the pulled image's layers the present image has
	Downloaded int64 // bytes of the pulled image's other layers
}

func (r reuse) efficiency() float64 {
	if r.Shareable == 0 {
		return 1
	}
	return float64(r.Reused) / float64(r.Shareable)
}

func layerKey(g []nixstore.StorePath) string {
	paths := make([]string, len(g))
	for i, p := range g {
		paths[i] = p.Path
	}
	sort.Strings(paths)
	return strings.Join(paths, " ")
}

func measure(images []*image, plans map[string][][]nixstore.StorePath) map[pair]reuse {
	out := map[pair]reuse{}
	for _, a := range images {
		inA := map[string]bool{}
		for _, p := range a.closure {
			inA[p.Path] = true
		}
		layersA := map[string]bool{}
		for _, g := range plans[a.Name] {
			layersA[layerKey(g)] = true
		}
		for _, b := range images {
			if a == b {
				continue
			}
			var r reuse
			for _, p := range b.closure {
				// The profile is the image's own: nothing else can have it.
				if inA[p.Path] && !strings.HasSuffix(p.Path, "-laingfile-profile") {
					r.Shareable += p.NarSize
				}
			}
			for _, g := range plans[b.Name] {
				size := nixstore.Closure(g).Size()
				if layersA[layerKey(g)] {
					r.Reused += size
				} else {
					r.Downloaded += size
				}
			}
			out[pair{a.Name, b.Name}] = r
		}
	}
	return out
}

func printTable(images []*image, strategies []strategy, results []map[pair]reuse, maxLayers []int) {
	fmt.Println()
	fmt.Println("A present, pull B: bytes of B's store paths already in A (shareable); per strategy, the")
	fmt.Println("bytes of B's layers already in A (reused), the bytes downloaded, and reused / shareable.")
	fmt.Println()
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	header := "A\tB\tshareable\t"
	for _, s := range strategies {
		header += s.name + ": reused\tdownloaded\tefficiency\t"
	}
	fmt.Fprintln(tw, header)
	minEff := make([]float64, len(strategies))
	total := make([]int64, len(strategies))
	for i := range minEff {
		minEff[i] = 1
	}
	for _, a := range images {
		for _, b := range images {
			if a == b {
				continue
			}
			p := pair{a.Name, b.Name}
			row := fmt.Sprintf("%s\t%s\t%s\t", a.Name, b.Name, mib(results[0][p].Shareable))
			for i := range strategies {
				r := results[i][p]
				row += fmt.Sprintf("%s\t%s\t%.4f\t", mib(r.Reused), mib(r.Downloaded), r.efficiency())
				minEff[i] = min(minEff[i], r.efficiency())
				total[i] += r.Downloaded
			}
			fmt.Fprintln(tw, row)
		}
	}
	tw.Flush()
	fmt.Println()
	tw = tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "strategy\tmax layers\tmin efficiency\tdownloaded, all pairs\t")
	for i, s := range strategies {
		fmt.Fprintf(tw, "%s\t%d\t%.4f\t%s\t\n", s.name, maxLayers[i], minEff[i], mib(total[i]))
	}
	tw.Flush()
}

// incremental adds one package to an image and compares the bytes of the layers that change
// with the bytes of the store paths that are new.
func incremental(base *image, pkg, nixpkgs, profile, system, work string) error {
	grown := &image{Name: base.Name + "+" + pkg, Kind: base.Kind, Sets: base.Sets, Extra: append(append([]string(nil), base.Extra...), pkg)}
	if err := realise(grown, nixpkgs, profile, system, work); err != nil {
		return err
	}
	before, err := ours(base)
	if err != nil {
		return err
	}
	after, err := ours(grown)
	if err != nil {
		return err
	}
	had := map[string]bool{}
	for _, p := range base.closure {
		had[p.Path] = true
	}
	var newPaths int64
	for _, p := range grown.closure {
		if !had[p.Path] && !strings.HasSuffix(p.Path, "-laingfile-profile") {
			newPaths += p.NarSize
		}
	}
	oldLayers := map[string]bool{}
	for _, g := range before {
		oldLayers[layerKey(g)] = true
	}
	var newLayers, profileBytes int64
	for _, g := range after {
		if !oldLayers[layerKey(g)] {
			for _, p := range g {
				if strings.HasSuffix(p.Path, "-laingfile-profile") {
					profileBytes += p.NarSize
				}
			}
			newLayers += nixstore.Closure(g).Size()
		}
	}
	fmt.Printf("\nadding %s to %s: new store paths %s; new layers %s (of which the image's profile %s); ratio %.4f\n",
		pkg, base.Name, mib(newPaths), mib(newLayers), mib(profileBytes), float64(newLayers)/float64(max(newPaths, 1)))
	return nil
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
