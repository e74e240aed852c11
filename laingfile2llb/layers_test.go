package laingfile2llb

import (
	"context"
	"fmt"
	"math/rand"
	"strings"
	"testing"

	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/solver/pb"
	digest "github.com/opencontainers/go-digest"

	"github.com/laingville/laingfile/internal/nixstore"
)

// storePath makes a closure entry with a valid-looking 32-character hash.
func storePath(name string, size int64, refs ...string) nixstore.StorePath {
	hash := fmt.Sprintf("%032d", len(name))[:32]
	hash = strings.Map(func(r rune) rune { return 'a' + (r-'0')%26 }, hash)
	return nixstore.StorePath{Path: "/nix/store/" + hash[:31] + string(name[0]) + "-" + name, NarSize: size, References: refs}
}

// testClosure: glibc <- openssl <- python <- pip, glibc <- bash.
func testClosure() nixstore.Closure {
	glibc := storePath("glibc-2.40", 30<<20)
	openssl := storePath("openssl-3.0.13", 6<<20, glibc.Path)
	bash := storePath("bash-5.2", 2<<20, glibc.Path)
	python := storePath("python3-3.12.8", 100<<20, glibc.Path, openssl.Path)
	pip := storePath("pip-24.0", 1<<20, python.Path)
	return nixstore.Closure{pip, python, bash, openssl, glibc}
}

func names(paths []nixstore.StorePath) []string {
	var out []string
	for _, p := range paths {
		out = append(out, p.Name())
	}
	return out
}

func TestPlanLayersFitsBudget(t *testing.T) {
	c := testClosure()
	for _, budget := range []int{5, 10} {
		plan, err := PlanLayers(c, budget, nil)
		if err != nil {
			t.Fatal(err)
		}
		var got [][]string
		for _, g := range plan.Groups {
			got = append(got, names(g.Paths))
		}
		want := [][]string{{"glibc-2.40"}, {"bash-5.2"}, {"openssl-3.0.13"}, {"python3-3.12.8"}, {"pip-24.0"}}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("budget %d: plan = %v, want one layer per path, dependencies first: %v", budget, got, want)
		}
	}
	if _, err := PlanLayers(c, 0, nil); err == nil || !strings.Contains(err.Error(), "raise maxLayers") {
		t.Fatalf("budget 0: err = %v", err)
	}
}

// universe: a base set (glibc, bash and two small libraries), python with small modules,
// node with a small library (libffi) it shares with python but not with base.
func universe() map[string]nixstore.StorePath {
	u := map[string]nixstore.StorePath{}
	add := func(p nixstore.StorePath) { u[p.Name()] = p }
	add(storePath("glibc-2.40", 30<<20))
	add(storePath("zlib-1.3", 100<<10, u["glibc-2.40"].Path))
	add(storePath("ncurses-6.5", 300<<10, u["glibc-2.40"].Path))
	add(storePath("bash-5.2", 2<<20, u["glibc-2.40"].Path, u["ncurses-6.5"].Path, u["zlib-1.3"].Path))
	add(storePath("libffi-3.4", 200<<10, u["glibc-2.40"].Path))
	add(storePath("python3-3.12.8", 100<<20, u["glibc-2.40"].Path, u["zlib-1.3"].Path, u["libffi-3.4"].Path))
	add(storePath("pip-24.0", 700<<10, u["python3-3.12.8"].Path))
	add(storePath("nodejs-22.1", 90<<20, u["glibc-2.40"].Path, u["zlib-1.3"].Path, u["libffi-3.4"].Path))
	add(storePath("yarn-1.22", 400<<10, u["nodejs-22.1"].Path))
	return u
}

func closureOf(u map[string]nixstore.StorePath, roots ...string) nixstore.Closure {
	seen := map[string]bool{}
	byPath := map[string]nixstore.StorePath{}
	for _, p := range u {
		byPath[p.Path] = p
	}
	var c nixstore.Closure
	var walk func(string)
	walk = func(path string) {
		if seen[path] {
			return
		}
		seen[path] = true
		c = append(c, byPath[path])
		for _, r := range byPath[path].References {
			walk(r)
		}
	}
	for _, r := range roots {
		walk(u[r].Path)
	}
	return c
}

