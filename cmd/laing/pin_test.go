package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/laingville/laingfile/internal/nar"
	"github.com/laingville/laingfile/nixsets"
)

// nixpkgsRepo makes a git repository standing in for nixpkgs: a branch with two commits whose
// tree has a subdirectory, an executable and a symbolic link. It returns the repository's
// file:// URL, its directory and the branch head.
func nixpkgsRepo(t *testing.T) (remote, dir, head string) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		if testing.Short() {
			t.Skip("git is not installed")
		}
		t.Fatalf("git is not installed: %v", err)
	}
	dir = t.TempDir()
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t",
			"GIT_COMMITTER_EMAIL=t@example.com", "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_SYSTEM=/dev/null")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	write := func(name, data string, mode os.FileMode) {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), mode); err != nil {
			t.Fatal(err)
		}
	}
	run("init", "--quiet", "--initial-branch=master")
	write("default.nix", "{ ... }: { }\n", 0o644)
	run("add", ".")
	run("commit", "--quiet", "-m", "first")
	run("checkout", "--quiet", "-b", "nixpkgs-unstable")
	write("pkgs/top-level/all-packages.nix", "{ }\n", 0o644)
	write("maintainers/scripts/update.sh", "#!/bin/sh\n", 0o755)
	if err := os.Symlink("pkgs/top-level", filepath.Join(dir, "top")); err != nil {
		t.Fatal(err)
	}
	run("add", ".")
	run("commit", "--quiet", "-m", "second")
	run("checkout", "--quiet", "master")
	return "file://" + dir, dir, run("rev-parse", "nixpkgs-unstable")
}

// nixHashOfArchive is Nix's own NAR hash of rev's tree: nix-prefetch-url unpacks the
// `git archive` tarball as fetchTarball does and prints the hash in base 32.
func nixHashOfArchive(t *testing.T, dir, rev string) string {
	t.Helper()
	if _, err := exec.LookPath("nix-prefetch-url"); err != nil {
		if testing.Short() {
			t.Skip("nix-prefetch-url is not installed (hack/tools.sh installs Nix)")
		}
		t.Fatalf("nix-prefetch-url is not installed (%v): run hack/tools.sh", err)
	}
	tarball := filepath.Join(t.TempDir(), "source.tar.gz")
	cmd := exec.Command("git", "archive", "--format=tar.gz", "--prefix=source/", "-o", tarball, rev)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git archive: %v\n%s", err, out)
	}
	out, err := exec.Command("nix-prefetch-url", "--unpack", "--type", "sha256", "file://"+tarball,
		"--option", "substituters", "", "--option", "sandbox", "false", "--option", "build-users-group", "").Output()
	if err != nil {
		t.Fatalf("nix-prefetch-url: %v", err)
	}
	sum, ok := nar.ParseSHA256(strings.TrimSpace(string(out)))
	if !ok {
		t.Fatalf("nix-prefetch-url printed %q", out)
	}
	return nar.SRI(sum)
}

