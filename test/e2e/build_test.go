package e2e

import (
	"archive/tar"
	"bytes"
	"context"
	"debug/elf"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/moby/buildkit/client"

	"github.com/laingville/laingfile/test/testenv"
)

const bothPlatforms = "linux/amd64,linux/arm64"

// imageLayer is a layer with the history entry that describes it.
type imageLayer struct {
	CreatedBy string
	Layer     v1.Layer
}

// layersWithHistory pairs an image's layers with their history entries: the frontend writes
// one per layer.
func layersWithHistory(t *testing.T, img v1.Image) []imageLayer {
	t.Helper()
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	var out []imageLayer
	for _, h := range cfg.History {
		if !h.EmptyLayer {
			out = append(out, imageLayer{CreatedBy: h.CreatedBy})
		}
	}
	if len(out) != len(layers) {
		t.Fatalf("%d layers but %d history entries", len(layers), len(out))
	}
	for i := range out {
		out[i].Layer = layers[i]
	}
	return out
}

// eachEntry calls fn for every entry of a layer's tar, with a reader of its contents.
func eachEntry(t *testing.T, l v1.Layer, fn func(hdr *tar.Header, contents io.Reader)) {
	t.Helper()
	rc, err := l.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		hdr, err := tr.Next()
		if err != nil {
			return
		}
		fn(hdr, tr)
	}
}

// storeLayers maps each single-store-path layer of an image to its layer digest, from the
// history entries the frontend writes ("nix: /nix/store/…"), and counts the store paths in all
// store layers.
func storeLayers(t *testing.T, img v1.Image) (byPath map[string]v1.Hash, pathCount int, layers []imageLayer) {
	t.Helper()
	layers = layersWithHistory(t, img)
	byPath = map[string]v1.Hash{}
	for _, l := range layers {
		paths, ok := strings.CutPrefix(l.CreatedBy, "nix: ")
		if !ok {
			continue
		}
		fields := strings.Fields(paths)
		pathCount += len(fields)
		if len(fields) == 1 {
			d, err := l.Layer.Digest()
			if err != nil {
				t.Fatal(err)
			}
			byPath[fields[0]] = d
		}
	}
	return byPath, pathCount, layers
}

// assertBuiltFor checks that the image's binaries (the ELF in the fixture's bash) are for the
// platform ("linux/amd64", "linux/arm64").
func assertBuiltFor(t *testing.T, img v1.Image, platform string) {
	t.Helper()
	want := map[string]elf.Machine{"linux/amd64": elf.EM_X86_64, "linux/arm64": elf.EM_AARCH64}[platform]
	machines := elfMachines(t, img, "-bash-")
	if len(machines) == 0 {
		t.Errorf("%s: no ELF file in the bash store path", platform)
	}
	for _, m := range machines {
		if m != want {
			t.Errorf("%s: bash is built for %v, want %v", platform, m, want)
		}
	}
}

// elfMachines returns the ELF machine of every executable in the bin/ of the store paths whose
// name contains fragment.
func elfMachines(t *testing.T, img v1.Image, fragment string) []elf.Machine {
	t.Helper()
	var machines []elf.Machine
	for _, l := range layersWithHistory(t, img) {
		if !strings.HasPrefix(l.CreatedBy, "nix: ") || !strings.Contains(l.CreatedBy, fragment) {
			continue
		}
		eachEntry(t, l.Layer, func(hdr *tar.Header, contents io.Reader) {
			if hdr.Typeflag != tar.TypeReg || !strings.Contains(hdr.Name, "/bin/") {
				return
			}
			data, _ := io.ReadAll(contents)
			if f, err := elf.NewFile(bytes.NewReader(data)); err == nil {
				machines = append(machines, f.Machine)
			}
		})
	}
	return machines
}

