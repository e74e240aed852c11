package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/laingville/laingfile/internal/nar"
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