func TestPinUpdate(t *testing.T) {
	remote, dir, head := nixpkgsRepo(t)
	hash, err := treeNARHash(remote, "nixpkgs-unstable", head)
	if err != nil {
		t.Fatal(err)
	}
	if nixHash := nixHashOfArchive(t, dir, head); hash != nixHash {
		t.Fatalf("NAR hash of the tree = %s, Nix says %s", hash, nixHash)
	}

	const oldRev = "48698d12cc10555a4f3e3222d9c669b884a49dfe"
	const oldHash = "sha256-yxgb4AmkVHY5OOBrC79Vv6EVd4QZEotqv+6jcvA212M="
	tests := []struct {
		name    string
		file    string
		want    string
		wantOut string
	}{
		{
			name:    "a rev pin, comments kept",
			file:    "# syntax=ghcr.io/laingville/laingfile:1\nnixpkgs:\n  rev: " + oldRev + "  # nixpkgs-unstable\n  sha256: " + oldHash + "\nkind: runtime\n",
			want:    "# syntax=ghcr.io/laingville/laingfile:1\nnixpkgs:\n  rev: " + head + "  # nixpkgs-unstable\n  sha256: " + hash + "\nkind: runtime\n",
			wantOut: "Laingfile: nixpkgs 48698d12cc10 -> " + head[:12] + " (nixpkgs-unstable of " + remote + ")\n",
		},
		{
			name:    "no pin yet",
			file:    "# syntax=ghcr.io/laingville/laingfile:1\nkind: runtime\n",
			want:    "# syntax=ghcr.io/laingville/laingfile:1\nnixpkgs:\n  rev: " + head + "\n  sha256: " + hash + "\nkind: runtime\n",
			wantOut: "Laingfile: nixpkgs the release's pin -> " + head[:12] + " (nixpkgs-unstable of " + remote + ")\n",
		},
		{
			name:    "already the newest",
			file:    "nixpkgs: {rev: " + head + ", sha256: " + hash + "}\nkind: runtime\n",
			want:    "nixpkgs: {rev: " + head + ", sha256: " + hash + "}\nkind: runtime\n",
			wantOut: "Laingfile: nixpkgs is at " + head[:12] + ", the newest nixpkgs-unstable\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "Laingfile")
			if err := os.WriteFile(file, []byte(tt.file), 0o640); err != nil {
				t.Fatal(err)
			}
			var stdout, stderr bytes.Buffer
			if code := run([]string{"pin", "update", "--remote", remote, file}, &stdout, &stderr); code != 0 {
				t.Fatalf("exit %d: %s", code, stderr.String())
			}
			got, _ := os.ReadFile(file)
			if string(got) != tt.want {
				t.Errorf("Laingfile:\n%s\nwant:\n%s", got, tt.want)
			}
			if out := strings.ReplaceAll(stdout.String(), file, "Laingfile"); out != tt.wantOut {
				t.Errorf("printed %q, want %q", out, tt.wantOut)
			}
			if info, _ := os.Stat(file); info.Mode().Perm() != 0o640 {
				t.Errorf("mode %v, want the file's own 0640", info.Mode().Perm())
			}
		})
	}

	t.Run("print", func(t *testing.T) {
		var stdout, stderr bytes.Buffer
		if code := run([]string{"pin", "update", "--print", "--remote", remote, "--branch", "nixpkgs-unstable"}, &stdout, &stderr); code != 0 {
			t.Fatalf("exit %d: %s", code, stderr.String())
		}
		want := "# nixpkgs-unstable of " + remote + "\nrev: " + head + "\nsha256: " + hash + "\n"
		if stdout.String() != want {
			t.Errorf("printed:\n%s\nwant:\n%s", stdout.String(), want)
		}
	})
}

func TestPinUpdateErrors(t *testing.T) {
	remote, _, _ := nixpkgsRepo(t)
	tests := []struct {
		name string
		file string
		args []string
		want string
	}{
		{"unknown branch", "kind: runtime\n", []string{"--branch", "nixos-99.99"}, `laing pin update: ` + remote + ` has no branch "nixos-99.99"`},
		{"url pin", "nixpkgs: {url: https://x.org/n.tar.gz, sha256: sha256-yxgb4AmkVHY5OOBrC79Vv6EVd4QZEotqv+6jcvA212M=}\nkind: runtime\n", nil, "nixpkgs is pinned by url"},
		{"flake.lock", "nixpkgs: {flakeLock: ./flake.lock}\nkind: runtime\n", nil, "update the flake's lock instead (nix flake update)"},
		{"no such remote", "kind: runtime\n", []string{"--remote", "file:///nonexistent/nixpkgs"}, "git ls-remote"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "Laingfile")
			if err := os.WriteFile(file, []byte(tt.file), 0o644); err != nil {
				t.Fatal(err)
			}
			var stdout, stderr bytes.Buffer
			args := append([]string{"pin", "update", "--remote", remote}, tt.args...)
			if code := run(append(args, file), &stdout, &stderr); code != 1 {
				t.Fatalf("exit %d, want 1: %s", code, stderr.String())
			}
			if !strings.Contains(stderr.String(), tt.want) {
				t.Errorf("stderr %q does not contain %q", stderr.String(), tt.want)
			}
			if got, _ := os.ReadFile(file); string(got) != tt.file {
				t.Errorf("the Laingfile changed:\n%s", got)
			}
		})
	}
}

