package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/laingville/laingfile/nixsets"
	"github.com/laingville/laingfile/test/testenv"
)

// The tests of `laing shell` enter the files it writes with the host's Nix (Debian's, from
// hack/tools.sh), with the fixture universe in place of the pin (`laing shell --nixpkgs`), as
// the builds pass it as the `nixpkgs` named context.

// hostNixEnv keeps the host's Nix offline and usable as root without build users or a sandbox
// (the builder image's settings), with flakes, and nix-shell on the host's bash: without a
// <nixpkgs> to take bashInteractive from, nix-shell would look for one and then use it anyway.
func hostNixEnv() []string {
	return append(os.Environ(),
		"NIX_CONFIG=sandbox = false\nbuild-users-group =\nsubstituters =\nexperimental-features = nix-command flakes\nflake-registry =",
		"NIX_REMOTE=", "NIX_PATH=", "NIX_BUILD_SHELL=bash")
}

// requireHostNix fails when the host's Nix is missing.
func requireHostNix(t *testing.T) {
	t.Helper()
	for _, tool := range []string{"nix", "nix-shell", "nix-build", "nix-instantiate", "nix-store"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found: run hack/setup.sh (hack/tools.sh installs Debian's nix-bin)", tool)
		}
	}
}

// inDir runs a command in dir with the host's Nix settings and returns its standard output;
// it fails the test when the command fails, unless wantFail.
func inDir(t *testing.T, dir string, wantFail bool, name string, args ...string) (stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = hostNixEnv()
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if (err != nil) != wantFail {
		t.Fatalf("%s %s in %s: %v (want failure: %v)\nstdout:\n%s\nstderr:\n%s", name, strings.Join(args, " "), dir, err, wantFail, out.String(), tail(errOut.String(), 40))
	}
	return out.String(), errOut.String()
}

// laingCLI builds cmd/laing into a temporary directory.
func laingCLI(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "laing")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/laing")
	cmd.Dir = testenv.RepoRoot(t)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/laing: %v\n%s", err, out)
	}
	return bin
}

// shellProject copies an example (with `cp -a`, which keeps the fixture's symbolic links) and
// returns the copy.
func shellProject(t *testing.T, example string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), example)
	if out, err := exec.Command("cp", "-a", filepath.Join(testenv.RepoRoot(t), "examples", example), dir).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v\n%s", err, out)
	}
	return dir
}

func fixtureDir(t *testing.T) string {
	return filepath.Join(testenv.RepoRoot(t), "test", "fixtures", "nixpkgs")
}

