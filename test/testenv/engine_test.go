package testenv_test

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/laingville/laingfile/test/testenv"
)

// TestEngines checks the Docker Engines of the environment: each runs its image store, and
// its default builder (buildx's docker driver, named after the engine's context) builds for
// every platform the end-to-end tests use.
func TestEngines(t *testing.T) {
	testenv.SkipIfShort(t)
	for _, store := range []string{testenv.EngineClassic, testenv.EngineContainerd} {
		t.Run(store, func(t *testing.T) {
			eng := testenv.NewEngine(t, store)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			out, err := eng.Docker(ctx, "buildx", "inspect", eng.Context).CombinedOutput()
			if err != nil {
				t.Fatalf("%s: docker buildx inspect %s: %v\n%s", eng, eng.Context, err, out)
			}
			if !regexp.MustCompile(`(?m)^Driver:\s+docker$`).Match(out) {
				t.Errorf("%s: the default builder is not buildx's docker driver:\n%s", eng, out)
			}
			var platforms string
			for _, line := range strings.Split(string(out), "\n") {
				if p, ok := strings.CutPrefix(line, "Platforms:"); ok {
					platforms = strings.TrimSpace(p)
				}
			}
			for _, p := range []string{"linux/amd64", "linux/arm64"} {
				if !strings.Contains(", "+platforms+",", ", "+p+",") {
					t.Errorf("%s: the default builder lists no %s (platforms %q); qemu-aarch64 must be registered in binfmt_misc before the engine starts: run hack/env.sh down && hack/env.sh up",
						eng, p, platforms)
				}
			}
		})
	}
}

// TestEngineFor needs no daemon: the names hack/env.sh gives the engines.
func TestEngineFor(t *testing.T) {
	e := testenv.EngineFor(testenv.EngineContainerd)
	if e.Context != "laingfile-containerd" || e.Host != "unix:///run/laingfile/docker-containerd.sock" {
		t.Errorf("EngineFor(containerd) = %+v", e)
	}
}