// pinsCopy is a copy of the repository's nixsets/pins.go in a temporary directory, and its text.
func pinsCopy(t *testing.T) (file, text string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "nixsets", "pins.go"))
	if err != nil {
		t.Fatal(err)
	}
	file = filepath.Join(t.TempDir(), "pins.go")
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return file, string(data)
}

func TestPinRelease(t *testing.T) {
	remote, _, head := nixpkgsRepo(t)
	hash, err := treeNARHash(remote, "nixpkgs-unstable", head)
	if err != nil {
		t.Fatal(err)
	}
	_, original := pinsCopy(t)
	old := nixsets.DefaultPin()
	moved := strings.NewReplacer(`"`+old.Rev+`"`, `"`+head+`"`, `"`+old.SHA256+`"`, `"`+hash+`"`).Replace(original)
	if moved == original {
		t.Fatal("the test's replacement changed nothing in nixsets/pins.go")
	}
	tests := []struct {
		name    string
		start   string // the file before; "" is the repository's
		want    string
		wantOut string
	}{
		{
			name:    "moves the release's pin",
			want:    moved,
			wantOut: "pins.go: the release's nixpkgs " + old.Rev[:12] + " -> " + head[:12] + " (nixpkgs-unstable of " + remote + ")\n",
		},
		{
			name:    "already the newest",
			start:   moved,
			want:    moved,
			wantOut: "pins.go: the release's nixpkgs is at " + head[:12] + ", the newest nixpkgs-unstable\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file, _ := pinsCopy(t)
			if tt.start != "" {
				if err := os.WriteFile(file, []byte(tt.start), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			var stdout, stderr bytes.Buffer
			if code := run([]string{"pin", "release", "--remote", remote, "--branch", "nixpkgs-unstable", file}, &stdout, &stderr); code != 0 {
				t.Fatalf("exit %d: %s", code, stderr.String())
			}
			got, _ := os.ReadFile(file)
			if string(got) != tt.want {
				t.Errorf("pins.go:\n%s\nwant:\n%s", got, tt.want)
			}
			if out := strings.ReplaceAll(stdout.String(), file, "pins.go"); out != tt.wantOut {
				t.Errorf("printed %q, want %q", out, tt.wantOut)
			}
		})
	}
}

// registryWith serves an in-memory registry holding one image or index (with what it refers
// to) under nixos/nix:TAG for each entry, and returns its host.
func registryWith(t *testing.T, tags map[string]remote.Taggable) string {
	t.Helper()
	images := map[string]remote.Taggable{}
	for tag, img := range tags {
		images["nixos/nix:"+tag] = img
	}
	return testRegistry(t, images)
}

// platformIndex is an index with a random image for each platform.
func platformIndex(t *testing.T, platforms ...string) v1.ImageIndex {
	t.Helper()
	var idx v1.ImageIndex = empty.Index
	for _, p := range platforms {
		img, err := random.Image(64, 1)
		if err != nil {
			t.Fatal(err)
		}
		goos, goarch, _ := strings.Cut(p, "/")
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: goos, Architecture: goarch}}})
	}
	return idx
}

func digestOf(t *testing.T, d interface{ Digest() (v1.Hash, error) }) string {
	t.Helper()
	h, err := d.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return h.String()
}

