// Package nartest provides the sample tree that NAR and store-path tests hash and pack.
package nartest

import (
	"os"
	"path/filepath"
	"testing"
)

// SampleTree writes a directory "d" with a file, an executable in a subdirectory and a
// symlink, and returns its path. Nix 2.8's `nix-store --add` names it
// /nix/store/m4qqx20wr2v0rzk6n1yxfz58c2zgqdsg-d.
func SampleTree(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "d")
	if err := os.MkdirAll(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "a.txt"), []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "sub", "run"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("a.txt", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	return dir
}