// TestShellHasTheImagesStorePaths builds the python example's devcontainer image for both
// Linux platforms and evaluates the shells of `laing shell`'s files with the host's Nix: each
// shell's profile and packages are store paths of the image of its system, and the x86_64-linux
// one, realised, has the image's closure, path for path.
func TestShellHasTheImagesStorePaths(t *testing.T) {
	testenv.SkipIfShort(t)
	requireHostNix(t)
	laing := laingCLI(t)
	dir := shellProject(t, "python")
	inDir(t, dir, false, laing, "shell", "--nixpkgs", fixtureDir(t))

	ref := imageName(t, "devcontainer")
	mustBuild(t, buildRequest{Dir: filepath.Join(testenv.RepoRoot(t), "examples", "python"), Target: "devcontainer",
		Platforms: "linux/amd64,linux/arm64", Push: ref})
	images := pulledImages(t, ref)
	for _, tt := range []struct{ platform, system string }{{"linux/amd64", "x86_64-linux"}, {"linux/arm64", "aarch64-linux"}} {
		img, ok := images[tt.platform]
		if !ok {
			t.Fatalf("no %s image", tt.platform)
		}
		image := map[string]bool{}
		for _, l := range layersWithHistory(t, img) {
			if paths, ok := strings.CutPrefix(l.CreatedBy, "nix: "); ok {
				for _, p := range strings.Fields(paths) {
					image[p] = true
				}
			}
		}
		shell := fmt.Sprintf("(import ./shell.nix { system = %q; })", tt.system)
		out, _ := inDir(t, dir, false, "nix-instantiate", "--eval", "--strict", "--json", "-E", shell+".report")
		var report nixsets.Report
		if err := json.Unmarshal([]byte(out), &report); err != nil {
			t.Fatalf("the %s shell's report: %v\n%s", tt.system, err, out)
		}
		if !image[report.Profile] {
			t.Errorf("the %s shell's profile %s is not in the %s image", tt.system, report.Profile, tt.platform)
		}
		for _, p := range report.Packages {
			for _, path := range p.Paths {
				if !image[path] {
					t.Errorf("%s: the %s shell's %s is not in the %s image", p.Attr, tt.system, path, tt.platform)
				}
			}
		}
		if tt.system != "x86_64-linux" {
			t.Logf("%s: the shell's profile %s and its %d packages' paths are the image's", tt.system, report.Profile, len(report.Packages))
			continue
		}
		// What the frontend realises for the image, realised by the host's Nix: its closure is
		// the image's store paths.
		inDir(t, dir, false, "nix-build", "--no-out-link", "-E", shell+".realise")
		out, _ = inDir(t, dir, false, "nix-store", append([]string{"--query", "--requisites"}, report.Roots...)...)
		closure := strings.Fields(out)
		var missing, extra []string
		for _, p := range closure {
			if !image[p] {
				extra = append(extra, p)
			}
		}
		for p := range image {
			if !slices.Contains(closure, p) {
				missing = append(missing, p)
			}
		}
		if len(missing)+len(extra) > 0 {
			t.Fatalf("the shell's closure (%d paths) is not the image's (%d paths):\nonly in the shell: %v\nonly in the image: %v", len(closure), len(image), extra, missing)
		}
		t.Logf("%s: the shell's closure is the image's %d store paths; profile %s", tt.system, len(image), report.Profile)
	}
}

