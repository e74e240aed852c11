package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"

	"github.com/laingville/laingfile/test/testenv"
)

// buildxEnv is what the user-path tests share: the docker CLI with buildx, the frontend image
// built from this checkout and pushed to the test registry, and the overrides that send the
// Nix step to the test builder image and the fixture universe.
type buildxEnv struct {
	root     string
	frontend string // the frontend image, by digest
	builder  string // the Nix builder image
	nixpkgs  string // the fixture universe directory
}

// buildxBuilder is the buildx builder hack/env.sh creates (remote driver → our buildkitd).
const buildxBuilder = "laingfile"

// frontendTestRepo is where the tests push the frontend image they build; hack/frontend-image.sh
// pushes :dev next to it.
const frontendTestRepo = testenv.RegistryAddr + "/laingfile/frontend"

// newBuildxEnv checks the tools and the environment, then builds the frontend image from this
// checkout with hack/frontendimage and pushes it, so that the tests never run a stale frontend.
// The image is referred to by digest: a concurrent push to the same tag cannot swap it.
func newBuildxEnv(t *testing.T) *buildxEnv {
	t.Helper()
	root := testenv.RepoRoot(t)
	builder := testenv.BuilderImage(t)
	if _, err := exec.LookPath("docker"); err != nil {
		t.Fatalf("the docker CLI is not on PATH (%v); install it and run hack/tools.sh for buildx", err)
	}
	if out, err := exec.Command("docker", "buildx", "inspect", buildxBuilder).CombinedOutput(); err != nil {
		t.Fatalf("docker buildx has no builder %q: %v\n%s\nrun hack/tools.sh and hack/env.sh up", buildxBuilder, err, out)
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = "/usr/local/go/bin/go"
	}

	start := time.Now()
	cmd := exec.Command(goBin, "run", "./hack/frontendimage", "-repo", root, "-push", frontendTestRepo+":e2e", "-version", "e2e")
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("building the frontend image: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`==> frontend image (sha256:[0-9a-f]{64})`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("hack/frontendimage printed no digest:\n%s", out)
	}
	t.Logf("frontend image built and pushed in %s", time.Since(start).Round(time.Second))
	return &buildxEnv{
		root:     root,
		frontend: frontendTestRepo + ":e2e@" + string(m[1]),
		builder:  builder,
		nixpkgs:  filepath.Join(root, "test", "fixtures", "nixpkgs"),
	}
}

// buildxRun is the outcome of one docker buildx command.
type buildxRun struct {
	Output   string // stdout and stderr, interleaved
	Stdout   string
	Err      error
	Duration time.Duration
}

// run runs `docker buildx <args>` in dir with extra environment variables.
func (e *buildxEnv) run(t *testing.T, dir string, env []string, args ...string) buildxRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker", append([]string{"buildx"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "BUILDKIT_PROGRESS=plain")
	cmd.Env = append(cmd.Env, env...)
	// One buffer for the interleaved output a user sees, one for stdout alone (--call, --print).
	var all, stdout bytes.Buffer
	cmd.Stdout = io.MultiWriter(&all, &stdout)
	cmd.Stderr = &all
	start := time.Now()
	err := cmd.Run()
	return buildxRun{Output: all.String(), Stdout: stdout.String(), Err: err, Duration: time.Since(start)}
}

// buildArgs are the options of every `docker buildx build`: the frontend from this checkout
// through BUILDKIT_SYNTAX (it wins over the Laingfile's `# syntax=` line), and the test
// builder image and fixture universe as the named contexts.
func (e *buildxEnv) buildArgs() []string {
	return []string{
		"build", "--builder", buildxBuilder,
		"--build-arg", "BUILDKIT_SYNTAX=" + e.frontend,
		"--build-context", "nix-builder=docker-image://" + e.builder,
		"--build-context", "nixpkgs=" + e.nixpkgs,
	}
}

// mustBuildx runs docker buildx build and fails the test if it fails.
func (e *buildxEnv) mustBuildx(t *testing.T, dir string, args ...string) buildxRun {
	t.Helper()
	r := e.run(t, dir, nil, append(e.buildArgs(), args...)...)
	if r.Err != nil {
		t.Fatalf("docker buildx build %s: %v\n%s", strings.Join(args, " "), r.Err, tail(r.Output, 60))
	}
	return r
}