func TestPythonExampleBothKindsBothPlatforms(t *testing.T) {
	testenv.SkipIfShort(t)
	dir := filepath.Join(testenv.RepoRoot(t), "examples", "python")
	images := map[string]map[string]v1.Image{}
	for _, target := range []string{"devcontainer", "runtime"} {
		ref := imageName(t, target)
		mustBuild(t, buildRequest{Dir: dir, Target: target, Platforms: bothPlatforms, Push: ref})
		images[target] = pulledImages(t, ref)
		if len(images[target]) != 2 {
			t.Fatalf("%s: pushed platforms %v, want linux/amd64 and linux/arm64", target, images[target])
		}
	}

	for _, platform := range []string{"linux/amd64", "linux/arm64"} {
		dev, run := images["devcontainer"][platform], images["runtime"][platform]
		devLayers, devPaths, devHistory := storeLayers(t, dev)
		runLayers, runPaths, runHistory := storeLayers(t, run)

		// The runtime's closure fits its budget: one layer per store path, then the
		// customisation layer and the copy. The devcontainer's does not: its small paths share
		// layers by the set that brings them, within the default 100 layers, and the
		// customisation layer comes last.
		if len(runHistory) != runPaths+2 || len(runLayers) != runPaths || !strings.Contains(runHistory[len(runHistory)-1].CreatedBy, "copy app/") {
			t.Errorf("%s runtime: %d layers for %d store paths (%d alone); last is %q", platform, len(runHistory), runPaths, len(runLayers), runHistory[len(runHistory)-1].CreatedBy)
		}
		if devPaths <= 99 || len(devHistory) > 100 || !strings.Contains(devHistory[len(devHistory)-1].CreatedBy, "devcontainer customisation") {
			t.Errorf("%s devcontainer: %d layers for %d store paths; last is %q", platform, len(devHistory), devPaths, devHistory[len(devHistory)-1].CreatedBy)
		}
		// A store path with a layer of its own in both images has the same layer in both.
		shared := 0
		for p, d := range runLayers {
			if dd, ok := devLayers[p]; ok {
				shared++
				if d != dd {
					t.Errorf("%s: %s has layer %s in the runtime but %s in the devcontainer", platform, p, d, dd)
				}
			}
		}
		if shared == 0 {
			t.Errorf("%s: the images share no single-path layer", platform)
		}

		assertBuiltFor(t, run, platform)

		// Config and labels as the Laingfile says.
		devCfg, _ := dev.ConfigFile()
		runCfg, _ := run.ConfigFile()
		if devCfg.Architecture != strings.TrimPrefix(platform, "linux/") || devCfg.OS != "linux" {
			t.Errorf("devcontainer platform = %s/%s", devCfg.OS, devCfg.Architecture)
		}
		if devCfg.Config.User != "vscode" || devCfg.Config.WorkingDir != "/workspace" || devCfg.Created.Unix() != 1 {
			t.Errorf("devcontainer config: user %q workdir %q created %v", devCfg.Config.User, devCfg.Config.WorkingDir, devCfg.Created)
		}
		var meta []map[string]any
		// Entries apply in order; the last names the user and carries the Laingfile's metadata.
		if err := json.Unmarshal([]byte(devCfg.Config.Labels["devcontainer.metadata"]), &meta); err != nil || len(meta) == 0 ||
			meta[len(meta)-1]["remoteUser"] != "vscode" || meta[len(meta)-1]["customizations"] == nil {
			t.Errorf("devcontainer.metadata = %q (%v)", devCfg.Config.Labels["devcontainer.metadata"], err)
		}
		if runCfg.Config.User != "app" || runCfg.Config.WorkingDir != "/app" || !slices.Equal(runCfg.Config.Cmd, []string{"python3", "-m", "app"}) {
			t.Errorf("runtime config: user %q workdir %q cmd %v", runCfg.Config.User, runCfg.Config.WorkingDir, runCfg.Config.Cmd)
		}
		if _, ok := runCfg.Config.ExposedPorts["8000/tcp"]; !ok || runCfg.Config.Labels["org.opencontainers.image.title"] != "python-example" {
			t.Errorf("runtime ports %v labels %v", runCfg.Config.ExposedPorts, runCfg.Config.Labels)
		}
	}
}

