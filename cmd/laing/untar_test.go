package main

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// entry is one tar header of a hand-made archive: a directory (name ending in "/"), a file
// (data), or a symbolic link (link).
type entry struct {
	name, data, link string
	hard             bool
	exec             bool
}

func tarOf(t *testing.T, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		hdr := &tar.Header{Name: e.name, Mode: 0o644}
		switch {
		case e.hard:
			hdr.Typeflag, hdr.Linkname = tar.TypeLink, e.link
		case e.link != "":
			hdr.Typeflag, hdr.Linkname, hdr.Mode = tar.TypeSymlink, e.link, 0o777
		case strings.HasSuffix(e.name, "/"):
			hdr.Typeflag, hdr.Mode = tar.TypeDir, 0o755
		default:
			hdr.Typeflag, hdr.Size = tar.TypeReg, int64(len(e.data))
			if e.exec {
				hdr.Mode = 0o755
			}
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if hdr.Typeflag == tar.TypeReg {
			if _, err := tw.Write([]byte(e.data)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestUntarHostileArchives: an archive (from a mirror or a local repository with a crafted
// tree) never writes outside its directory, nor through a symbolic link; it is refused with
// a message that says which entry and what was expected.
func TestUntarHostileArchives(t *testing.T) {
	tests := []struct {
		name    string
		entries []entry
		want    string            // error; "" for none
		tree    map[string]string // for none: path → "dir", "link:<target>" or file contents
	}{
		{"a git archive", []entry{{name: "pkgs/"}, {name: "pkgs/a.nix", data: "a"}, {name: "bin/x", data: "#!", exec: true}, {name: "lib", link: "pkgs"}, {name: "pkgs/up", link: "../bin/x"}},
			"", map[string]string{"pkgs": "dir", "pkgs/a.nix": "a", "bin/x": "#!", "lib": "link:pkgs", "pkgs/up": "link:../bin/x"}},
		{"a file written through a link out", []entry{{name: "a", link: "../outside/f"}, {name: "a", data: "pwned"}},
			`"a" links to "../outside/f", outside the tree`, nil},
		{"a file under an absolute link", []entry{{name: "d", link: "/"}, {name: "d/f", data: "pwned"}},
			`"d" links to "/", outside the tree`, nil},
		{"a file under a link in the tree", []entry{{name: "sub/"}, {name: "d", link: "sub"}, {name: "d/f", data: "x"}},
			`"d/f": "d" is a symbolic link, not a directory; a git archive writes no file through a link`, nil},
		{"a link over a file", []entry{{name: "f", data: "x"}, {name: "f", link: "g"}},
			`"f" is in the archive twice`, nil},
		{"a file over a link in the tree", []entry{{name: "g", data: "x"}, {name: "f", link: "g"}, {name: "f", data: "y"}},
			`"f" is in the archive twice`, nil},
		{"a file over a file", []entry{{name: "f", data: "x"}, {name: "f", data: "y"}},
			`"f" is in the archive twice`, nil},
		{"a directory over a link", []entry{{name: "sub/"}, {name: "d", link: "sub"}, {name: "d/"}},
			`"d/" is in the archive twice`, nil},
		{"a path up", []entry{{name: "../f", data: "x"}}, `"../f" is outside the archive`, nil},
		{"a path up after a directory", []entry{{name: "a/../../f", data: "x"}}, `"a/../../f" is outside the archive`, nil},
		{"an absolute path", []entry{{name: "/tmp/f", data: "x"}}, `"/tmp/f" is outside the archive`, nil},
		{"a link up and out", []entry{{name: "a/b", link: "../../../etc/passwd"}}, `"a/b" links to "../../../etc/passwd", outside the tree`, nil},
		{"a hard link", []entry{{name: "a", data: "x"}, {name: "b", hard: true, link: "a"}}, `b: unexpected entry type '1' in a git archive`, nil},
		{"a file named .", []entry{{name: "./", data: ""}, {name: ".", data: "x"}}, `"." is not a file name`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := t.TempDir()
			outside := filepath.Join(base, "outside")
			if err := os.Mkdir(outside, 0o755); err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join(base, "source")
			err := untar(bytes.NewReader(tarOf(t, tt.entries...)), dir)
			if left, _ := os.ReadDir(outside); len(left) > 0 {
				t.Errorf("untar wrote outside its directory: %v", left)
			}
			if tt.want != "" {
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("error = %v, want one containing %q", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for p, want := range tt.tree {
				full := filepath.Join(dir, p)
				fi, err := os.Lstat(full)
				if err != nil {
					t.Errorf("%s: %v", p, err)
					continue
				}
				var got string
				switch {
				case fi.IsDir():
					got = "dir"
				case fi.Mode()&os.ModeSymlink != 0:
					l, _ := os.Readlink(full)
					got = "link:" + l
				default:
					b, _ := os.ReadFile(full)
					got = string(b)
				}
				if got != want {
					t.Errorf("%s = %q, want %q", p, got, want)
				}
			}
			if fi, err := os.Stat(filepath.Join(dir, "bin/x")); err == nil && fi.Mode()&0o100 == 0 {
				t.Errorf("bin/x is not executable: %v", fi.Mode())
			}
		})
	}
}