// bakeEnv are the docker-bake.hcl variables that point a bake file at the test frontend,
// builder image and fixture universe.
func (e *buildxEnv) bakeEnv() []string {
	return []string{
		"LAINGFILE_FRONTEND=docker-image://" + e.frontend,
		"NIX_BUILDER=docker-image://" + e.builder,
		"NIXPKGS=" + e.nixpkgs,
	}
}

// example is one directory under examples/ and what its runtime image prints.
type example struct {
	lang   string
	output string
	// runArm64 also runs the linux/arm64 image (under emulation); one example is enough.
	runArm64 bool
	// bake builds both targets with the example's docker-bake.hcl. One example is enough
	// for the wiring, and devcontainers are the slow builds; every bake file is checked with
	// --print.
	bake bool
}

// TestBuildx goes the user's way: the real docker buildx CLI and bake, the frontend selected
// through BUILDKIT_SYNTAX as the `# syntax=` line would, images pushed to the registry, then
// inspected and run. Subtests share the frontend image built at the start.
func TestBuildx(t *testing.T) {
	testenv.SkipIfShort(t)
	e := newBuildxEnv(t)

	t.Run("frontend image matches the Dockerfile", func(t *testing.T) {
		checkDockerfileMatchesImage(t, e)
	})

	examples := []example{
		{lang: "python", output: "hello from the Laingfile python example", runArm64: true, bake: true},
		{lang: "node", output: "hello from the Laingfile node example"},
		{lang: "go", output: "hello from the Laingfile go example"},
		{lang: "rust", output: "hello from the Laingfile rust example"},
	}
	t.Run("examples", func(t *testing.T) {
		for _, ex := range examples {
			t.Run(ex.lang, func(t *testing.T) { checkExampleRuntime(t, e, ex) })
		}
	})

	// nodeDev names top-level packages; nixpkgs removed the nodePackages set they were in.
	t.Run("node devcontainer", func(t *testing.T) {
		dir := filepath.Join(e.root, "examples", "node")
		const platform = "linux/amd64"
		ref := imageName(t, "node-devcontainer")
		e.mustBuildx(t, dir, "-f", "Laingfile", "--target", "devcontainer", "--platform", platform, "--push", "-t", ref, ".")
		target := exampleTarget(t, dir, "devcontainer")
		out, status := runInImage(t, imageRun{Image: ref, Platform: platform, Script: packagesOnPath(t, target, platform)})
		if status != 0 || strings.TrimSpace(out) != "" {
			t.Errorf("packages missing from the node devcontainer (exit %d):\n%s", status, out)
		}
	})

	t.Run("call targets", func(t *testing.T) {
		for _, ex := range examples {
			t.Run(ex.lang, func(t *testing.T) {
				dir := filepath.Join(e.root, "examples", ex.lang)
				r := e.mustBuildx(t, dir, "--call", "targets", "-f", "Laingfile", ".")
				for _, want := range []*regexp.Regexp{
					regexp.MustCompile(`(?m)^TARGET\s+DESCRIPTION$`),
					regexp.MustCompile(`(?m)^devcontainer \(default\)\s+devcontainer: base\+vscodeCompat\+nixTools\+devTools\+` + ex.lang + `\+` + ex.lang + `Dev$`),
					regexp.MustCompile(`(?m)^runtime\s+runtime: base\+` + ex.lang + `( and \d+ package\(s\))?$`),
				} {
					if !want.MatchString(r.Stdout) {
						t.Errorf("--call targets printed no line matching %s:\n%s", want, r.Stdout)
					}
				}
			})
		}
	})

	t.Run("errors show the Laingfile line", func(t *testing.T) {
		for _, tc := range []struct {
			name      string
			laingfile string
			files     map[string]string
			platform  string // default linux/amd64
			wantLine  string // buildx marks the offending line with >>>
			wantMsg   string
		}{
			{
				name:      "parse error",
				laingfile: "# syntax=ghcr.io/laingville/laingfile:1\ntargets:\n  runtime:\n    kind: runtime\n    sets: [base, pyton]\n",
				wantLine:  "   5 | >>>     sets: [base, pyton]",
				wantMsg:   `Laingfile:5:18: unknown set "pyton" (did you mean "python"?)`,
			},
			{
				// Found by the Nix build step, not the parser: the location survives the trip.
				name:      "unknown package",
				laingfile: "# syntax=ghcr.io/laingville/laingfile:1\nkind: runtime\nsets: [base]\npackages:\n  - hello\n  - pythn312\n",
				wantLine:  "   6 | >>>   - pythn312",
				wantMsg:   `unknown package "pythn312" (did you mean "python312"?)`,
			},
			// What nixpkgs refuses to evaluate, each at the line that asked for it.
			{
				name:      "removed alias set",
				laingfile: "# syntax=ghcr.io/laingville/laingfile:1\nkind: runtime\nsets: [base]\npackages:\n  - nodePackages.prettier\n",
				wantLine:  "   5 | >>>   - nodePackages.prettier",
				wantMsg:   `"nodePackages.prettier" cannot be used on x86_64-linux: nodePackages has been removed. Many packages are now available at the top level`,
			},
			{
				name:      "removed alias",
				laingfile: "# syntax=ghcr.io/laingville/laingfile:1\nkind: runtime\npackages: [hello, nodejs_18]\n",
				wantLine:  "   3 | >>> packages: [hello, nodejs_18]",
				wantMsg:   `"nodejs_18" cannot be used on x86_64-linux: Node.js 18.x has reached End-Of-Life and has been removed`,
			},
			{
				name:      "unfree",
				laingfile: "# syntax=ghcr.io/laingville/laingfile:1\nkind: runtime\nsets: [base]\npackages:\n  - terraform\n",
				wantLine:  "   5 | >>>   - terraform",
				wantMsg:   `"terraform" has an unfree license (bsl11): to use it, set ` + "`allowUnfree: true` under `nixpkgs: config:`",
			},
			{
				name:      "broken",
				laingfile: "# syntax=ghcr.io/laingville/laingfile:1\nkind: runtime\npackages:\n  - dhall-lsp-server\n",
				wantLine:  "   4 | >>>   - dhall-lsp-server",
				wantMsg:   `"dhall-lsp-server" is marked as broken in this nixpkgs`,
			},
			{
				name:      "insecure",
				laingfile: "# syntax=ghcr.io/laingville/laingfile:1\nkind: runtime\npackages:\n  - olm\n",
				wantLine:  "   4 | >>>   - olm",
				wantMsg:   `list "olm-3.2.16" under ` + "`nixpkgs: config: permittedInsecurePackages:`",
			},
			{
				name:      "not on this platform",
				laingfile: "# syntax=ghcr.io/laingville/laingfile:1\nkind: runtime\npackages:\n  - cpuid\n",
				platform:  "linux/arm64",
				wantLine:  "   4 | >>>   - cpuid",
				wantMsg:   `"cpuid" is not available on aarch64-linux (it supports`,
			},
			{
				name:      "package file that does not evaluate",
				laingfile: "# syntax=ghcr.io/laingville/laingfile:1\nkind: runtime\npackages:\n  - ./nix/app.nix\n",
				files:     map[string]string{"nix/app.nix": "{ stdenv, no-such-package }: stdenv.mkDerivation { name = \"app\"; }\n"},
				wantLine:  "   4 | >>>   - ./nix/app.nix",
				wantMsg:   `"./nix/app.nix" cannot be used on x86_64-linux:`,
			},
		} {
			t.Run(tc.name, func(t *testing.T) {
				dir := t.TempDir()
				writeFiles(t, dir, map[string]string{"Laingfile": tc.laingfile})
				writeFiles(t, dir, tc.files)
				platform := tc.platform
				if platform == "" {
					platform = "linux/amd64"
				}
				r := e.run(t, dir, nil, append(e.buildArgs(), "-f", "Laingfile", "--platform", platform, ".")...)
				if r.Err == nil {
					t.Fatalf("the build succeeded:\n%s", tail(r.Output, 30))
				}
				for _, want := range []string{"Laingfile:", tc.wantLine, tc.wantMsg} {
					if !strings.Contains(r.Output, want) {
						t.Errorf("the output has no %q:\n%s", want, tail(r.Output, 30))
					}
				}
				if strings.Contains(r.Output, "goroutine ") || strings.Contains(r.Output, "panic") {
					t.Errorf("the output leaks Go internals:\n%s", tail(r.Output, 30))
				}
			})
		}
	})

	t.Run("bake", func(t *testing.T) {
		for _, ex := range examples {
			t.Run(ex.lang, func(t *testing.T) {
				checkBakePrint(t, e, ex)
				if ex.bake {
					checkExampleBake(t, e, ex)
				}
			})
		}
	})

	t.Run("root bake", func(t *testing.T) {
		checkRootBake(t, e, examples[0])
	})
}

