package main

import (
	"bytes"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
)

func TestDescribeHistory(t *testing.T) {
	tests := []struct{ in, want string }{
		{"nix: /nix/store/4lw9mib1ai07xv4grw59cyg2g5sxp574-openssl-3.0.13", "/nix/store/4lw9mib1ai07xv4grw59cyg2g5sxp574-openssl-3.0.13"},
		{"nix: /nix/store/aaaa-a-1 /nix/store/bbbb-b-2", "a-1 b-2"},
		{"nix: /nix/store/a-1 /nix/store/b-2 /nix/store/c-3 /nix/store/d-4 /nix/store/e-5", "1 2 3 4 and 1 more"},
		{"laingfile: runtime customisation (user app 1000:1000)", "runtime customisation (user app 1000:1000)"},
	}
	for _, tt := range tests {
		if got := describeHistory(tt.in); got != tt.want {
			t.Errorf("describeHistory(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestHumanBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 5 << 20: "5.0 MiB", 3 << 30: "3.0 GiB"} {
		if got := humanBytes(n); got != want {
			t.Errorf("humanBytes(%d) = %q, want %q", n, got, want)
		}
	}
}

// TestLayersSharing builds two images in an OCI layout that share one layer and checks what the
// command says a pull downloads.
func TestLayersSharing(t *testing.T) {
	shared, _ := random.Layer(1000, "application/vnd.oci.image.layer.v1.tar+gzip")
	onlyA, _ := random.Layer(2000, "application/vnd.oci.image.layer.v1.tar+gzip")
	onlyB, _ := random.Layer(3000, "application/vnd.oci.image.layer.v1.tar+gzip")
	mk := func(layers ...v1.Layer) v1.Image {
		img := empty.Image
		for i, l := range layers {
			var err error
			img, err = mutate.Append(img, mutate.Addendum{Layer: l, History: v1.History{CreatedBy: "nix: /nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-pkg-" + string(rune('0'+i))}})
			if err != nil {
				t.Fatal(err)
			}
		}
		img, _ = mutate.ConfigFile(img, &v1.ConfigFile{OS: "linux", Architecture: "amd64", History: mustConfig(t, img).History, RootFS: mustConfig(t, img).RootFS})
		return img
	}
	a, b := mk(shared, onlyA), mk(shared, onlyB)
	dir := t.TempDir()
	lp, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	for tag, img := range map[string]v1.Image{"a": a, "b": b} {
		if err := lp.AppendImage(img, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": tag})); err != nil {
			t.Fatal(err)
		}
	}
	var out bytes.Buffer
	if err := layersCommand(&out, []string{"oci-layout://" + dir + ":a", "oci-layout://" + dir + ":b"}, "linux/amd64"); err != nil {
		t.Fatal(err)
	}
	sizeOf := func(l v1.Layer) int64 { n, _ := l.Size(); return n }
	text := out.String()
	for _, want := range []string{
		"oci-layout://" + dir + ":a: 2 layers",
		"shared by all 2 images: " + humanBytes(sizeOf(shared)),
	} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	// The pair row: with a present, pulling b downloads only b's own layer.
	wantRow := []string{"oci-layout://" + dir + ":a", "oci-layout://" + dir + ":b"}
	wantRow = append(wantRow, strings.Fields(humanBytes(sizeOf(onlyB))+" "+humanBytes(sizeOf(shared)+sizeOf(onlyB)))...)
	found := false
	for _, line := range strings.Split(text, "\n") {
		fields := strings.Fields(line)
		if len(fields) >= len(wantRow) && strings.Join(fields[:len(wantRow)], " ") == strings.Join(wantRow, " ") {
			found = true
		}
	}
	if !found {
		t.Errorf("no row %v in:\n%s", wantRow, text)
	}
}

func mustConfig(t *testing.T, img v1.Image) *v1.ConfigFile {
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}
