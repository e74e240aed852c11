package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/laingville/laingfile/devshell"
	"github.com/laingville/laingfile/nixsets"
)

// project writes files (by slash-separated path) into a new directory and returns it.
func project(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, data := range files {
		writeFile(t, filepath.Join(dir, filepath.FromSlash(name)), data)
	}
	return dir
}

func writeFile(t *testing.T, name, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// laing runs the CLI and returns its exit code and output.
func laing(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// mustShell runs `laing shell` with args, which must succeed.
func mustShell(t *testing.T, args ...string) string {
	t.Helper()
	code, stdout, stderr := laing(append([]string{"shell"}, args...)...)
	if code != 0 {
		t.Fatalf("laing shell %s: exit %d\n%s%s", strings.Join(args, " "), code, stdout, stderr)
	}
	return stdout
}

// shellRequest is the generated request of a system.
func shellRequest(t *testing.T, dir, system string) nixsets.Request {
	t.Helper()
	var req nixsets.Request
	if err := json.Unmarshal([]byte(readFile(t, filepath.Join(dir, devshell.Dir, "request-"+system+".json"))), &req); err != nil {
		t.Fatal(err)
	}
	return req
}

func attrs(req nixsets.Request) []string {
	var out []string
	for _, p := range req.Packages {
		if p.Attr != "" {
			out = append(out, p.Attr)
		}
	}
	return out
}

const twoTargets = `# syntax=ghcr.io/laingville/laingfile:1
targets:
  runtime:
    kind: runtime
    sets: [base, python]
  devcontainer:
    kind: devcontainer
    sets: [base, devTools, python]
    packages: [hello]
`

// flakeLock is a lock whose nixpkgs input is a GitHub commit.
const flakeLock = `{"version": 7, "root": "root", "nodes": {
  "root": {"inputs": {"nixpkgs": "nixpkgs"}},
  "nixpkgs": {"locked": {"type": "github", "owner": "NixOS", "repo": "nixpkgs",
    "rev": "0123456789abcdef0123456789abcdef01234567",
    "narHash": "sha256-yxgb4AmkVHY5OOBrC79Vv6EVd4QZEotqv+6jcvA212M="}}}}`

func TestShellGeneratesTheTargetsRequest(t *testing.T) {
	pin := nixsets.DefaultPin()
	cve := nixsets.Overlays()[0].Name
	tests := []struct {
		name  string
		files map[string]string
		args  []string
		check func(t *testing.T, dir string, req nixsets.Request)
	}{{
		name:  "the first devcontainer by default, with the release's pin",
		files: map[string]string{"Laingfile": twoTargets},
		check: func(t *testing.T, dir string, req nixsets.Request) {
			if a := attrs(req); !slices.Contains(a, "hello") || !slices.Contains(a, "jq") || !slices.Contains(a, "python312") {
				t.Errorf("packages %q are not the devcontainer's", a)
			}
			if !slices.Equal(req.Exclude, []string{"sudo"}) {
				t.Errorf("exclude %q, want sudo as in the devcontainer image", req.Exclude)
			}
			if req.Nixpkgs != (nixsets.NixpkgsSource{URL: pin.TarballURL(), SHA256: pin.SHA256}) {
				t.Errorf("nixpkgs %+v is not the release's pin", req.Nixpkgs)
			}
			if !strings.Contains(readFile(t, filepath.Join(dir, devshell.Dir, "devshells.nix")), `"laingfile-devcontainer-shell"`) {
				t.Error("devshells.nix is not the devcontainer's")
			}
		},
	}, {
		name:  "--target",
		files: map[string]string{"Laingfile": twoTargets},
		args:  []string{"--target", "runtime"},
		check: func(t *testing.T, dir string, req nixsets.Request) {
			if a := attrs(req); slices.Contains(a, "hello") || !slices.Contains(a, "python312") || len(req.Exclude) != 0 {
				t.Errorf("packages %q exclude %q are not the runtime's", a, req.Exclude)
			}
		},
	}, {
		name: "the first target when there is no devcontainer",
		files: map[string]string{"Laingfile": `kind: runtime
sets: [python]
`},
		check: func(t *testing.T, dir string, req nixsets.Request) {
			if a := attrs(req); !slices.Contains(a, "python312") || slices.Contains(a, "jq") {
				t.Errorf("packages %q are not the runtime's", a)
			}
		},
	}, {
		name: "a rev pin with config, overlays and a package file",
		files: map[string]string{
			"Laingfile": `nixpkgs:
  rev: 0123456789abcdef0123456789abcdef01234567
  sha256: sha256-yxgb4AmkVHY5OOBrC79Vv6EVd4QZEotqv+6jcvA212M=
  config: {allowUnfree: true, permittedInsecurePackages: [olm-3.2.16]}
overlays: [` + cve + `, ./nix/overlay.nix]
kind: devcontainer
packages: [./nix/app.nix, terraform]
`,
			"nix/overlay.nix": "final: prev: { }\n",
			"nix/app.nix":     "{ hello }: hello\n",
		},
		check: func(t *testing.T, dir string, req nixsets.Request) {
			want := nixsets.NixpkgsSource{URL: nixsets.GitHubTarballURL("NixOS", "nixpkgs", "0123456789abcdef0123456789abcdef01234567"), SHA256: pin.SHA256}
			if req.Nixpkgs != want {
				t.Errorf("nixpkgs %+v, want %+v", req.Nixpkgs, want)
			}
			if req.Config["allowUnfree"] != true || req.Config["permittedInsecurePackages"] == nil {
				t.Errorf("config %v is not the Laingfile's", req.Config)
			}
			if !slices.Equal(req.Overlays, []string{"overlays/" + cve + ".nix", "../nix/overlay.nix"}) {
				t.Errorf("overlays %q", req.Overlays)
			}
			if req.Packages[0].File != "../nix/app.nix" || !slices.Contains(attrs(req), "terraform") {
				t.Errorf("packages %+v", req.Packages)
			}
			if _, err := os.Stat(filepath.Join(dir, devshell.Dir, "overlays", cve+".nix")); err != nil {
				t.Errorf("the built-in overlay is not written: %v", err)
			}
		},
	}, {
		name: "a url pin",
		files: map[string]string{"Laingfile": `nixpkgs:
  url: https://channels.example.org/nixexprs.tar.xz
  sha256: sha256-yxgb4AmkVHY5OOBrC79Vv6EVd4QZEotqv+6jcvA212M=
kind: devcontainer
`},
		check: func(t *testing.T, dir string, req nixsets.Request) {
			if req.Nixpkgs.URL != "https://channels.example.org/nixexprs.tar.xz" || req.Nixpkgs.SHA256 != pin.SHA256 {
				t.Errorf("nixpkgs %+v", req.Nixpkgs)
			}
		},
	}, {
		name: "a flake.lock's input",
		files: map[string]string{
			"Laingfile":  "nixpkgs: {flakeLock: ./flake.lock}\nkind: devcontainer\n",
			"flake.lock": flakeLock,
		},
		check: func(t *testing.T, dir string, req nixsets.Request) {
			if !strings.Contains(req.Nixpkgs.URL, "/0123456789abcdef0123456789abcdef01234567.tar.gz") || req.Nixpkgs.SHA256 != pin.SHA256 {
				t.Errorf("nixpkgs %+v is not the lock's", req.Nixpkgs)
			}
		},
	}, {
		name:  "--nixpkgs inside the project",
		files: map[string]string{"Laingfile": "kind: devcontainer\n", "vendor/nixpkgs/default.nix": "{ ... }: { }\n"},
		args:  []string{"--nixpkgs", "vendor/nixpkgs"}, // relative to the project, made so below
		check: func(t *testing.T, dir string, req nixsets.Request) {
			if req.Nixpkgs != (nixsets.NixpkgsSource{Path: "../vendor/nixpkgs"}) {
				t.Errorf("nixpkgs %+v", req.Nixpkgs)
			}
		},
	}, {
		name:  "a build arg",
		files: map[string]string{"Laingfile": "kind: devcontainer\npackages: [\"${TOOL}\"]\n"},
		args:  []string{"--build-arg", "TOOL=ripgrep"},
		check: func(t *testing.T, dir string, req nixsets.Request) {
			if !slices.Contains(attrs(req), "ripgrep") {
				t.Errorf("packages %q lack the build arg's", attrs(req))
			}
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := project(t, tt.files)
			args := slices.Clone(tt.args)
			for i, a := range args {
				if i > 0 && args[i-1] == "--nixpkgs" {
					args[i] = filepath.Join(dir, a)
				}
			}
			mustShell(t, append(args, filepath.Join(dir, "Laingfile"))...)
			for _, system := range devshell.Systems() {
				req := shellRequest(t, dir, system)
				if req.System != system {
					t.Errorf("request-%s.json is for %q", system, req.System)
				}
				if system == "x86_64-linux" {
					tt.check(t, dir, req)
				}
			}
		})
	}
}

func TestShellIsIdempotent(t *testing.T) {
	dir := project(t, map[string]string{"Laingfile": twoTargets})
	laingfile := filepath.Join(dir, "Laingfile")
	out := mustShell(t, laingfile)
	if !strings.Contains(out, "wrote "+filepath.Join(dir, devshell.Dir, "build.nix")) || !strings.Contains(out, "nix develop, nix-shell or direnv allow") {
		t.Fatalf("first run printed:\n%s", out)
	}
	before := snapshot(t, dir)
	// Times a rewrite would change, were there one.
	time.Sleep(10 * time.Millisecond)
	out = mustShell(t, laingfile)
	if !strings.Contains(out, "its shell files are current") || strings.Contains(out, "wrote") {
		t.Fatalf("second run printed:\n%s", out)
	}
	if after := snapshot(t, dir); !mapsEqual(before, after) {
		t.Fatalf("the second run changed files:\nbefore %v\nafter  %v", before, after)
	}
}

// snapshot is every file under dir with its contents and modification time.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.Walk(dir, func(name string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		data, err := os.ReadFile(name)
		files[strings.TrimPrefix(name, dir)] = info.ModTime().String() + " " + string(data)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || v != w {
			return false
		}
	}
	return true
}