// checkExampleRuntime builds an example's runtime for both platforms with docker buildx build
// --push, twice (the second build is cached and must give the same image), checks the pushed
// index and runs the image's command.
func checkExampleRuntime(t *testing.T, e *buildxEnv, ex example) {
	dir := filepath.Join(e.root, "examples", ex.lang)
	build := func(ref string) buildxRun {
		return e.mustBuildx(t, dir, "-f", "Laingfile", "--target", "runtime", "--platform", bothPlatforms, "--push", "-t", ref, ".")
	}
	ref, rebuilt := imageName(t, "runtime"), imageName(t, "rebuilt")
	first := build(ref)
	cached := build(rebuilt)
	if n := strings.Count(cached.Output, " CACHED\n"); n < 10 {
		t.Errorf("the second build reported %d cached steps, want at least 10", n)
	}

	images := pulledImages(t, ref)
	if got := slices.Sorted(maps.Keys(images)); !slices.Equal(got, []string{"linux/amd64", "linux/arm64"}) {
		t.Fatalf("pushed platforms %v, want linux/amd64 and linux/arm64", got)
	}
	// The same images again; the indexes differ, by the build times in their provenance.
	for platform, img := range pulledImages(t, rebuilt) {
		if d1, d2 := imageDigest(t, images[platform]), imageDigest(t, img); d1 != d2 {
			t.Errorf("%s: the rebuild pushed %s, the first build %s", platform, d2, d1)
		}
	}
	var sizes []string
	for _, platform := range []string{"linux/amd64", "linux/arm64"} {
		img := images[platform]
		assertBuiltFor(t, img, platform)
		layers, size := imageSize(t, img)
		sizes = append(sizes, fmt.Sprintf("%s %d layers %.1f MiB", platform, layers, float64(size)/(1<<20)))

		if platform == "linux/arm64" && !ex.runArm64 {
			continue
		}
		checkImageCommand(t, ref, platform, img, ex.output)
	}
	t.Logf("%s runtime: first build %s, cached %s; %s", ex.lang,
		first.Duration.Round(100*time.Millisecond), cached.Duration.Round(100*time.Millisecond), strings.Join(sizes, ", "))
}

