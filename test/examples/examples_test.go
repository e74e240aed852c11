// Package examples_test checks the files of examples/ that no build reads: every example has a
// Laingfile with a devcontainer and a runtime target, a docker-bake.hcl, a devcontainer.json
// that uses the image its GitHub workflow pushes, and workflows that actionlint accepts. The
// builds themselves are tested in test/e2e.
package examples_test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/laingville/laingfile/test/testenv"
)

// examples lists the directories under examples/; each must be complete.
func examples(t *testing.T) []string {
	t.Helper()
	dirs, err := filepath.Glob(filepath.Join(testenv.RepoRoot(t), "examples", "*"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, d := range dirs {
		if fi, err := os.Stat(d); err == nil && fi.IsDir() {
			out = append(out, d)
		}
	}
	if len(out) < 4 {
		t.Fatalf("found %d examples, want at least python, node, go and rust", len(out))
	}
	return out
}

// TestWorkflowsPassActionlint runs actionlint (installed by hack/tools.sh) over every example's
// GitHub workflows and fails on any finding. Under -short it is skipped when actionlint is not
// installed, so that unit test runs need no tools.
func TestWorkflowsPassActionlint(t *testing.T) {
	bin, err := exec.LookPath("actionlint")
	if err != nil {
		if testing.Short() {
			t.Skip("actionlint is not installed (hack/tools.sh installs it)")
		}
		t.Fatalf("actionlint is not on PATH (%v): run hack/tools.sh", err)
	}
	var files []string
	for _, dir := range examples(t) {
		found, err := filepath.Glob(filepath.Join(dir, ".github", "workflows", "*.yml"))
		if err != nil {
			t.Fatal(err)
		}
		if len(found) == 0 {
			t.Errorf("%s has no .github/workflows/*.yml", filepath.Base(dir))
		}
		files = append(files, found...)
	}
	// -shellcheck= and -pyflakes= turn off the optional linters, so that the result does not
	// depend on what else happens to be installed.
	cmd := exec.Command(bin, append([]string{"-no-color", "-shellcheck=", "-pyflakes="}, files...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("actionlint found problems (%v):\n%s", err, out)
	}
	if len(bytes.TrimSpace(out)) != 0 {
		t.Fatalf("actionlint printed:\n%s", out)
	}
}

// TestExamplesAreComplete checks that each example has what docs/usage.md promises, and that
// its devcontainer.json, workflow and bake file agree on the image names.
func TestExamplesAreComplete(t *testing.T) {
	for _, dir := range examples(t) {
		lang := filepath.Base(dir)
		t.Run(lang, func(t *testing.T) {
			read := func(rel string) string {
				t.Helper()
				data, err := os.ReadFile(filepath.Join(dir, rel))
				if err != nil {
					t.Fatal(err)
				}
				return string(data)
			}
			image := "ghcr.io/acme/" + lang + "-example"

			laingfile := read("Laingfile")
			if !strings.HasPrefix(laingfile, "# syntax=") {
				t.Errorf("the Laingfile does not start with a # syntax= line")
			}
			for _, target := range []string{"devcontainer", "runtime"} {
				if !regexp.MustCompile(`(?m)^  ` + target + `:\n    kind: ` + target + `$`).MatchString(laingfile) {
					t.Errorf("the Laingfile has no %s target of kind %s", target, target)
				}
			}
			if !regexp.MustCompile(`(?m)^    cmd: \[`).MatchString(laingfile) || !strings.Contains(laingfile, "copy:") {
				t.Errorf("the runtime target should copy the app and run it with cmd:")
			}

			var dc struct {
				Image      string `json:"image"`
				RemoteUser string `json:"remoteUser"`
			}
			if err := json.Unmarshal(stripLineComments(read(".devcontainer/devcontainer.json")), &dc); err != nil {
				t.Fatalf("devcontainer.json: %v", err)
			}
			if dc.Image != image+"/devcontainer" || dc.RemoteUser != "vscode" {
				t.Errorf("devcontainer.json: image %q remoteUser %q, want %s/devcontainer and vscode", dc.Image, dc.RemoteUser, image)
			}

			workflow := read(".github/workflows/build.yml")
			for _, want := range []string{
				"uses: docker/setup-qemu-action@v3", "uses: docker/setup-buildx-action@v3", "uses: docker/build-push-action@v6",
				"file: Laingfile", "target: ${{ matrix.target }}", "target: [devcontainer, runtime]",
				"platforms: linux/amd64,linux/arm64", "cache-from: type=gha", "cache-to: type=gha",
				"IMAGE: " + image, "${{ env.IMAGE }}/${{ matrix.target }}:latest",
			} {
				if !strings.Contains(workflow, want) {
					t.Errorf("build.yml has no %q", want)
				}
			}

			bake := read("docker-bake.hcl")
			for _, want := range []string{
				`default = "` + image + `"`, `platforms  = ["linux/amd64", "linux/arm64"]`,
				`target   = "devcontainer"`, `target   = "runtime"`, `dockerfile = "Laingfile"`,
			} {
				if !strings.Contains(bake, want) {
					t.Errorf("docker-bake.hcl has no %q", want)
				}
			}
		})
	}
}

// stripLineComments drops the // comment lines that devcontainer.json (JSON with comments)
// allows, which is all the examples use.
func stripLineComments(s string) []byte {
	var b strings.Builder
	for _, line := range strings.Split(s, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "//") {
			b.WriteString(line + "\n")
		}
	}
	return []byte(b.String())
}
