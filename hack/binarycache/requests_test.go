package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/laingville/laingfile/nixsets"
)

func writeLaingfile(t *testing.T, example, src string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), example)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "Laingfile")
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRequests(t *testing.T) {
	python := filepath.Join("..", "..", "examples", "python", "Laingfile")
	tests := []struct {
		name       string
		laingfiles []string
		wantFiles  []string
		wantErr    string
		// check is run on every request.
		check func(t *testing.T, req nixsets.Request)
	}{
		{
			name:       "the python example",
			laingfiles: []string{python},
			wantFiles: []string{
				"requests/x86_64-linux/python-devcontainer.json",
				"requests/aarch64-linux/python-devcontainer.json",
				"requests/x86_64-linux/python-runtime.json",
				"requests/aarch64-linux/python-runtime.json",
			},
			check: func(t *testing.T, req nixsets.Request) {
				if len(req.Packages) == 0 {
					t.Error("no packages")
				}
			},
		},
		{
			name:       "a built-in overlay is read from /laingfile/overlays",
			laingfiles: []string{writeLaingfile(t, "ov", "overlays: [cve-patches]\nkind: runtime\nsets: [base]\n")},
			wantFiles:  []string{"requests/x86_64-linux/ov-runtime.json", "requests/aarch64-linux/ov-runtime.json"},
			check: func(t *testing.T, req nixsets.Request) {
				if !slices.Equal(req.Overlays, []string{"/laingfile/overlays/cve-patches.nix"}) {
					t.Errorf("overlays %q", req.Overlays)
				}
			},
		},
		{
			name:       "files from the build context are refused",
			laingfiles: []string{writeLaingfile(t, "ctx", "kind: runtime\npackages: [./nix/x.nix]\n")},
			wantErr:    "reads Nix files from its build context",
		},
		{
			name:       "two Laingfiles in directories of the same name",
			laingfiles: []string{writeLaingfile(t, "same", "kind: runtime\n"), writeLaingfile(t, "same", "kind: runtime\n")},
			wantErr:    `both named "same"`,
		},
		{
			name:       "an unknown set fails as in the frontend",
			laingfiles: []string{writeLaingfile(t, "bad", "kind: runtime\nsets: [nosuchset]\n")},
			wantErr:    "nosuchset",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files, err := requests(tt.laingfiles, Systems)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, f := range files {
				got = append(got, f.Path)
				var req nixsets.Request
				if err := json.Unmarshal(f.Data, &req); err != nil {
					t.Fatalf("%s: %v", f.Path, err)
				}
				if req.Nixpkgs != (nixsets.NixpkgsSource{Path: "/nixpkgs"}) {
					t.Errorf("%s: nixpkgs %+v, want the directory /nixpkgs", f.Path, req.Nixpkgs)
				}
				if want := strings.Split(f.Path, "/")[1]; req.System != want {
					t.Errorf("%s: system %q, want %q", f.Path, req.System, want)
				}
				tt.check(t, req)
			}
			slices.Sort(got)
			want := slices.Clone(tt.wantFiles)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("files %q, want %q", got, want)
			}
		})
	}
}

func TestStepInputs(t *testing.T) {
	files, err := stepInputs([]string{filepath.Join("..", "..", "examples", "python", "Laingfile")})
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, f := range files {
		have[f.Path] = true
	}
	want := []string{"make.sh", "build.nix", "requests/x86_64-linux/python-runtime.json"}
	for _, o := range nixsets.OverlayNames() {
		want = append(want, "overlays/"+o+".nix")
	}
	for _, p := range want {
		if !have[p] {
			t.Errorf("no %s among the inputs", p)
		}
	}
}

func TestInputsDigest(t *testing.T) {
	a := []inputFile{{Path: "a", Data: []byte("1")}, {Path: "b", Data: []byte("2")}}
	base := inputsDigest(a, "img@sha256:1", "tree1")
	tests := []struct {
		name    string
		files   []inputFile
		builder string
		tree    string
		same    bool
	}{
		{"same inputs in another order", []inputFile{a[1], a[0]}, "img@sha256:1", "tree1", true},
		{"a file changed", []inputFile{a[0], {Path: "b", Data: []byte("3")}}, "img@sha256:1", "tree1", false},
		{"a file renamed", []inputFile{a[0], {Path: "c", Data: []byte("2")}}, "img@sha256:1", "tree1", false},
		{"another builder", a, "img@sha256:2", "tree1", false},
		{"another nixpkgs", a, "img@sha256:1", "tree2", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := inputsDigest(tt.files, tt.builder, tt.tree); (got == base) != tt.same {
				t.Errorf("digest %s vs %s: same = %v, want %v", got, base, got == base, tt.same)
			}
		})
	}
}

