package e2e

import (
	"archive/tar"
	"bytes"
	"io"
	"maps"
	"path"
	"sort"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/laingville/laingfile/test/testenv"
)

// storePathLayer is a store path with a layer of its own.
type storePathLayer struct {
	path   string
	digest v1.Hash
	// content is its files' bytes and symbolic link targets, to look for references in.
	content []byte
}

// byName returns an image's store-path layers by store path name (without the hash), failing
// when a layer holds several paths: the comparisons below need one layer per path.
func byName(t *testing.T, img v1.Image) map[string]storePathLayer {
	t.Helper()
	single, count, _ := storeLayers(t, img)
	if count != len(single) {
		t.Fatalf("%d store paths but only %d have a layer of their own", count, len(single))
	}
	out := map[string]storePathLayer{}
	for _, l := range layersWithHistory(t, img) {
		p, ok := strings.CutPrefix(l.CreatedBy, "nix: ")
		if !ok {
			continue
		}
		var content bytes.Buffer
		eachEntry(t, l.Layer, func(hdr *tar.Header, contents io.Reader) {
			content.WriteString(hdr.Linkname + "\n")
			_, _ = io.Copy(&content, contents)
		})
		out[storeName(p)] = storePathLayer{path: p, digest: single[p], content: content.Bytes()}
	}
	return out
}

// storeName is a store path's name: /nix/store/<hash>-zlib-1.3.1 is zlib-1.3.1.
func storeName(p string) string {
	_, name, _ := strings.Cut(path.Base(p), "-")
	return name
}

// referrers is the names of the paths that refer to the named one, directly or not, and the
// name itself. A path refers to another when its files contain the other's hash: that is how
// Nix finds references.
func referrers(paths map[string]storePathLayer, name string) map[string]bool {
	hashOf := func(p string) string { h, _, _ := strings.Cut(path.Base(p), "-"); return h }
	out := map[string]bool{name: true}
	for changed := true; changed; {
		changed = false
		for n, l := range paths {
			if out[n] {
				continue
			}
			for m := range out {
				if bytes.Contains(l.content, []byte(hashOf(paths[m].path))) {
					out[n], changed = true, true
					break
				}
			}
		}
	}
	return out
}

