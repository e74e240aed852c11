package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/laingville/laingfile/internal/nar"
)

// The expected value below was printed by Nix 2.8 for the same input (`nix-store --add`).

func writeSampleTree(t *testing.T) string {
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

func TestSourceStorePath(t *testing.T) {
	dir := writeSampleTree(t)
	sum, _, err := nar.Hash(dir)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		refs []string
		want string
	}{
		{"as nix-store --add names it", nil, "/nix/store/m4qqx20wr2v0rzk6n1yxfz58c2zgqdsg-d"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := sourceStorePath("d", sum, tt.refs); got != tt.want {
				t.Errorf("sourceStorePath = %s, want %s", got, tt.want)
			}
		})
	}
	// References change the path, and their order does not.
	a := sourceStorePath("d", sum, []string{"/nix/store/a", "/nix/store/b"})
	b := sourceStorePath("d", sum, []string{"/nix/store/b", "/nix/store/a"})
	if a != b || a == tests[0].want {
		t.Errorf("paths with references: %s, %s (without: %s)", a, b, tests[0].want)
	}
}