// TestShellRunsTheSetsToolsWithNixShell enters the python example's shell with nix-shell, then
// checks that --check fails after an edit to the Laingfile and passes after regenerating, and
// that the new package is in the shell.
func TestShellRunsTheSetsToolsWithNixShell(t *testing.T) {
	testenv.SkipIfShort(t)
	requireHostNix(t)
	laing := laingCLI(t)
	dir := shellProject(t, "python")
	fixture := fixtureDir(t)
	inDir(t, dir, false, laing, "shell", "--nixpkgs", fixture)
	inDir(t, dir, false, laing, "shell", "--check", "--nixpkgs", fixture)

	out, _ := inDir(t, dir, false, "nix-shell", "--run", `command -v python3; python3 -c 'print("python from nix-shell")'; jq --version; command -v uv`)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || !strings.HasSuffix(lines[0], "-laingfile-profile/bin/python3") ||
		lines[1] != "python from nix-shell" || !strings.HasPrefix(lines[2], "jq-") || !strings.HasSuffix(lines[3], "-laingfile-profile/bin/uv") {
		t.Fatalf("nix-shell printed:\n%s\nwant python3 and uv from the profile, python's and jq's output", out)
	}

	// An edit makes the files stale; regenerated, the shell has the new package.
	laingfile := filepath.Join(dir, "Laingfile")
	data, err := os.ReadFile(laingfile)
	if err != nil {
		t.Fatal(err)
	}
	// terraform is unfree: a build would stop, the shell leaves it out and says so.
	edited := strings.Replace(string(data), "    sets: [base, vscodeCompat, nixTools, devTools, python, pythonDev]\n",
		"    sets: [base, vscodeCompat, nixTools, devTools, python, pythonDev]\n    packages: [hello, terraform]\n", 1)
	if edited == string(data) {
		t.Fatal("the example's devcontainer sets are not where the test expects them")
	}
	if err := os.WriteFile(laingfile, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	_, stderr := inDir(t, dir, true, laing, "shell", "--check", "--nixpkgs", fixture)
	if !strings.Contains(stderr, "request-x86_64-linux.json differs from what the Laingfile gives") {
		t.Fatalf("--check after the edit said:\n%s", stderr)
	}
	inDir(t, dir, false, "nix-shell", "--run", `[ ! -e "$laingfileProfile/bin/hello" ]`)
	inDir(t, dir, false, laing, "shell", "--nixpkgs", fixture)
	inDir(t, dir, false, laing, "shell", "--check", "--nixpkgs", fixture)
	out, stderr = inDir(t, dir, false, "nix-shell", "--run", `hello; [ -e "$laingfileProfile/bin/terraform" ] || echo no terraform`)
	if out != "Hello, world!\nno terraform\n" {
		t.Fatalf("the regenerated shell printed %q, want hello's greeting and no terraform in the profile", out)
	}
	if !strings.Contains(stderr, "laing shell: terraform is left out of the x86_64-linux shell: it has an unfree license") {
		t.Errorf("nix-shell does not say that terraform is left out:\n%s", stderr)
	}
}

// TestShellRunsTheSetsToolsWithNixDevelop enters the python example's shell through its flake
// with nix develop, in a pure evaluation: nixpkgs, an overlay and a package file are in the
// project. nix develop reads the environment by running bash on Nix's get-env.sh; the
// fixture's bash is busybox's sh, which cannot run it, so the project's overlay makes the
// shell's bash the host's (a link to /bin/bash, which the sandbox-less build reaches).
func TestShellRunsTheSetsToolsWithNixDevelop(t *testing.T) {
	testenv.SkipIfShort(t)
	requireHostNix(t)
	if _, stderr := inDir(t, t.TempDir(), false, "nix", "develop", "--help"); strings.Contains(stderr, "error") {
		t.Fatalf("the host's Nix has no nix develop:\n%s", stderr)
	}
	laing := laingCLI(t)
	dir := shellProject(t, "python")
	if out, err := exec.Command("cp", "-a", fixtureDir(t), filepath.Join(dir, "nixpkgs")).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v\n%s", err, out)
	}
	laingfile := filepath.Join(dir, "Laingfile")
	data, err := os.ReadFile(laingfile)
	if err != nil {
		t.Fatal(err)
	}
	edited := strings.Replace(string(data), "targets:\n", "overlays: [./nix/host-bash.nix]\ntargets:\n", 1)
	edited = strings.Replace(edited, "    sets: [base, vscodeCompat, nixTools, devTools, python, pythonDev]\n",
		"    sets: [base, vscodeCompat, nixTools, devTools, python, pythonDev]\n    packages: [./nix/greeting.nix]\n", 1)
	writeFiles(t, dir, map[string]string{
		"Laingfile": edited,
		"nix/host-bash.nix": `final: prev: {
  bashInteractive = prev.runCommand "host-bash" { } "mkdir -p $out/bin; ln -s /bin/bash $out/bin/bash";
}
`,
		"nix/greeting.nix": `{ writeShellScriptBin }: writeShellScriptBin "greeting" "echo greetings from a package file"` + "\n",
	})
	// No flake.nix yet: laing shell writes it. A relative --nixpkgs inside the project keeps
	// the flake's evaluation pure.
	if err := os.Remove(filepath.Join(dir, "flake.nix")); err != nil {
		t.Fatal(err)
	}
	inDir(t, dir, false, laing, "shell", "--nixpkgs", "nixpkgs")

	out, _ := inDir(t, dir, false, "nix", "develop", "--command", "sh", "-c",
		`command -v python3; python3 -c 'print("python from nix develop")'; jq --version; greeting`)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || !strings.HasSuffix(lines[0], "-laingfile-profile/bin/python3") ||
		lines[1] != "python from nix develop" || !strings.HasPrefix(lines[2], "jq-") || lines[3] != "greetings from a package file" {
		t.Fatalf("nix develop printed:\n%s\nwant python3 from the profile, python's, jq's and the package file's output", out)
	}
}