func TestRebuildAfterPruneIsIdenticalAndRebuildIsCached(t *testing.T) {
	testenv.SkipIfShort(t)
	dir := filepath.Join(testenv.RepoRoot(t), "examples", "python")
	req := buildRequest{Dir: dir, Target: "runtime", Platforms: "linux/amd64"}

	req.Push = imageName(t, "first")
	first := mustBuild(t, req)
	req.Push = imageName(t, "cached")
	cached := mustBuild(t, req)
	// Every step that does real work comes from the cache: the Nix build and each layer.
	// (Cheap file writes still run: BuildKit checksums their contents to find cache keys.)
	work := 0
	for _, v := range cached.Vertexes {
		for _, prefix := range []string{"nix: realise", "layer ", "customise:", "copy ", "merge "} {
			if strings.HasPrefix(v.Name, prefix) && !strings.HasSuffix(v.Name, ": write files") {
				work++
				if !v.Cached {
					t.Errorf("second build ran %q instead of using the cache", v.Name)
				}
			}
		}
	}
	if work < 10 {
		t.Errorf("the second build reported %d cacheable steps, want at least 10", work)
	}

	c := testenv.Client(t)
	if err := c.Prune(context.Background(), nil, client.PruneAll); err != nil {
		t.Fatalf("pruning the BuildKit cache: %v", err)
	}
	req.Push = imageName(t, "pruned")
	pruned := mustBuild(t, req)

	d1 := first.Response.ExporterResponse["containerimage.digest"]
	d2 := cached.Response.ExporterResponse["containerimage.digest"]
	d3 := pruned.Response.ExporterResponse["containerimage.digest"]
	if d1 == "" || d1 != d2 || d1 != d3 {
		t.Fatalf("image digests differ: first %s, cached %s, after prune %s", d1, d2, d3)
	}
}

func TestErrorsPointAtTheLaingfile(t *testing.T) {
	testenv.SkipIfShort(t)
	tests := []struct {
		name      string
		laingfile string
		target    string
		files     map[string]string
		wantMsg   string
		wantLine  int32
	}{
		{
			name:      "unknown key",
			laingfile: "kind: runtime\nsets: [base]\nworkdri: /srv\n",
			wantMsg:   `unknown key "workdri" at the top level (did you mean "workdir"?)`, wantLine: 3,
		},
		{
			name:      "unknown set",
			laingfile: "kind: runtime\nsets: [base, pyton]\n",
			wantMsg:   `did you mean "python"?`, wantLine: 2,
		},
		{
			name:      "unknown package attribute",
			laingfile: "kind: runtime\nsets: [base]\npackages:\n  - pythn312\n",
			wantMsg:   `unknown package "pythn312" (did you mean "python312"?)`, wantLine: 4,
		},
		{
			name:      "unknown nested package attribute",
			laingfile: "kind: runtime\npackages:\n  - python312Packages.pipp\n",
			wantMsg:   `python312Packages has no attribute "pipp" (did you mean "pip"?)`, wantLine: 3,
		},
		{
			name:      "unknown target",
			laingfile: "targets:\n  app:\n    kind: runtime\n",
			target:    "ap",
			wantMsg:   `unknown target "ap" (did you mean "app"?)`,
		},
		{
			name:      "bad pin hash",
			laingfile: "nixpkgs:\n  rev: 48698d12cc10555a4f3e3222d9c669b884a49dfe\n  sha256: sha256-short\nkind: runtime\n",
			wantMsg:   "sha256", wantLine: 3,
		},
		{
			name:      "missing copy source",
			laingfile: "kind: runtime\nsets: [base]\ncopy:\n  - {src: scr/, dst: /app/src}\n",
			files:     map[string]string{"src/main.sh": "echo hi\n"},
			wantMsg:   `copy source "scr/" not found in the build context (did you mean "src"?)`, wantLine: 4,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFiles(t, dir, map[string]string{"Laingfile": tt.laingfile})
			writeFiles(t, dir, tt.files)
			buildFailsAt(t, buildRequest{Dir: dir, Target: tt.target, Platforms: "linux/amd64"}, tt.wantMsg, tt.wantLine)
		})
	}
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, data := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
