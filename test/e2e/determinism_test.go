package e2e

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/laingville/laingfile/test/testenv"
)

// TestTwoDaemonsBuildIdenticalImages builds the python example's two images on the
// environment's buildkitd and on a second one with a fresh root (a cold cache), in opposite
// orders: every image, and so every layer, must have the same digest.
func TestTwoDaemonsBuildIdenticalImages(t *testing.T) {
	testenv.SkipIfShort(t)
	dir := filepath.Join(testenv.RepoRoot(t), "examples", "python")
	second := testenv.NewDaemon(t)
	c2, err := second.Client(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()

	digests := map[string]map[string]string{} // daemon -> target -> image digest
	builds := []struct {
		daemon  string
		targets []string
	}{
		{"environment", []string{"devcontainer", "runtime"}},
		{"fresh", []string{"runtime", "devcontainer"}},
	}
	for _, b := range builds {
		digests[b.daemon] = map[string]string{}
		for _, target := range b.targets {
			req := buildRequest{Dir: dir, Target: target, Platforms: "linux/amd64", Push: imageName(t, b.daemon+"-"+target)}
			if b.daemon == "fresh" {
				req.Client = c2
			}
			res := mustBuild(t, req)
			digests[b.daemon][target] = res.Response.ExporterResponse["containerimage.digest"]
		}
	}
	for _, target := range []string{"devcontainer", "runtime"} {
		a, b := digests["environment"][target], digests["fresh"][target]
		if a == "" || a != b {
			t.Errorf("%s: image digest %s on the environment's daemon, %s on a fresh one", target, a, b)
		}
	}
}