func TestShellCheck(t *testing.T) {
	cve := nixsets.Overlays()[0].Name
	dir := project(t, map[string]string{"Laingfile": "overlays: [" + cve + "]\n" + twoTargets})
	laingfile := filepath.Join(dir, "Laingfile")
	check := func(wantCode int, wantStale ...string) {
		t.Helper()
		code, stdout, stderr := laing("shell", "--check", laingfile)
		if code != wantCode {
			t.Fatalf("--check: exit %d, want %d\n%s%s", code, wantCode, stdout, stderr)
		}
		for _, s := range wantStale {
			if !strings.Contains(stderr, filepath.Join(dir, s)) {
				t.Errorf("--check does not name %s:\n%s", s, stderr)
			}
		}
		if wantCode != 0 && !strings.Contains(stderr, "run laing shell") {
			t.Errorf("--check does not say what to run:\n%s", stderr)
		}
	}

	check(1, devshell.Dir+"/build.nix", "flake.nix", "shell.nix", ".envrc") // nothing generated yet
	if _, err := os.Stat(filepath.Join(dir, devshell.Dir)); err == nil {
		t.Fatal("--check wrote files")
	}
	mustShell(t, laingfile)
	check(0)

	// The user's entry points are theirs.
	hand := map[string]string{"flake.nix": "{ outputs = _: { }; }\n", "shell.nix": "# mine\n", ".envrc": "use nix\n"}
	for name, data := range hand {
		writeFile(t, filepath.Join(dir, name), data)
	}
	check(0)

	// A Laingfile edit makes every request stale, and only the requests.
	writeFile(t, laingfile, strings.Replace(readFile(t, laingfile), "packages: [hello]", "packages: [hello, postgresql_16]", 1))
	check(1, devshell.Dir+"/request-x86_64-linux.json", devshell.Dir+"/request-aarch64-darwin.json")
	code, _, stderr := laing("shell", "--check", laingfile)
	if code != 1 || strings.Contains(stderr, "devshells.nix") || strings.Contains(stderr, "flake.nix") {
		t.Errorf("--check names files the edit did not change:\n%s", stderr)
	}
	mustShell(t, laingfile)
	check(0)
	if !slices.Contains(attrs(shellRequest(t, dir, "x86_64-linux")), "postgresql_16") {
		t.Error("the regenerated request lacks the new package")
	}

	// A generated file edited by hand, one put there, and an overlay the Laingfile drops.
	writeFile(t, filepath.Join(dir, devshell.Dir, "build.nix"), "edited\n")
	writeFile(t, filepath.Join(dir, devshell.Dir, "notes.txt"), "mine\n")
	writeFile(t, laingfile, strings.Replace(readFile(t, laingfile), "overlays: ["+cve+"]\n", "", 1))
	check(1, devshell.Dir+"/build.nix", devshell.Dir+"/notes.txt", devshell.Dir+"/overlays/"+cve+".nix")
	out := mustShell(t, laingfile)
	for _, want := range []string{"updated " + filepath.Join(dir, devshell.Dir, "build.nix"), "removed " + filepath.Join(dir, devshell.Dir, "notes.txt")} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	check(0)
	if _, err := os.Stat(filepath.Join(dir, devshell.Dir, "overlays")); !os.IsNotExist(err) {
		t.Errorf("the emptied overlays directory is still there (%v)", err)
	}
	for name, data := range hand {
		if got := readFile(t, filepath.Join(dir, name)); got != data {
			t.Errorf("%s was rewritten:\n%s", name, got)
		}
	}
}

