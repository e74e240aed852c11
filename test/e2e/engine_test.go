package e2e

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/laingville/laingfile/test/testenv"
)

// noMergeOpWarning is the start of the warning the frontend gives on a builder without MergeOp
// (frontend/build.go; docs/usage.md, "Choosing a builder"), as buildx prints it.
const noMergeOpWarning = "this builder has no MergeOp (Docker's classic image store?): layers are chained"

// TestEngine builds with Docker Engine's default builder, buildx's `docker` driver, which is
// what `docker buildx build` uses on a machine with Docker and nothing else set up: on the
// classic image store (no MergeOp, so chained layers and a warning; --load of one platform)
// and on the containerd image store (MergeOp; --load of both platforms). The frontend, builder
// image and nixpkgs are those of TestBuildx; the engines pull them from the test registry
// themselves. The loaded images are run by the engine that built them.
func TestEngine(t *testing.T) {
	testenv.SkipIfShort(t)
	classic := testenv.NewEngine(t, testenv.EngineClassic)
	containerd := testenv.NewEngine(t, testenv.EngineContainerd)
	e := newBuildxEnv(t)
	const want = "hello from the Laingfile python example"
	dir := filepath.Join(e.root, "examples", "python")

	t.Run("classic store", func(t *testing.T) {
		eng := classic
		tag := engineImageTag(t, eng)
		r := e.mustBuildxOnEngine(t, eng, dir, "-f", "Laingfile", "--target", "runtime",
			"--platform", "linux/amd64", "--load", "-t", tag, ".")
		t.Logf("%s: built and loaded in %s", eng, r.Duration.Round(100*time.Millisecond))
		if !strings.Contains(r.Output, noMergeOpWarning) {
			t.Errorf("the build on the classic store did not warn %q:\n%s", noMergeOpWarning, tail(r.Output, 30))
		}
		if !strings.Contains(r.Output, "(chained: the builder has no MergeOp)") {
			t.Errorf("the build on the classic store shows no chained layers:\n%s", tail(r.Output, 30))
		}
		checkEngineImage(t, eng, tag, "linux/amd64")
		if out := engineRun(t, eng, "linux/amd64", tag); out != want {
			t.Errorf("%s: the image printed %q, want %q", eng, out, want)
		}
	})

	t.Run("containerd store", func(t *testing.T) {
		eng := containerd
		tag := engineImageTag(t, eng)
		r := e.mustBuildxOnEngine(t, eng, dir, "-f", "Laingfile", "--target", "runtime",
			"--platform", bothPlatforms, "--load", "-t", tag, ".")
		t.Logf("%s: built and loaded (both platforms) in %s", eng, r.Duration.Round(100*time.Millisecond))
		for _, unwanted := range []string{"no MergeOp", "(chained:"} {
			if strings.Contains(r.Output, unwanted) {
				t.Errorf("the build on the containerd store, which has MergeOp, printed %q:\n%s", unwanted, tail(r.Output, 30))
			}
		}
		for _, platform := range strings.Split(bothPlatforms, ",") {
			checkEngineImage(t, eng, tag, platform)
			if out := engineRun(t, eng, platform, tag); out != want {
				t.Errorf("%s %s: the image printed %q, want %q", eng, platform, out, want)
			}
			// The programs are the platform's own (arm64 ones run emulated).
			machine := map[string]string{"linux/amd64": "x86_64", "linux/arm64": "aarch64"}[platform]
			if out := engineRun(t, eng, platform, tag, "uname", "-m"); out != machine {
				t.Errorf("%s %s: uname -m printed %q, want %q", eng, platform, out, machine)
			}
		}
	})
}

// mustBuildxOnEngine runs `docker buildx build` with buildArgs (the test frontend, builder image
// and fixture nixpkgs) on eng's default builder: the `docker` driver builder named after the
// engine's docker context, which buildx uses only with that context current.
func (e *buildxEnv) mustBuildxOnEngine(t *testing.T, eng testenv.Engine, dir string, args ...string) buildxRun {
	t.Helper()
	base := e.buildArgs()
	i := slices.Index(base, "--builder")
	if i < 0 || i+1 >= len(base) {
		t.Fatalf("buildArgs() %q has no --builder to replace", base)
	}
	base = slices.Clone(base)
	base[i+1] = eng.Context
	r := e.run(t, dir, []string{"DOCKER_CONTEXT=" + eng.Context}, append(base, args...)...)
	if r.Err != nil {
		t.Fatalf("%s: docker buildx build %s: %v\n%s", eng, strings.Join(args, " "), r.Err, tail(r.Output, 60))
	}
	return r
}

// engineImageTag is a tag of the engine's own image store for this test; the image is removed
// when the test ends.
func engineImageTag(t *testing.T, eng testenv.Engine) string {
	t.Helper()
	n := strings.ToLower(strings.NewReplacer("/", "-", "_", "-", " ", "-").Replace(t.Name()))
	tag := fmt.Sprintf("laingfile-e2e/%s:%d", n, time.Now().UnixNano())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if out, err := eng.Docker(ctx, "image", "rm", tag).CombinedOutput(); err != nil {
			t.Logf("%s: docker image rm %s: %v\n%s", eng, tag, err, out)
		}
	})
	return tag
}

// engineDocker runs `docker --context <engine> args...` and returns its stdout, failing the
// test with both outputs if it fails.
func engineDocker(t *testing.T, eng testenv.Engine, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := eng.Docker(ctx, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: docker %s: %v\nstdout:\n%s\nstderr:\n%s", eng, strings.Join(args, " "), err, tail(stdout.String(), 20), tail(stderr.String(), 20))
	}
	return stdout.String()
}

// engineRun runs the loaded image for platform in the engine, with its own command or the one
// given, and returns what it printed on stdout, trimmed. (stderr has the engine's warning about
// IP forwarding, which the test environment leaves off.)
func engineRun(t *testing.T, eng testenv.Engine, platform, image string, command ...string) string {
	t.Helper()
	args := append([]string{"run", "--rm", "--network", "none", "--platform", platform, image}, command...)
	return strings.TrimSpace(engineDocker(t, eng, args...))
}

// checkEngineImage checks that the engine's store has image for platform.
func checkEngineImage(t *testing.T, eng testenv.Engine, image, platform string) {
	t.Helper()
	args := []string{"image", "inspect", "--format", "{{.Os}}/{{.Architecture}}", image}
	if eng.Store == testenv.EngineContainerd {
		// The classic store keeps one image per tag and has no --platform to choose from.
		args = append(args[:2], append([]string{"--platform", platform}, args[2:]...)...)
	}
	if got := strings.TrimSpace(engineDocker(t, eng, args...)); got != platform {
		t.Errorf("%s: docker image inspect %s says %s, want %s", eng, image, got, platform)
	}
}