func TestTreeDigest(t *testing.T) {
	mk := func(t *testing.T, edit func(dir string)) string {
		dir := t.TempDir()
		if err := os.MkdirAll(filepath.Join(dir, "sub"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "sub", "f"), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink("sub/f", filepath.Join(dir, "l")); err != nil {
			t.Fatal(err)
		}
		if edit != nil {
			edit(dir)
		}
		d, err := treeDigest(dir)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	base := mk(t, nil)
	tests := []struct {
		name string
		edit func(dir string)
		same bool
	}{
		{"the same tree elsewhere", func(string) {}, true},
		{"contents", func(d string) { os.WriteFile(filepath.Join(d, "sub", "f"), []byte("y"), 0o644) }, false},
		{"mode", func(d string) { os.Chmod(filepath.Join(d, "sub", "f"), 0o755) }, false},
		{"link target", func(d string) { os.Remove(filepath.Join(d, "l")); os.Symlink("sub", filepath.Join(d, "l")) }, false},
		{"new empty directory", func(d string) { os.Mkdir(filepath.Join(d, "e"), 0o755) }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := mk(t, tt.edit); (got == base) != tt.same {
				t.Errorf("same = %v, want %v", got == base, tt.same)
			}
		})
	}
}

func TestParseNarinfo(t *testing.T) {
	signed := `StorePath: /nix/store/xp0dpr9yz5h0fk5c5lpj7zzqjbdh3w8c-f
URL: nar/17gd6zzlkx90irc6qawagdkgh1d7qvlnq46yjf7xiqw9ycz7zq4a.nar.xz
Compression: xz
FileHash: sha256:17gd6zzlkx90irc6qawagdkgh1d7qvlnq46yjf7xiqw9ycz7zq4a
FileSize: 128
NarHash: sha256:04zwf782yjwnh3q6hz5izfd6jyip8kgw6g6yj43fiqhbyhdd0dqw
NarSize: 120
References: 
Sig: laingfile-test-cache-1:WQyxsFODw9wJulv/rMGWs+TGpvyl5ekJMddQtjIqXD9dfLSGdU1+fyaNRQIieAG51pB+NLhWUIt3J5YtTPl6DA==
CA: fixed:r:sha256:04zwf782yjwnh3q6hz5izfd6jyip8kgw6g6yj43fiqhbyhdd0dqw
`
	tests := []struct {
		name    string
		data    string
		want    narinfo
		wantErr bool
	}{
		{
			name: "signed, no references",
			data: signed,
			want: narinfo{
				StorePath: "/nix/store/xp0dpr9yz5h0fk5c5lpj7zzqjbdh3w8c-f",
				URL:       "nar/17gd6zzlkx90irc6qawagdkgh1d7qvlnq46yjf7xiqw9ycz7zq4a.nar.xz",
				FileSize:  128, NarSize: 120,
				Sigs: []string{"laingfile-test-cache-1:WQyxsFODw9wJulv/rMGWs+TGpvyl5ekJMddQtjIqXD9dfLSGdU1+fyaNRQIieAG51pB+NLhWUIt3J5YtTPl6DA=="},
			},
		},
		{
			name: "references",
			data: "StorePath: /nix/store/a-x\nURL: nar/b.nar.xz\nReferences: a-x c-y\n",
			want: narinfo{StorePath: "/nix/store/a-x", URL: "nar/b.nar.xz", References: []string{"a-x", "c-y"}},
		},
		{name: "no URL", data: "StorePath: /nix/store/a-x\n", wantErr: true},
		{name: "bad size", data: "StorePath: /nix/store/a-x\nURL: nar/b\nFileSize: big\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseNarinfo(tt.data)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if got.StorePath != tt.want.StorePath || got.URL != tt.want.URL || got.FileSize != tt.want.FileSize ||
				got.NarSize != tt.want.NarSize || !slices.Equal(got.References, tt.want.References) || !slices.Equal(got.Sigs, tt.want.Sigs) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
	if got := narinfoName("/nix/store/xp0dpr9yz5h0fk5c5lpj7zzqjbdh3w8c-f"); got != "xp0dpr9yz5h0fk5c5lpj7zzqjbdh3w8c.narinfo" {
		t.Errorf("narinfoName = %q", got)
	}
}

func TestSummarize(t *testing.T) {
	const path = "/nix/store/aaaa-x"
	narinfo := "StorePath: " + path + "\nURL: nar/bbbb.nar.xz\nFileSize: 1048576\nNarSize: 2097152\nReferences: aaaa-x\n"
	tests := []struct {
		name    string
		omit    string // a file left out of the directory
		want    string
		wantErr string
	}{
		{name: "complete", want: "signed x86_64-linux 1 paths 1.00 MiB xz (2.00 MiB of NARs)"},
		{name: "no narinfo", omit: "unsigned/aaaa.narinfo", wantErr: "unsigned cache: /nix/store/aaaa-x"},
		{name: "no NAR", omit: "signed/nar/bbbb.nar.xz", wantErr: "signed cache: the NAR of /nix/store/aaaa-x"},
		{name: "no paths list", omit: "paths/aarch64-linux", wantErr: "aarch64-linux"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			files := map[string]string{
				"keys/public":              cacheKeyName + ":KEY",
				"paths/x86_64-linux":       path + "\n",
				"paths/aarch64-linux":      path + "\n",
				"signed/aaaa.narinfo":      narinfo + "Sig: " + cacheKeyName + ":SIG\n",
				"signed/nar/bbbb.nar.xz":   "NAR",
				"unsigned/aaaa.narinfo":    narinfo,
				"unsigned/nar/bbbb.nar.xz": "NAR",
			}
			for name, data := range files {
				if name == tt.omit {
					continue
				}
				p := filepath.Join(dir, name)
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			var out strings.Builder
			err := summarize(&out, dir)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(strings.Join(strings.Fields(out.String()), " "), tt.want) {
				t.Errorf("summary\n%s\nwants the line %q", out.String(), tt.want)
			}
		})
	}
}