// checkImageCommand runs the platform's image of ref with its own command (entrypoint and
// cmd) and checks that it prints want.
func checkImageCommand(t *testing.T, ref, platform string, img v1.Image, want string) {
	t.Helper()
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	command := append(slices.Clone(cfg.Config.Entrypoint), cfg.Config.Cmd...)
	if len(command) == 0 {
		t.Fatalf("%s: the image has no command", platform)
	}
	out := mustRunInImage(t, imageRun{Image: ref, Platform: platform, Script: shellJoin(command)})
	if strings.TrimSpace(out) != want {
		t.Errorf("%s: %v printed %q, want %q", platform, command, out, want)
	}
}

// bakeTarget is a target as `docker buildx bake --print` shows it.
type bakeTarget struct {
	Context    string            `json:"context"`
	Contexts   map[string]string `json:"contexts"`
	Dockerfile string            `json:"dockerfile"`
	Target     string            `json:"target"`
	Args       map[string]string `json:"args"`
	Platforms  []string          `json:"platforms"`
	Tags       []string          `json:"tags"`
}

// bakePrint runs docker buildx bake --print in dir and returns the targets.
func (e *buildxEnv) bakePrint(t *testing.T, dir string, env []string, targets ...string) map[string]bakeTarget {
	t.Helper()
	r := e.run(t, dir, env, append([]string{"bake", "--print"}, targets...)...)
	if r.Err != nil {
		t.Fatalf("docker buildx bake --print: %v\n%s", r.Err, r.Output)
	}
	var printed struct {
		Target map[string]bakeTarget `json:"target"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &printed); err != nil {
		t.Fatalf("bake --print: %v\n%s", err, r.Stdout)
	}
	return printed.Target
}

// checkBakePrint checks an example's docker-bake.hcl without building: both targets for both
// platforms from the Laingfile; no overrides by default (the `# syntax=` line and the pinned
// builder and nixpkgs apply), and with the variables set, the frontend through
// BUILDKIT_SYNTAX and the named contexts.
func checkBakePrint(t *testing.T, e *buildxEnv, ex example) {
	dir := filepath.Join(e.root, "examples", ex.lang)
	for _, overridden := range []bool{false, true} {
		var env []string
		if overridden {
			env = e.bakeEnv()
		}
		targets := e.bakePrint(t, dir, env)
		for _, name := range []string{"devcontainer", "runtime"} {
			got := targets[name]
			wantTag := "ghcr.io/acme/" + ex.lang + "-example/" + name + ":latest"
			if got.Dockerfile != "Laingfile" || got.Target != name || got.Context != "." ||
				!slices.Equal(got.Platforms, []string{"linux/amd64", "linux/arm64"}) || !slices.Equal(got.Tags, []string{wantTag}) {
				t.Errorf("bake target %s = %+v", name, got)
			}
			wantContexts := map[string]string{}
			wantArgs := map[string]string{}
			if overridden {
				wantContexts = map[string]string{
					"laingfile":   "docker-image://" + e.frontend,
					"nix-builder": "docker-image://" + e.builder,
					"nixpkgs":     e.nixpkgs,
				}
				wantArgs = map[string]string{"BUILDKIT_SYNTAX": "laingfile"}
			}
			if !maps.Equal(got.Contexts, wantContexts) || !maps.Equal(got.Args, wantArgs) {
				t.Errorf("bake target %s (overrides %v): contexts %v args %v, want %v and %v",
					name, overridden, got.Contexts, got.Args, wantContexts, wantArgs)
			}
		}
	}
}

// checkExampleBake runs the example's own docker-bake.hcl with its override variables set and
// checks that both targets were pushed for both platforms.
func checkExampleBake(t *testing.T, e *buildxEnv, ex example) {
	dir := filepath.Join(e.root, "examples", ex.lang)
	registry := fmt.Sprintf("%s/e2e/bake-%s", testenv.Registry(t), ex.lang)
	tag := fmt.Sprint(time.Now().UnixNano())
	env := append(e.bakeEnv(), "REGISTRY="+registry, "TAG="+tag)
	// Bake asks for leave to read files outside the directory it runs in: the fixture.
	r := e.run(t, dir, env, "bake", "--builder", buildxBuilder, "--allow", "fs.read="+e.nixpkgs, "--push")
	if r.Err != nil {
		t.Fatalf("docker buildx bake: %v\n%s", r.Err, tail(r.Output, 60))
	}
	t.Logf("%s bake (devcontainer and runtime, both platforms): %s", ex.lang, r.Duration.Round(100*time.Millisecond))
	for _, target := range []string{"devcontainer", "runtime"} {
		ref := fmt.Sprintf("%s/%s:%s", registry, target, tag)
		images := pulledImages(t, ref)
		if got := slices.Sorted(maps.Keys(images)); !slices.Equal(got, []string{"linux/amd64", "linux/arm64"}) {
			t.Errorf("%s: pushed platforms %v, want linux/amd64 and linux/arm64", target, got)
			continue
		}
		for platform, img := range images {
			cfg, err := img.ConfigFile()
			if err != nil {
				t.Fatal(err)
			}
			_, isDev := cfg.Config.Labels["devcontainer.metadata"]
			if isDev != (target == "devcontainer") {
				t.Errorf("%s %s: devcontainer.metadata label present = %v", target, platform, isDev)
			}
			if cfg.Architecture != strings.TrimPrefix(platform, "linux/") {
				t.Errorf("%s %s: config architecture %q", target, platform, cfg.Architecture)
			}
		}
	}
}

// checkRootBake builds an example through the repository's docker-bake.hcl, where the examples
// take the frontend from the `laingfile` named context: by default the `frontend` target (the
// Dockerfile, which needs the network), here the test image. It also checks the default wiring
// with --print.
func checkRootBake(t *testing.T, e *buildxEnv, ex example) {
	printed := e.bakePrint(t, e.root, nil, "examples")
	frontend, ok := printed["frontend"]
	if !ok || frontend.Dockerfile != "Dockerfile" || !slices.Equal(frontend.Platforms, []string{"linux/amd64", "linux/arm64"}) {
		t.Errorf("bake target frontend = %+v", frontend)
	}
	for _, lang := range []string{"python", "node", "go", "rust"} {
		for _, target := range []string{"devcontainer", "runtime"} {
			name := "example-" + lang + "-" + target
			got, ok := printed[name]
			if !ok || got.Context != "examples/"+lang || got.Dockerfile != "Laingfile" ||
				got.Args["BUILDKIT_SYNTAX"] != "laingfile" || got.Contexts["laingfile"] != "target:frontend" {
				t.Errorf("bake target %s = %+v", name, got)
			}
		}
	}

	name := "example-" + ex.lang + "-runtime"
	ref := imageName(t, "runtime")
	env := []string{
		"LAINGFILE_FRONTEND=docker-image://" + e.frontend,
		"NIX_BUILDER=docker-image://" + e.builder,
		// Relative to the directory bake runs in, as a user of this checkout would write it.
		"NIXPKGS=test/fixtures/nixpkgs",
	}
	r := e.run(t, e.root, env, "bake", "--builder", buildxBuilder, name,
		"--set", name+".platform=linux/amd64", "--set", name+".tags="+ref, "--push")
	if r.Err != nil {
		t.Fatalf("docker buildx bake %s: %v\n%s", name, r.Err, tail(r.Output, 60))
	}
	out := mustRunInImage(t, imageRun{Image: ref, Script: "python3 -m app"})
	if strings.TrimSpace(out) != ex.output {
		t.Errorf("the image built by the root bake file printed %q, want %q", out, ex.output)
	}
}

// checkDockerfileMatchesImage compares the Dockerfile's final stage with the image
// hack/frontendimage pushed: the same entrypoint, labels and -ldflags, so that either way of
// building gives a frontend that BuildKit treats the same.
func checkDockerfileMatchesImage(t *testing.T, e *buildxEnv) {
	data, err := os.ReadFile(filepath.Join(e.root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := parser.Parse(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	stages, _, err := instructions.Parse(res.AST, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(stages) == 0 {
		t.Fatal("the Dockerfile has no stage")
	}
	final := stages[len(stages)-1]
	if final.BaseName != "scratch" {
		t.Errorf("the final stage is FROM %s, want scratch", final.BaseName)
	}
	lex := shell.NewLex('\\')
	env := shell.EnvsFromSlice([]string{"VERSION=e2e"})
	labels := map[string]string{}
	var entrypoint []string
	for _, c := range final.Commands {
		switch c := c.(type) {
		case *instructions.LabelCommand:
			for _, kv := range c.Labels {
				v, _, err := lex.ProcessWord(kv.Value, env)
				if err != nil {
					t.Fatal(err)
				}
				labels[kv.Key] = v
			}
		case *instructions.EntrypointCommand:
			entrypoint = c.CmdLine
		}
	}

	ref, err := name.ParseReference(e.frontend, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := remote.Index(ref)
	if err != nil {
		t.Fatal(err)
	}
	manifest, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(manifest.Manifests) != 2 {
		t.Errorf("the frontend image has %d manifests, want linux/amd64 and linux/arm64", len(manifest.Manifests))
	}
	img, err := idx.Image(manifest.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(entrypoint, cfg.Config.Entrypoint) {
		t.Errorf("Dockerfile ENTRYPOINT %q, image %q", entrypoint, cfg.Config.Entrypoint)
	}
	for k, v := range cfg.Config.Labels {
		if labels[k] != v {
			t.Errorf("label %s: Dockerfile %q, image %q", k, labels[k], v)
		}
	}
	for k := range labels {
		if _, ok := cfg.Config.Labels[k]; !ok {
			t.Errorf("label %s is in the Dockerfile but not in the image", k)
		}
	}

	// The same flags in both: -ldflags and the binary's path.
	tool, err := os.ReadFile(filepath.Join(e.root, "hack", "frontendimage", "main.go"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []struct{ dockerfile, tool string }{
		{`-ldflags "-s -w -X main.version=$VERSION"`, `"-ldflags", "-s -w -X main.version="+version`},
		{`-trimpath`, `"-trimpath"`},
		{`CGO_ENABLED=0`, `"CGO_ENABLED=0"`},
		{`/bin/laingfile-frontend ./cmd/laingfile-frontend`, `"./cmd/laingfile-frontend"`},
	} {
		if !bytes.Contains(data, []byte(want.dockerfile)) || !bytes.Contains(tool, []byte(want.tool)) {
			t.Errorf("the Dockerfile should have %s and hack/frontendimage %s", want.dockerfile, want.tool)
		}
	}
}

func imageDigest(t *testing.T, img v1.Image) v1.Hash {
	t.Helper()
	if img == nil {
		t.Fatal("no image for this platform")
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// imageSize is an image's layer count and compressed size (layers and config), as pushed.
func imageSize(t *testing.T, img v1.Image) (int, int64) {
	t.Helper()
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	size := m.Config.Size
	for _, l := range m.Layers {
		size += l.Size
	}
	return len(m.Layers), size
}

// shellJoin quotes a command for /bin/sh -c.
func shellJoin(args []string) string {
	quoted := make([]string, len(args))
	for i, a := range args {
		quoted[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(quoted, " ")
}
