package e2e

import (
	"strings"
	"testing"

	"github.com/laingville/laingfile/test/testenv"
)

// TestAddingAPackageMakesOnlyItsLayers builds a runtime, then the same runtime with one more
// package: the Nix step runs again, and of the layer steps only those of the new store paths
// do; every other layer step is a cache hit, which reads none of its content.
func TestAddingAPackageMakesOnlyItsLayers(t *testing.T) {
	testenv.SkipIfShort(t)
	dir := t.TempDir()
	laingfile := "kind: runtime\nsets: [base]\npackages: [./app.nix%s]\n"
	writeFiles(t, dir, map[string]string{
		"Laingfile": strings.Replace(laingfile, "%s", "", 1),
		// A package of its own, new on every run, so that the first build makes its layer.
		"app.nix": `{ runCommand }: runCommand "incremental-app" { fresh = "` + nonce(t) + `"; } "mkdir -p $out; echo $fresh >$out/fresh"
`,
	})
	first := mustBuild(t, buildRequest{Dir: dir, Platforms: "linux/amd64"})
	if ran := layerSteps(first, false); len(ran) == 0 {
		t.Fatalf("the first build ran no layer step: %v", layerSteps(first, true))
	}

	writeFiles(t, dir, map[string]string{"Laingfile": strings.Replace(laingfile, "%s", ", jq", 1)})
	second := mustBuild(t, buildRequest{Dir: dir, Platforms: "linux/amd64"})
	ran, cached := layerSteps(second, false), layerSteps(second, true)
	t.Logf("after adding jq: layer steps run %v; %d from the cache", ran, len(cached))
	if !nixStepRan(second) {
		t.Error("the Nix step did not run after the Laingfile changed")
	}
	// jq and oniguruma are new, and the profile, which links to them.
	for _, name := range ran {
		if !strings.Contains(name, "-jq-") && !strings.Contains(name, "-oniguruma-") && !strings.Contains(name, "-laingfile-profile") {
			t.Errorf("the layer step of an unchanged path ran: %s", name)
		}
	}
	if len(ran) == 0 || len(ran) > 3 || len(cached) < 10 {
		t.Errorf("%d layer steps ran and %d were cached: want the new paths' only", len(ran), len(cached))
	}
}

// layerSteps names the layer steps of a build that ran (cached false) or came from the cache.
func layerSteps(res *buildResult, cached bool) []string {
	var out []string
	for _, v := range res.Vertexes {
		if strings.HasPrefix(v.Name, "layer ") && strings.HasSuffix(v.Name, ": from the Nix store") && v.Cached == cached {
			out = append(out, v.Name)
		}
	}
	return out
}

func nixStepRan(res *buildResult) bool {
	for _, v := range res.Vertexes {
		if strings.HasPrefix(v.Name, "nix: realise") && !v.Cached {
			return true
		}
	}
	return false
}
