package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/laingville/laingfile/test/testenv"
)

// TestBuilders builds with the builders users create with buildx rather than the one hack/env.sh
// runs: a `docker-container` builder, which is what docker/setup-buildx-action creates in GitHub
// Actions (from the moby/buildkit image; here the equivalent image hack/buildkit-image.sh
// assembles), with its build cache exported to and imported from a directory and a registry,
// and a multi-node builder with one node per platform. The BuildKit containers run in the
// containerd-store Docker Engine of hack/env.sh, on the host network so that they reach the test
// registry; each test's builders are removed when it ends.
func TestBuilders(t *testing.T) {
	testenv.SkipIfShort(t)
	eng := testenv.NewEngine(t, testenv.EngineContainerd)
	classic := testenv.NewEngine(t, testenv.EngineClassic)
	e := newBuildxEnv(t)
	image := buildkitImage(t, e.root)
	dir := filepath.Join(e.root, "examples", "python")
	const want = "hello from the Laingfile python example"

	// The first builder's images are what the builds from its cache must give again.
	var built map[string]string
	t.Run("docker-container builder", func(t *testing.T) {
		b := newContainerBuilder(t, image, builderNode{Engine: eng})
		ref := imageName(t, "runtime")
		r := b.mustBuild(t, e, dir, "-f", "Laingfile", "--target", "runtime", "--platform", bothPlatforms, "--push", "-t", ref, ".")
		t.Logf("%s: runtime for both platforms built and pushed in %s", b, r.Duration.Round(100*time.Millisecond))
		for _, unwanted := range []string{"no MergeOp", "(chained:"} {
			if strings.Contains(r.Output, unwanted) {
				t.Errorf("the build on a docker-container builder, which has MergeOp, printed %q:\n%s", unwanted, tail(r.Output, 30))
			}
		}
		built = checkPushedRuntime(t, ref, want)
	})
	if built == nil {
		t.Fatal("the docker-container builder pushed no image; the cache tests compare with it")
	}

	// Export the cache from one builder, import it into a fresh one: every Nix step comes from
	// the cache, and the images are the same.
	for _, tc := range []struct {
		name    string
		cacheTo func(t *testing.T) (to, from string)
	}{
		{
			name: "local cache",
			cacheTo: func(t *testing.T) (string, string) {
				d := filepath.Join(t.TempDir(), "cache")
				return "type=local,dest=" + d + ",mode=max", "type=local,src=" + d
			},
		},
		{
			name: "registry cache",
			cacheTo: func(t *testing.T) (string, string) {
				// A repository of its own for each run, the tag users give their cache.
				ref := fmt.Sprintf("%s/e2e/builders-cache-%d:cache", testenv.Registry(t), time.Now().UnixNano())
				return "type=registry,ref=" + ref + ",mode=max,registry.insecure=true",
					"type=registry,ref=" + ref + ",registry.insecure=true"
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			to, from := tc.cacheTo(t)
			exporter := newContainerBuilder(t, image, builderNode{Engine: eng})
			first := imageName(t, "exported")
			r := exporter.mustBuild(t, e, dir, "-f", "Laingfile", "--target", "runtime", "--platform", bothPlatforms,
				"--cache-to", to, "--push", "-t", first, ".")
			t.Logf("%s: built with --cache-to %s in %s", exporter, to, r.Duration.Round(100*time.Millisecond))
			checkSameImages(t, "the build that exported the cache", first, built)
			// On a fresh builder the Nix steps run: what tells a step that ran from a cached one
			// below must see that.
			if nix := stepsNamed(r.Output, "nix: realise "); len(nix) != 2 || !nix[0].Ran || !nix[1].Ran {
				t.Fatalf("the build on a fresh builder shows the Nix steps %+v, want two that ran:\n%s", nix, tail(r.Output, 60))
			}

			importer := newContainerBuilder(t, image, builderNode{Engine: eng})
			second := imageName(t, "imported")
			r = importer.mustBuild(t, e, dir, "-f", "Laingfile", "--target", "runtime", "--platform", bothPlatforms,
				"--cache-from", from, "--push", "-t", second, ".")
			t.Logf("%s (fresh): built with --cache-from %s in %s", importer, from, r.Duration.Round(100*time.Millisecond))
			// A step whose result comes from an imported cache shows CACHED, or, when a later
			// step needs its files, only the download of its layer; a step that runs prints its
			// process's output (`#14 0.117 nix: evaluating for x86_64-linux`).
			nix := stepsNamed(r.Output, "nix: realise ")
			for _, platform := range strings.Split(bothPlatforms, ",") {
				var found bool
				for _, s := range nix {
					if strings.HasSuffix(s.Name, "("+platform+")") {
						found = true
						if s.Ran || !s.Cached && !s.Pulled {
							t.Errorf("the build with --cache-from %s ran #%s %s instead of taking it from the cache:\n%s",
								from, s.ID, s.Name, strings.Join(s.Lines, "\n"))
						}
					}
				}
				if !found {
					t.Errorf("the build with --cache-from %s shows no Nix step for %s:\n%s", from, platform, tail(r.Output, 60))
				}
			}
			checkSameImages(t, "the build from the imported cache", second, built)
		})
	}

	// One node per platform: buildx sends each platform to the node created for it, and the
	// nodes' build records say which platform each built. buildx refuses two nodes of a builder
	// on the same endpoint, so the nodes are BuildKit containers in the two engines, as on two
	// machines.
	t.Run("multi-node builder", func(t *testing.T) {
		b := newContainerBuilder(t, image,
			builderNode{Engine: eng, Platform: "linux/amd64"}, builderNode{Engine: classic, Platform: "linux/arm64"})
		ref := imageName(t, "multinode")
		r := b.mustBuild(t, e, dir, "-f", "Laingfile", "--target", "runtime", "--platform", bothPlatforms, "--push", "-t", ref, ".")
		t.Logf("%s: runtime for both platforms built and pushed in %s", b, r.Duration.Round(100*time.Millisecond))
		checkSameImages(t, "the multi-node build", ref, built)

		perNode := b.buildRecords(t)
		for _, n := range b.Nodes {
			recs := perNode[n.Name]
			if len(recs) != 1 || recs[0].Asked != n.Platform || !slices.Equal(recs[0].Exported, []string{n.Platform}) {
				t.Errorf("node %s (created for %s) has the build records %+v, want one that built and exported only %s",
					n.Name, n.Platform, recs, n.Platform)
			}
		}
		t.Logf("build records by node: %+v", perNode)
	})
}

