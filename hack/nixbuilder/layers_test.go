package main

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/laingville/laingfile/internal/nar/nartest"
)

type hdrSummary struct {
	Name, Link string
	Mode       int64
	Type       byte
}

func readTar(t *testing.T, b []byte) []hdrSummary {
	t.Helper()
	var out []hdrSummary
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		if !h.ModTime.Equal(epoch) || h.Uid != 0 || h.Gid != 0 || h.Uname != "" || h.Gname != "" {
			t.Errorf("%s: mtime %v owner %d:%d (%q:%q), want epoch and 0:0", h.Name, h.ModTime, h.Uid, h.Gid, h.Uname, h.Gname)
		}
		out = append(out, hdrSummary{h.Name, h.Linkname, h.Mode, h.Typeflag})
	}
}

func TestLayerTar(t *testing.T) {
	tests := []struct {
		name    string
		entries []tarEntry
		want    []hdrSummary
		wantErr bool
	}{
		{
			name: "parents added and entries sorted",
			entries: []tarEntry{
				{name: "usr/bin/env", typ: tar.TypeSymlink, mode: 0o777, linkname: "/x/env"},
				{name: "tmp", typ: tar.TypeDir, mode: 0o1777},
				{name: "etc/group", typ: tar.TypeReg, mode: 0o644, data: []byte("root:x:0:\n")},
			},
			want: []hdrSummary{
				{"etc/", "", 0o755, tar.TypeDir},
				{"etc/group", "", 0o644, tar.TypeReg},
				{"tmp/", "", 0o1777, tar.TypeDir},
				{"usr/", "", 0o755, tar.TypeDir},
				{"usr/bin/", "", 0o755, tar.TypeDir},
				{"usr/bin/env", "/x/env", 0o777, tar.TypeSymlink},
			},
		},
		{
			name: "a given directory mode wins over the default",
			entries: []tarEntry{
				{name: "root/.profile", typ: tar.TypeReg, mode: 0o644},
				{name: "root", typ: tar.TypeDir, mode: 0o700},
			},
			want: []hdrSummary{
				{"root/", "", 0o700, tar.TypeDir},
				{"root/.profile", "", 0o644, tar.TypeReg},
			},
		},
		{
			name: "duplicates are an error",
			entries: []tarEntry{
				{name: "a", typ: tar.TypeReg, mode: 0o644},
				{name: "a", typ: tar.TypeReg, mode: 0o644},
			},
			wantErr: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := layerTar(tt.entries)
			if tt.wantErr {
				if err == nil {
					t.Fatal("no error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := readTar(t, b); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("entries:\n got %v\nwant %v", got, tt.want)
			}
			// Same entries in another order: same bytes.
			rev := append([]tarEntry(nil), tt.entries...)
			for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
				rev[i], rev[j] = rev[j], rev[i]
			}
			b2, err := layerTar(rev)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(b, b2) {
				t.Error("entry order changed the tar")
			}
		})
	}
}

func TestStorePathEntries(t *testing.T) {
	dir := nartest.SampleTree(t)
	// The disk's modes and times must not matter, only the executable bit.
	if err := os.Chmod(filepath.Join(dir, "a.txt"), 0o600); err != nil {
		t.Fatal(err)
	}
	entries, err := storePathEntries("/nix/store/h-d", dir)
	if err != nil {
		t.Fatal(err)
	}
	b, err := layerTar(entries)
	if err != nil {
		t.Fatal(err)
	}
	want := []hdrSummary{
		{"nix/", "", 0o755, tar.TypeDir},
		{"nix/store/", "", 0o755, tar.TypeDir},
		{"nix/store/h-d/", "", 0o555, tar.TypeDir},
		{"nix/store/h-d/a.txt", "", 0o444, tar.TypeReg},
		{"nix/store/h-d/link", "a.txt", 0o777, tar.TypeSymlink},
		{"nix/store/h-d/sub/", "", 0o555, tar.TypeDir},
		{"nix/store/h-d/sub/run", "", 0o555, tar.TypeReg},
	}
	if got := readTar(t, b); !reflect.DeepEqual(got, want) {
		t.Errorf("entries:\n got %v\nwant %v", got, want)
	}
}

func TestUpstreamVersion(t *testing.T) {
	tests := []struct{ in, want string }{
		{"2.8.0-1.1+b1", "2.8.0"},
		{"1:1.35.0-4+deb12u1+b1", "1.35.0"},
		{"2:6.2.1+dfsg1-1.1", "6.2.1+dfsg1"},
		{"1.0", "1.0"},
		{"20250419~deb12u2", "20250419"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := upstreamVersion(tt.in); got != tt.want {
				t.Errorf("upstreamVersion(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}