// otherLayers are an image's layers that hold no store path, by history entry.
func otherLayers(t *testing.T, img v1.Image) map[string]v1.Hash {
	t.Helper()
	cfg, _ := img.ConfigFile()
	layers, _ := img.Layers()
	out := map[string]v1.Hash{}
	i := 0
	for _, h := range cfg.History {
		if h.EmptyLayer {
			continue
		}
		if !strings.HasPrefix(h.CreatedBy, "nix: ") {
			d, err := layers[i].Digest()
			if err != nil {
				t.Fatal(err)
			}
			out[h.CreatedBy] = d
		}
		i++
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// TestOverlayChangesOnlyWhatItPatches builds the python runtime three times: as it is, with
// the built-in overlays (which change nothing in the fixture), and with two overlay files from
// the build context that patch zlib. The patched image differs from the first in exactly zlib,
// the outputs of derivations built with it, and the store paths that refer to those, directly
// or not; every other store path keeps its layer, byte for byte.
func TestOverlayChangesOnlyWhatItPatches(t *testing.T) {
	testenv.SkipIfShort(t)
	const image = "kind: runtime\nsets: [base, python]\n"
	build := func(suffix string, files map[string]string) v1.Image {
		dir := t.TempDir()
		writeFiles(t, dir, files)
		ref := imageName(t, suffix)
		mustBuild(t, buildRequest{Dir: dir, Platforms: "linux/amd64", Push: ref})
		return pulledImages(t, ref)["linux/amd64"]
	}
	plain := build("plain", map[string]string{"Laingfile": image})
	builtins := build("builtins", map[string]string{"Laingfile": "overlays: [cve-patches, license-fixes, custom-builds]\n" + image})
	// Two files, in an order that matters: the second reads what the first adds, so the build
	// fails unless they are applied as listed.
	patched := build("patched", map[string]string{
		"Laingfile": "overlays: [./nix/advisory.nix, ./nix/zlib.nix]\n" + image,
		"nix/advisory.nix": `# The advisory the patch is for, for the next overlay.
final: prev: { zlibAdvisory = "CVE-2022-37434"; }
`,
		"nix/zlib.nix": `# Rebuilds zlib with a fix, as a CVE patch would: the same name and version, a new derivation.
final: prev: { zlib = prev.zlib.override { patchedFor = prev.zlibAdvisory; }; }
`,
	})

	base := byName(t, plain)
	if _, ok := base["zlib-1.3.1"]; !ok {
		t.Fatalf("the python runtime has no zlib-1.3.1; its store paths: %v", sortedKeys(base))
	}

	// The built-in overlays change nothing in the fixture (there is no ffmpeg to rebuild and
	// no open CVE), so the image is the same.
	sameStoreLayers(t, "built-in overlays", builtins, plain)
	if a, b := otherLayers(t, builtins), otherLayers(t, plain); len(a) != len(b) {
		t.Errorf("built-in overlays: %d other layers, want %d", len(a), len(b))
	} else {
		for k, d := range b {
			if a[k] != d {
				t.Errorf("built-in overlays: layer %q differs", k)
			}
		}
	}

	after := byName(t, patched)
	if got, want := sortedKeys(after), sortedKeys(base); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("the patched image has store paths %v, want the same names as %v", got, want)
	}
	want := referrers(base, "zlib-1.3.1")
	// gcc's lib output is built by the compiler's derivation, which links zlib: as in nixpkgs,
	// it gets a new store path though it does not refer to zlib, and so do its referrers.
	maps.Copy(want, referrers(base, "gcc-14.2.1-lib"))
	var changed, kept []string
	for name, l := range base {
		a := after[name]
		switch {
		case a.path != l.path:
			changed = append(changed, name)
			if !want[name] {
				t.Errorf("%s changed (%s -> %s) but does not depend on zlib", name, l.path, a.path)
			}
			if a.digest == l.digest {
				t.Errorf("%s has a new store path but the same layer", name)
			}
		case want[name]:
			t.Errorf("%s depends on zlib but kept its store path %s", name, l.path)
		case a.digest != l.digest:
			t.Errorf("%s kept its store path but its layer changed: %s -> %s", name, l.digest, a.digest)
		default:
			kept = append(kept, name)
		}
	}
	sort.Strings(changed)
	sort.Strings(kept)
	// Outside the store, the customisation layer changes with the profile it links to.
	var otherChanged []string
	before, now := otherLayers(t, plain), otherLayers(t, patched)
	for k, d := range before {
		if now[k] != d {
			otherChanged = append(otherChanged, k)
		}
	}
	sort.Strings(otherChanged)
	t.Logf("changed store-path layers (%d): %s", len(changed), strings.Join(changed, ", "))
	t.Logf("unchanged store-path layers (%d): %s", len(kept), strings.Join(kept, ", "))
	t.Logf("changed other layers: %q", otherChanged)
	if len(changed) < 3 || len(kept) < 10 {
		t.Errorf("%d paths changed and %d kept: the test image should have both, plenty", len(changed), len(kept))
	}
}

// TestProjectPackage builds a runtime with a package of the project's own, a stdenv.mkDerivation
// in the build context called with the pinned package set, and runs it: it reads the
// Laingfile's nixpkgs config and refers to zlib, whose layer it shares with the other images.
func TestProjectPackage(t *testing.T) {
	testenv.SkipIfShort(t)
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"Laingfile": `nixpkgs:
  config:
    greeting: hello from the Laingfile
kind: runtime
sets: [base]
packages: [./nix/app.nix]
cmd: [hello-app]
`,
		"nix/app.nix": `# The project's own package, called like nixpkgs' callPackage.
{ stdenv, runtimeShell, config, zlib }:
stdenv.mkDerivation {
  pname = "hello-app";
  version = "1.0.0";
  src = ../src;
  installPhase = ''
    mkdir -p $out/bin $out/share/hello-app
    cp message.txt $out/share/hello-app/
    {
      echo '#!${runtimeShell}'
      echo "echo \"\$(cat $out/share/hello-app/message.txt), ${config.greeting or "no greeting"}, zlib ${zlib.version}\""
      echo "test -e ${zlib}/lib/libz.so.1 && echo zlib is here"
    } >$out/bin/hello-app
    chmod +x $out/bin/hello-app
  '';
}
`,
		"src/message.txt": "hello-app 1.0.0\n",
	})
	ref := imageName(t, "app")
	mustBuild(t, buildRequest{Dir: dir, Platforms: "linux/amd64", Push: ref})
	img := pulledImages(t, ref)["linux/amd64"]

	paths := byName(t, img)
	app, ok := paths["hello-app-1.0.0"]
	if !ok {
		t.Fatalf("no layer for hello-app-1.0.0; store paths: %v", sortedKeys(paths))
	}
	if _, ok := paths["zlib-1.3.1"]; !ok {
		t.Errorf("zlib, which hello-app refers to, has no layer; store paths: %v", sortedKeys(paths))
	}
	if !referrers(paths, "zlib-1.3.1")["hello-app-1.0.0"] {
		t.Errorf("hello-app (%s) does not refer to zlib", app.path)
	}

	out := mustRunInImage(t, imageRun{Image: ref, Script: "hello-app"})
	if want := "hello-app 1.0.0, hello from the Laingfile, zlib 1.3.1\nzlib is here\n"; out != want {
		t.Errorf("hello-app printed %q, want %q", out, want)
	}
}

// TestNixFileErrors checks that overlay and package files the build context lacks are reported
// at their Laingfile lines with the nearest name, before Nix runs.
func TestNixFileErrors(t *testing.T) {
	testenv.SkipIfShort(t)
	tests := []struct {
		name     string
		src      string
		want     string
		wantLine int32
	}{
		{"package file", "kind: runtime\npackages:\n  - ./nix/ap.nix\n", `package file "./nix/ap.nix" not found in the build context (did you mean "app.nix"?)`, 3},
		{"overlay file", "overlays:\n  - ./nix/overlay.nix\nkind: runtime\n", `overlay "./nix/overlay.nix" not found in the build context (did you mean "overlays.nix"?)`, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFiles(t, dir, map[string]string{"Laingfile": tt.src, "nix/app.nix": "{ hello }: hello\n", "nix/overlays.nix": "final: prev: { }\n"})
			buildFailsAt(t, buildRequest{Dir: dir, Platforms: "linux/amd64"}, tt.want, tt.wantLine)
		})
	}
}