// buildkitImage returns the BuildKit image hack/buildkit-image.sh pushes for the BuildKit version
// of hack/versions.env, failing the test if the registry does not have it for this machine.
func buildkitImage(t *testing.T, root string) string {
	t.Helper()
	version := buildkitVersion(t, root)
	ref := testenv.Registry(t) + "/laingfile/buildkit:" + version
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	idx, err := remote.Index(r, remote.WithContext(ctx))
	if err != nil {
		t.Fatalf("the registry has no BuildKit image %s (%v); run hack/buildkit-image.sh", ref, err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatalf("reading the index of %s: %v; run hack/buildkit-image.sh", ref, err)
	}
	for _, d := range m.Manifests {
		if d.Platform != nil && d.Platform.OS+"/"+d.Platform.Architecture == "linux/amd64" {
			return ref
		}
	}
	t.Fatalf("%s has no linux/amd64 image; run hack/buildkit-image.sh", ref)
	return ""
}

// buildkitVersion is BUILDKIT_VERSION from hack/versions.env.
func buildkitVersion(t *testing.T, root string) string {
	t.Helper()
	f, err := os.Open(filepath.Join(root, "hack", "versions.env"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(strings.TrimSpace(s.Text()), "BUILDKIT_VERSION="); ok {
			return strings.Trim(v, `"'`)
		}
	}
	t.Fatalf("hack/versions.env sets no BUILDKIT_VERSION")
	return ""
}

// builderNode is one node of a docker-container builder: a BuildKit container in Engine.
// Platform ("" for none) is the platform it is created for (`docker buildx create --platform`).
type builderNode struct {
	Engine   testenv.Engine
	Name     string
	Platform string
}

// containerBuilder is a buildx builder whose nodes are BuildKit containers in engines.
type containerBuilder struct {
	Name   string
	Engine testenv.Engine // the first node's, for the commands on the builder
	Nodes  []builderNode
}

func (b *containerBuilder) String() string {
	var where []string
	for _, n := range b.Nodes {
		where = append(where, n.Engine.Context)
	}
	return fmt.Sprintf("docker-container builder %s (nodes in %s)", b.Name, strings.Join(where, ", "))
}

// newContainerBuilder creates a docker-container builder with a node per entry of nodes, each
// a container of image in its engine on the host network, with a buildkitd.toml that lets it
// use the plain-http test registry, and starts its nodes. It is removed, with its containers
// and their state volumes, when the test ends.
func newContainerBuilder(t *testing.T, image string, nodes ...builderNode) *containerBuilder {
	t.Helper()
	if len(nodes) == 0 {
		t.Fatal("newContainerBuilder: no nodes")
	}
	eng := nodes[0].Engine
	n := strings.ToLower(regexp.MustCompile(`[^A-Za-z0-9]+`).ReplaceAllString(t.Name(), "-"))
	if len(n) > 40 {
		n = n[len(n)-40:]
	}
	b := &containerBuilder{Name: fmt.Sprintf("lf-%s-%d", strings.Trim(n, "-"), time.Now().UnixNano()%1e9), Engine: eng}
	config := filepath.Join(t.TempDir(), "buildkitd.toml")
	toml := fmt.Sprintf("[registry.%q]\n  http = true\n  insecure = true\n", testenv.RegistryAddr)
	if err := os.WriteFile(config, []byte(toml), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if out, err := eng.Docker(ctx, "buildx", "rm", b.Name).CombinedOutput(); err != nil {
			t.Errorf("%s: docker buildx rm %s: %v\n%s", eng, b.Name, err, out)
		}
	})
	for i, node := range nodes {
		if node.Name == "" {
			node.Name = fmt.Sprintf("%s-%d", b.Name, i)
			if node.Platform != "" {
				node.Name = b.Name + "-" + strings.ReplaceAll(node.Platform, "/", "-")
			}
		}
		args := []string{"buildx", "create", "--name", b.Name, "--node", node.Name,
			"--driver", "docker-container",
			"--driver-opt", "image=" + image + ",network=host",
			"--buildkitd-config", config}
		if i > 0 {
			args = append(args, "--append")
		}
		if node.Platform != "" {
			args = append(args, "--platform", node.Platform)
		}
		args = append(args, node.Engine.Context) // the node's endpoint: its engine
		mustEngineCommand(t, node.Engine, args...)
		b.Nodes = append(b.Nodes, node)
	}
	start := time.Now()
	out := mustEngineCommand(t, eng, "buildx", "inspect", "--bootstrap", b.Name)
	// The nodes run the image's BuildKit, not one pulled from elsewhere.
	version := buildkitVersion(t, testenv.RepoRoot(t))
	if got := strings.Count(out, "BuildKit version:      "+version+"\n"); got != len(nodes) {
		t.Fatalf("%s: %d of %d nodes report BuildKit %s:\n%s", b, got, len(nodes), version, out)
	}
	t.Logf("%s: started in %s", b, time.Since(start).Round(100*time.Millisecond))
	return b
}

// mustEngineCommand runs `docker --context <engine> args...` and returns its output, failing
// the test with what to do when it fails.
func mustEngineCommand(t *testing.T, eng testenv.Engine, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := eng.Docker(ctx, args...).CombinedOutput()
	if err != nil {
		hint := "check the engine's log /var/log/laingfile/docker-" + eng.Store + ".log"
		if strings.Contains(string(out), `"docker-init": executable file not found`) {
			// buildx's docker-container driver always starts its container with --init.
			hint = "the engine has no docker-init (buildx starts BuildKit containers with --init): install Debian's tini and link /usr/local/bin/docker-init to /usr/bin/tini-static (hack/tools.sh)"
		}
		t.Fatalf("%s: docker %s: %v\n%s\n%s", eng, strings.Join(args, " "), err, tail(string(out), 30), hint)
	}
	return string(out)
}

// mustBuild runs `docker buildx build` with the test frontend, builder image and fixture
// nixpkgs (buildArgs) on this builder.
func (b *containerBuilder) mustBuild(t *testing.T, e *buildxEnv, dir string, args ...string) buildxRun {
	t.Helper()
	base := slices.Clone(e.buildArgs())
	i := slices.Index(base, "--builder")
	if i < 0 || i+1 >= len(base) {
		t.Fatalf("buildArgs() %q has no --builder to replace", base)
	}
	base[i+1] = b.Name
	r := e.run(t, dir, nil, append(base, args...)...)
	if r.Err != nil {
		t.Fatalf("%s: docker buildx build %s: %v\n%s", b, strings.Join(args, " "), r.Err, tail(r.Output, 60))
	}
	return r
}

// buildRecord is what a node's BuildKit recorded of a build: the platforms it was asked to
// build (the frontend attribute `platform`, which buildx sets to the node's share of
// --platform) and those of the image configs it exported.
type buildRecord struct {
	Ref      string
	Asked    string
	Exported []string
}

// buildRecords returns the build records of each node, by node name. It asks each node's
// buildkitd itself, with `buildctl debug histories` in its container (where buildx runs
// `buildctl dial-stdio` to reach it): `docker buildx history inspect` cannot tell the nodes
// apart, since buildx gives the build the same ref on every node.
func (b *containerBuilder) buildRecords(t *testing.T) map[string][]buildRecord {
	t.Helper()
	perNode := map[string][]buildRecord{}
	for _, n := range b.Nodes {
		out := mustEngineCommand(t, n.Engine, "exec", "buildx_buildkit_"+n.Name, "buildctl", "debug", "histories", "--format", "json")
		dec := json.NewDecoder(strings.NewReader(out))
		for dec.More() {
			var ev struct {
				Record struct {
					Ref              string
					FrontendAttrs    map[string]string
					ExporterResponse map[string]string
					Error            json.RawMessage `json:"error"`
				} `json:"record"`
			}
			if err := dec.Decode(&ev); err != nil {
				t.Fatalf("node %s: buildctl debug histories: %v\n%s", n.Name, err, out)
			}
			rec := ev.Record
			if len(rec.Error) > 0 && string(rec.Error) != "null" {
				t.Errorf("node %s: build %s failed: %s", n.Name, rec.Ref, rec.Error)
			}
			var exported []string
			for k := range rec.ExporterResponse {
				if p, ok := strings.CutPrefix(k, "containerimage.config/"); ok {
					exported = append(exported, p)
				}
			}
			slices.Sort(exported)
			perNode[n.Name] = append(perNode[n.Name], buildRecord{Ref: rec.Ref, Asked: rec.FrontendAttrs["platform"], Exported: exported})
		}
	}
	return perNode
}

// step is one vertex of a build's plain progress output.
type step struct {
	ID     string
	Name   string
	Cached bool     // `#12 CACHED`
	Ran    bool     // its process printed something: `#12 0.117 nix: evaluating …`
	Pulled bool     // a layer of its result was downloaded: `#12 sha256:… 3.64MB / 3.64MB 0.0s done`
	Lines  []string // all its lines
}

// stepsNamed returns the steps of plain progress output whose name starts with prefix. A
// step's first line (`#12 nix: realise … (linux/amd64)`) names it.
func stepsNamed(output, prefix string) []step {
	line := regexp.MustCompile(`^#(\d+) (.*)$`)
	processOutput := regexp.MustCompile(`^\d+\.\d+ `)
	layerDownload := regexp.MustCompile(`^(extracting )?sha256:[0-9a-f]{64} `)
	byID := map[string]*step{}
	var order []string
	for _, l := range strings.Split(output, "\n") {
		m := line.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		s, ok := byID[m[1]]
		if !ok {
			s = &step{ID: m[1], Name: m[2], Lines: []string{l}}
			byID[m[1]] = s
			order = append(order, m[1])
			continue
		}
		s.Lines = append(s.Lines, l)
		switch {
		case m[2] == "CACHED":
			s.Cached = true
		case processOutput.MatchString(m[2]):
			s.Ran = true
		case layerDownload.MatchString(m[2]):
			s.Pulled = true
		}
	}
	var out []step
	for _, id := range order {
		if s := byID[id]; strings.HasPrefix(s.Name, prefix) {
			out = append(out, *s)
		}
	}
	return out
}

// checkPushedRuntime checks that ref is an index of the python runtime for both platforms,
// built for each, whose command prints want on each (arm64 under emulation), and returns the
// image digests by platform.
func checkPushedRuntime(t *testing.T, ref, want string) map[string]string {
	t.Helper()
	images := pulledImages(t, ref)
	if got := slices.Sorted(maps.Keys(images)); !slices.Equal(got, strings.Split(bothPlatforms, ",")) {
		t.Fatalf("%s: pushed platforms %v, want %s", ref, got, bothPlatforms)
	}
	digests := map[string]string{}
	for _, platform := range strings.Split(bothPlatforms, ",") {
		img := images[platform]
		assertBuiltFor(t, img, platform)
		digests[platform] = imageDigest(t, img).String()
		checkImageCommand(t, ref, platform, img, want)
	}
	return digests
}

// checkSameImages checks that ref has, for each platform, the image digest in want.
func checkSameImages(t *testing.T, what, ref string, want map[string]string) {
	t.Helper()
	images := pulledImages(t, ref)
	for _, platform := range slices.Sorted(maps.Keys(want)) {
		img, ok := images[platform]
		if !ok {
			t.Errorf("%s pushed no %s image to %s", what, platform, ref)
			continue
		}
		if got := imageDigest(t, img).String(); got != want[platform] {
			t.Errorf("%s pushed %s for %s, the first docker-container build %s", what, got, platform, want[platform])
		}
	}
}
