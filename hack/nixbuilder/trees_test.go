package main

import (
	"os"
	"path/filepath"
	"testing"
)

func TestResolveInRoot(t *testing.T) {
	root := t.TempDir()
	mk := func(p string) {
		t.Helper()
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(p), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ln := func(target, p string) {
		t.Helper()
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, full); err != nil {
			t.Fatal(err)
		}
	}
	mk("usr/lib/x86_64-linux-gnu/libz.so.1.2.13")
	ln("libz.so.1.2.13", "usr/lib/x86_64-linux-gnu/libz.so.1")
	mk("lib/x86_64-linux-gnu/ld-linux-x86-64.so.2")
	// Debian's /lib64 link is absolute: it must resolve inside root, not on the host.
	ln("/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", "lib64/ld-linux-x86-64.so.2")
	ln("usr/lib", "libalias")
	ln("loop", "loop")

	tests := []struct {
		name, in, want string
		wantErr        bool
	}{
		{"relative link", "/usr/lib/x86_64-linux-gnu/libz.so.1", "usr/lib/x86_64-linux-gnu/libz.so.1.2.13", false},
		{"absolute link stays in root", "/lib64/ld-linux-x86-64.so.2", "lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", false},
		{"linked directory", "/libalias/x86_64-linux-gnu/libz.so.1", "usr/lib/x86_64-linux-gnu/libz.so.1.2.13", false},
		{"missing", "/usr/lib/libnope.so", "", true},
		{"link loop", "/loop", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := resolveInRoot(root, tt.in)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("resolved to %s, want an error", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if want := filepath.Join(root, tt.want); got != want {
				t.Errorf("got %s, want %s", got, want)
			}
		})
	}
}

func TestWriteGlibcAndGccLibTrees(t *testing.T) {
	root := t.TempDir()
	lib := filepath.Join(root, "lib/aarch64-linux-gnu")
	if err := os.MkdirAll(lib, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, so := range append(append([]string{"ld-linux-aarch64.so.1"}, glibcLibraries...), gccLibraries...) {
		// Debian names some by version and links the soname to the file.
		if err := os.WriteFile(filepath.Join(lib, so+".real"), []byte(so), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(so+".real", filepath.Join(lib, so)); err != nil {
			t.Fatal(err)
		}
	}
	a := arch{debian: "arm64", root: root}
	for _, tt := range []struct {
		write func(arch, string) error
		want  []string
	}{
		{writeGlibcTree, append([]string{"ld-linux-aarch64.so.1"}, glibcLibraries...)},
		{writeGccLibTree, gccLibraries},
	} {
		dst := t.TempDir()
		if err := tt.write(a, dst); err != nil {
			t.Fatal(err)
		}
		entries, err := os.ReadDir(filepath.Join(dst, "lib"))
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) != len(tt.want) {
			t.Errorf("lib/ has %d entries, want %v", len(entries), tt.want)
		}
		for _, so := range tt.want {
			fi, err := os.Lstat(filepath.Join(dst, "lib", so))
			if err != nil {
				t.Error(err)
				continue
			}
			want := os.FileMode(0o644)
			if so == "ld-linux-aarch64.so.1" {
				want = 0o755
			}
			if !fi.Mode().IsRegular() || fi.Mode().Perm() != want {
				t.Errorf("%s: mode %v, want a regular file %v", so, fi.Mode(), want)
			}
		}
	}
}
