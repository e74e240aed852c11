package main

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
)

// The expected values below were printed by Nix 2.8 for the same inputs
// (`nix-hash --type sha256`, `nix-store --dump | wc -c`, `nix-store --add`).

func TestNixBase32(t *testing.T) {
	empty := sha256.Sum256(nil)
	tests := []struct {
		name string
		in   []byte
		want string
	}{
		{"sha256 of nothing", empty[:], "0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73"},
		{"one byte", []byte{0xff}, "7z"},
		{"twenty zero bytes", make([]byte, 20), "00000000000000000000000000000000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := nixBase32(tt.in); got != tt.want {
				t.Errorf("nixBase32 = %s, want %s", got, tt.want)
			}
		})
	}
}

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

func TestNARHash(t *testing.T) {
	dir := writeSampleTree(t)
	tests := []struct {
		name     string
		path     string
		wantHash string
		wantSize int64
	}{
		{"directory with symlink and executable", dir, "a5547c80c57212f00b1f2a7a313362a4c1f414f95a20fa1e8015217692f5a382", 880},
		{"single file", filepath.Join(dir, "a.txt"), "1c37d01af40be2e80691de3cc3df44377a699afbb17c68f080964b2fd071fc13", 120},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sum, size, err := narHash(tt.path)
			if err != nil {
				t.Fatal(err)
			}
			if got := hex.EncodeToString(sum[:]); got != tt.wantHash {
				t.Errorf("narHash = %s, want %s", got, tt.wantHash)
			}
			if size != tt.wantSize {
				t.Errorf("narSize = %d, want %d", size, tt.wantSize)
			}
		})
	}
}

func TestSourceStorePath(t *testing.T) {
	dir := writeSampleTree(t)
	sum, _, err := narHash(dir)
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