func TestPlanLayersGroupsSmallPathsByOwner(t *testing.T) {
	u := universe()
	base := Owner{Name: "set base", Roots: []string{u["bash-5.2"].Path}}
	python := Owner{Name: "set python", Roots: []string{u["python3-3.12.8"].Path, u["pip-24.0"].Path}}
	node := Owner{Name: "set node", Roots: []string{u["nodejs-22.1"].Path, u["yarn-1.22"].Path}}

	tests := []struct {
		name   string
		roots  []string
		owners []Owner
		budget int
		want   [][]string
		small  int64
	}{
		{
			name: "big paths alone, small ones by owner", roots: []string{"bash-5.2", "python3-3.12.8", "pip-24.0"},
			owners: []Owner{base, python}, budget: 5,
			want:  [][]string{{"glibc-2.40"}, {"bash-5.2"}, {"python3-3.12.8"}, {"zlib-1.3", "ncurses-6.5"}, {"libffi-3.4", "pip-24.0"}},
			small: DefaultSmallPath,
		},
		{
			name: "the limit doubles until the plan fits", roots: []string{"bash-5.2", "python3-3.12.8", "pip-24.0"},
			owners: []Owner{base, python}, budget: 4,
			want:  [][]string{{"glibc-2.40"}, {"python3-3.12.8"}, {"zlib-1.3", "ncurses-6.5", "bash-5.2"}, {"libffi-3.4", "pip-24.0"}},
			small: 4 << 20,
		},
		{
			name: "more owners than layers: the last ones share", roots: []string{"bash-5.2", "python3-3.12.8", "pip-24.0", "nodejs-22.1", "yarn-1.22"},
			owners: []Owner{base, python, node}, budget: 2,
			want: [][]string{{"glibc-2.40", "zlib-1.3", "ncurses-6.5", "bash-5.2"}, {"libffi-3.4", "python3-3.12.8", "pip-24.0", "nodejs-22.1", "yarn-1.22"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := closureOf(u, tt.roots...)
			plan, err := PlanLayers(c, tt.budget, tt.owners)
			if err != nil {
				t.Fatal(err)
			}
			var got [][]string
			for _, g := range plan.Groups {
				got = append(got, names(g.Paths))
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("plan = %v\nwant   %v", got, tt.want)
			}
			for _, g := range plan.Groups {
				if (len(g.Paths) > 1) != (g.Owner != "") && g.Owner != "several owners" {
					t.Errorf("group %v has owner %q", names(g.Paths), g.Owner)
				}
			}
			if tt.small != 0 && plan.SmallPath != tt.small {
				t.Errorf("small-path limit = %d, want %d", plan.SmallPath, tt.small)
			}
			// The plan depends on the closure only, not on the order Nix listed it in.
			for seed := int64(0); seed < 5; seed++ {
				shuffled := append(nixstore.Closure(nil), c...)
				rand.New(rand.NewSource(seed)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
				again, _ := PlanLayers(shuffled, tt.budget, tt.owners)
				if fmt.Sprint(again) != fmt.Sprint(plan) {
					t.Fatalf("plan changed with input order (seed %d)", seed)
				}
			}
		})
	}
}

// TestPlanLayersSharesAcrossImages is the point of the plan: the python image and the node image
// put the base set's small paths in the same layer although the rest of them differs.
func TestPlanLayersSharesAcrossImages(t *testing.T) {
	u := universe()
	base := Owner{Name: "set base", Roots: []string{u["bash-5.2"].Path}}
	python := Owner{Name: "set python", Roots: []string{u["python3-3.12.8"].Path, u["pip-24.0"].Path}}
	node := Owner{Name: "set node", Roots: []string{u["nodejs-22.1"].Path, u["yarn-1.22"].Path}}
	layersOf := func(roots []string, owners []Owner) map[string]bool {
		plan, err := PlanLayers(closureOf(u, roots...), 5, owners)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]bool{}
		for _, g := range plan.Groups {
			out[strings.Join(names(g.Paths), " ")] = true
		}
		return out
	}
	py := layersOf([]string{"bash-5.2", "python3-3.12.8", "pip-24.0"}, []Owner{base, python})
	js := layersOf([]string{"bash-5.2", "nodejs-22.1", "yarn-1.22"}, []Owner{base, node})
	for _, layer := range []string{"glibc-2.40", "bash-5.2", "zlib-1.3 ncurses-6.5"} {
		if !py[layer] || !js[layer] {
			t.Errorf("layer %q is not in both images: python %v, node %v", layer, py, js)
		}
	}
}

// ops marshals a state and returns its ops by digest, and the digest of the final op.
func ops(t *testing.T, st llb.State) (map[digest.Digest]*pb.Op, digest.Digest) {
	t.Helper()
	def, err := st.Marshal(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	byDigest := map[digest.Digest]*pb.Op{}
	var last digest.Digest
	for _, dt := range def.Def {
		var op pb.Op
		if err := op.UnmarshalVT(dt); err != nil {
			t.Fatal(err)
		}
		d := digest.FromBytes(dt)
		byDigest[d] = &op
		last = d
	}
	// The last op is the terminal one pointing at the state's output.
	return byDigest, digest.Digest(byDigest[last].Inputs[0].Digest)
}

func TestStoreLayersMerge(t *testing.T) {
	nixOut := llb.Image("example.com/nix-out") // stands in for the build step output
	c := testClosure()
	plan, _ := PlanLayers(c, 10, nil)
	layers, err := StoreLayers(fixedStore(nixOut), plan)
	if err != nil {
		t.Fatal(err)
	}
	if layers[0].Name != "layer 1/5 /nix/store/…-glibc-2.40" {
		t.Errorf("progress name = %q", layers[0].Name)
	}
	all, head := ops(t, Assemble(layers, true))

	merge := all[head].GetMerge()
	if merge == nil {
		t.Fatalf("head op is %T, want a MergeOp", all[head].Op)
	}
	if len(merge.Inputs) != len(c) {
		t.Fatalf("merge has %d inputs, want %d", len(merge.Inputs), len(c))
	}
	for i, in := range merge.Inputs {
		op := all[head].Inputs[in.Input]
		file := all[digest.Digest(op.Digest)].GetFile()
		if file == nil {
			t.Fatalf("merge input %d is not a FileOp", i)
		}
		if len(file.Actions) != 1 {
			t.Fatalf("layer %d has %d actions, want 1 copy", i, len(file.Actions))
		}
		a := file.Actions[0]
		if a.Input != -1 {
			t.Errorf("layer %d is not on scratch (input %d)", i, a.Input)
		}
		cp := a.GetCopy()
		want := plan.Groups[i].Paths[0].Path
		if cp.Src != want || cp.Dest != want {
			t.Errorf("layer %d copies %s -> %s, want %s", i, cp.Src, cp.Dest, want)
		}
		if cp.Timestamp != LayerTime().UnixNano() {
			t.Errorf("layer %d timestamp = %d, want Unix 1", i, cp.Timestamp)
		}
		if cp.Owner.GetUser().GetByID() != 0 || cp.Owner.GetGroup().GetByID() != 0 || cp.Owner.GetUser() == nil {
			t.Errorf("layer %d owner = %v, want 0:0", i, cp.Owner)
		}
		if !cp.CreateDestPath || cp.Mode != -1 {
			t.Errorf("layer %d: createDestPath=%v mode=%d", i, cp.CreateDestPath, cp.Mode)
		}
	}
}

func TestAssembleChainWithoutMerge(t *testing.T) {
	nixOut := llb.Image("example.com/nix-out")
	plan, _ := PlanLayers(testClosure(), 10, nil)
	layers, err := StoreLayers(fixedStore(nixOut), plan)
	if err != nil {
		t.Fatal(err)
	}
	all, head := ops(t, Assemble(layers, false))
	// Walk down the chain: each FileOp applies its copy on the layer below.
	d, depth := head, 0
	for {
		op := all[d]
		file := op.GetFile()
		if file == nil {
			t.Fatalf("chain op %d is %T, want a FileOp", depth, op.Op)
		}
		if op.GetMerge() != nil {
			t.Fatal("chain contains a MergeOp")
		}
		depth++
		a := file.Actions[0]
		if a.Input == -1 {
			break // the bottom layer is on scratch
		}
		d = digest.Digest(op.Inputs[a.Input].Digest)
	}
	if depth != len(layers) {
		t.Fatalf("chain depth = %d, want %d", depth, len(layers))
	}
}

// fixedStore is a StoreSource whose every group comes from one state.
func fixedStore(st llb.State) StoreSource {
	return func([]nixstore.StorePath, string) (llb.State, error) { return st, nil }
}

// fixedPaths finds every store path in one state.
func fixedPaths(st llb.State) func(string) (llb.State, bool) {
	return func(string) (llb.State, bool) { return st, true }
}

func TestShortStorePath(t *testing.T) {
	if got := ShortStorePath("/nix/store/4lw9mib1ai07xv4grw59cyg2g5sxp574-openssl-3.0.13"); got != "/nix/store/…-openssl-3.0.13" {
		t.Errorf("ShortStorePath = %q", got)
	}
}
