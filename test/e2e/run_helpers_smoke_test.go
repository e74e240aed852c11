package e2e

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/laingville/laingfile/test/testenv"
)

// TestRunInImage checks the helper itself: the image's user, environment and working
// directory apply, a user can be forced, and a failing script reports its status.
func TestRunInImage(t *testing.T) {
	testenv.SkipIfShort(t)
	ref := imageName(t, "runtime")
	mustBuild(t, buildRequest{Dir: filepath.Join(testenv.RepoRoot(t), "examples", "python"), Target: "runtime", Platforms: "linux/amd64", Push: ref})

	out := mustRunInImage(t, imageRun{Image: ref, Script: "id -u; echo $HOME; pwd"})
	if got := strings.Fields(out); len(got) != 3 || got[0] != "1000" || got[1] != "/app" || got[2] != "/app" {
		t.Errorf("as the image user: %q, want 1000 /app /app", out)
	}
	if out := mustRunInImage(t, imageRun{Image: ref, User: "root", Script: "id -u"}); strings.TrimSpace(out) != "0" {
		t.Errorf("as root: %q", out)
	}
	if out, status := runInImage(t, imageRun{Image: ref, Script: "echo failing; exit 3"}); status != 3 || !strings.Contains(out, "failing") {
		t.Errorf("failing script: status %d output %q", status, out)
	}
}