func TestShellErrorsPointAtTheLaingfile(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		args  []string
		// want is the first line of the output; LF is the Laingfile's path.
		want string
	}{{
		name: "an unknown set",
		files: map[string]string{"Laingfile": `targets:
  devcontainer:
    kind: devcontainer
    sets: [base, pythn]
`},
		want: `LF:4:18: unknown set "pythn" (did you mean "python"?)`,
	}, {
		name:  "invalid YAML",
		files: map[string]string{"Laingfile": "kind: devcontainer\nsets: [base\n"},
		want:  "LF:2:7: invalid YAML: sequence end token ']' not found",
	}, {
		name:  "an unknown target",
		files: map[string]string{"Laingfile": twoTargets},
		args:  []string{"--target", "runtme"},
		want:  `LF: unknown target "runtme" (did you mean "runtime"?); this Laingfile defines: runtime, devcontainer`,
	}, {
		name: "a missing overlay file",
		files: map[string]string{
			"Laingfile":       "overlays: [./nix/overlays.nix]\nkind: devcontainer\n",
			"nix/overlay.nix": "final: prev: { }\n",
		},
		want: `LF:1:12: overlay "./nix/overlays.nix" not found in the build context (DIR) (did you mean "overlay.nix"?)`,
	}, {
		name:  "a missing package file",
		files: map[string]string{"Laingfile": "kind: devcontainer\npackages:\n  - ./app.nix\n"},
		want:  `LF:3:5: package file "./app.nix" not found in the build context (DIR)`,
	}, {
		name:  "a flake.lock without the input",
		files: map[string]string{"Laingfile": "nixpkgs:\n  flakeLock: ./flake.lock\n  input: nixpkgz\nkind: devcontainer\n", "flake.lock": flakeLock},
		want:  `LF:3:10: nixpkgs.input: ./flake.lock has no input "nixpkgz" (did you mean "nixpkgs"?); its inputs are: nixpkgs`,
	}, {
		name:  "a missing flake.lock",
		files: map[string]string{"Laingfile": "nixpkgs: {flakeLock: ./flake.lock}\nkind: devcontainer\n"},
		want:  `LF:1:22: nixpkgs.flakeLock: ./flake.lock is not in the build context (DIR)`,
	}, {
		name:  "a build arg that is not given",
		files: map[string]string{"Laingfile": "kind: devcontainer\npackages: [\"${TOOL}\"]\n"},
		args:  []string{"--build-arg", "TOOLS=jq"},
		want:  `LF:2:12: undefined build arg "TOOL" in "${TOOL}" (did you mean "TOOLS"?)`,
	}, {
		name:  "a nixpkgs directory without nixpkgs",
		files: map[string]string{"Laingfile": "kind: devcontainer\n"},
		args:  []string{"--nixpkgs", "DIR"},
		want:  "laing shell: --nixpkgs DIR: there is no default.nix; expected a nixpkgs source tree",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := project(t, tt.files)
			lf := filepath.Join(dir, "Laingfile")
			args := []string{"shell"}
			for _, a := range tt.args {
				args = append(args, strings.ReplaceAll(a, "DIR", dir))
			}
			code, stdout, stderr := laing(append(args, lf)...)
			if code != 1 {
				t.Fatalf("exit %d, want 1\n%s%s", code, stdout, stderr)
			}
			want := strings.ReplaceAll(strings.ReplaceAll(tt.want, "LF", lf), "DIR", dir)
			if first, _, _ := strings.Cut(stderr, "\n"); !strings.HasPrefix(first, want) {
				t.Fatalf("output:\n%s\nwant it to start with:\n%s", stderr, want)
			}
			if strings.Contains(stderr, "goroutine") || strings.Contains(stderr, "panic") {
				t.Fatalf("output leaks Go internals:\n%s", stderr)
			}
			if _, err := os.Stat(filepath.Join(dir, devshell.Dir)); err == nil {
				t.Error("a failed run wrote files")
			}
		})
	}
}

// TestExamplesShellFilesAreCurrent checks that the examples' committed shell files are what
// `laing shell` makes of their Laingfiles today (as --check does in a project's CI).
func TestExamplesShellFilesAreCurrent(t *testing.T) {
	examples, err := filepath.Glob(filepath.Join("..", "..", "examples", "*", "Laingfile"))
	if err != nil {
		t.Fatal(err)
	}
	if len(examples) < 4 {
		t.Fatalf("found %d examples, want python, node, go and rust", len(examples))
	}
	for _, lf := range examples {
		t.Run(filepath.Base(filepath.Dir(lf)), func(t *testing.T) {
			code, stdout, stderr := laing("shell", "--check", lf)
			if code != 0 {
				t.Fatalf("exit %d: regenerate with go run ./cmd/laing shell %s\n%s%s", code, filepath.Join("examples", filepath.Base(filepath.Dir(lf)), "Laingfile"), stdout, stderr)
			}
		})
	}
}