func TestPinBuilder(t *testing.T) {
	current := platformIndex(t, "linux/amd64", "linux/arm64")
	newer := platformIndex(t, "linux/amd64", "linux/arm64", "linux/386")
	single, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	host := registryWith(t, map[string]remote.Taggable{
		"2.28.3": current, "2.29.0": newer, "single": single, "amd64-only": platformIndex(t, "linux/amd64"),
	})
	_, original := pinsCopy(t)
	oldRef := nixsets.DefaultBuilderImage
	// The repository's pins.go names Docker Hub; the copies name the test registry's tag.
	start := strings.Replace(original, `"`+oldRef+`"`, `"`+host+`/nixos/nix:2.28.3@sha256:`+strings.Repeat("0", 64)+`"`, 1)
	refreshed := host + "/nixos/nix:2.28.3@" + digestOf(t, current)
	moved := host + "/nixos/nix:2.29.0@" + digestOf(t, newer)

	tests := []struct {
		name     string
		args     []string
		wantRef  string // the literal afterwards; "" when the command fails
		wantCode int
		wantErr  string
	}{
		{name: "refreshes the digest of the pinned tag", wantRef: refreshed},
		{name: "moves to another tag", args: []string{"--image", host + "/nixos/nix:2.29.0"}, wantRef: moved},
		{name: "a single-platform image", args: []string{"--image", host + "/nixos/nix:single"}, wantCode: 1, wantErr: "is a single-platform image"},
		{name: "an index without arm64", args: []string{"--image", host + "/nixos/nix:amd64-only"}, wantCode: 1, wantErr: "has no linux/arm64 image (it has linux/amd64)"},
		{name: "no such tag", args: []string{"--image", host + "/nixos/nix:9.9.9"}, wantCode: 1, wantErr: "resolving " + host + "/nixos/nix:9.9.9"},
		{name: "a digest instead of a tag", args: []string{"--image", "nixos/nix@sha256:" + strings.Repeat("0", 64)}, wantCode: 1, wantErr: "expected REPOSITORY:TAG"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file, _ := pinsCopy(t)
			if err := os.WriteFile(file, []byte(start), 0o644); err != nil {
				t.Fatal(err)
			}
			var stdout, stderr bytes.Buffer
			code := run(append(append([]string{"pin", "builder"}, tt.args...), file), &stdout, &stderr)
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d: %s", code, tt.wantCode, stderr.String())
			}
			got, _ := os.ReadFile(file)
			if tt.wantRef == "" {
				if !strings.Contains(stderr.String(), tt.wantErr) {
					t.Errorf("stderr %q does not contain %q", stderr.String(), tt.wantErr)
				}
				if string(got) != start {
					t.Errorf("pins.go changed:\n%s", got)
				}
				return
			}
			if want := strings.Replace(original, `"`+oldRef+`"`, `"`+tt.wantRef+`"`, 1); string(got) != want {
				t.Errorf("pins.go:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

func TestPinReleaseRefusesOtherFiles(t *testing.T) {
	tests := []struct {
		name    string
		command string
		src     string
		want    string
	}{
		{"not Go", "release", "kind: runtime\n", "is not Go source"},
		{"no DefaultPin", "release", "package nixsets\n\nfunc Other() int { return 1 }\n", "has no func DefaultPin"},
		{"a computed rev", "release", "package nixsets\n\nfunc DefaultPin() Pin { return Pin{Rev: rev(), SHA256: \"x\"} }\n", "with string literals"},
		{"no DefaultBuilderImage", "builder", "package nixsets\n\nconst Other = \"x\"\n", "has no const DefaultBuilderImage"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "pins.go")
			if err := os.WriteFile(file, []byte(tt.src), 0o644); err != nil {
				t.Fatal(err)
			}
			var stdout, stderr bytes.Buffer
			// A remote that does not exist: the file is refused before anything is fetched.
			args := []string{"pin", tt.command, file}
			if tt.command == "release" {
				args = []string{"pin", "release", "--remote", "file:///nonexistent/nixpkgs", file}
			}
			if code := run(args, &stdout, &stderr); code != 1 {
				t.Fatalf("exit %d, want 1: %s", code, stderr.String())
			}
			if !strings.Contains(stderr.String(), tt.want) {
				t.Errorf("stderr %q does not contain %q", stderr.String(), tt.want)
			}
		})
	}
}
