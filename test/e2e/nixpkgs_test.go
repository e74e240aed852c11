package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/laingville/laingfile/internal/nar"
	"github.com/laingville/laingfile/test/testenv"
)

// These tests pin nixpkgs the ways a Laingfile can (url, flake.lock) and fetch it for real:
// the test process serves the fixture universe as a source tarball on 127.0.0.1, which the
// build step reaches because buildkitd runs steps in the host's network (hack/env.sh starts it
// without CNI). A `rev` pin fetches from github.com, which is out of reach offline; it is the
// same fetchTarball with GitHub's URL, and the unit tests cover how the URL is made.

// requireHostNetwork fails the test when build steps cannot reach the test's servers.
func requireHostNetwork(t *testing.T) {
	t.Helper()
	workers, err := testenv.Client(t).ListWorkers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range workers {
		if n := w.Labels["org.mobyproject.buildkit.worker.network"]; n != "host" {
			t.Fatalf("buildkitd worker %s runs steps in network %q; these tests serve files on 127.0.0.1 and need the host network (start buildkitd with hack/env.sh up, which uses it)", w.ID, n)
		}
	}
}

// nonce is a fresh random string.
func nonce(t *testing.T) string {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// fixtureTarball is the fixture universe as a nixpkgs source tarball (one top directory, as
// GitHub's are) and the NAR hash of its unpacked tree, computed here. It holds what linux/amd64
// images without Nix use (the busybox and sudo bootstraps, not Nix's 73 MiB), and a file with a
// fresh nonce, so that its hash is new on every run and the build step has to download it.
func fixtureTarball(t *testing.T) ([]byte, string) {
	t.Helper()
	src := filepath.Join(testenv.RepoRoot(t), "test", "fixtures", "nixpkgs")
	if _, err := os.Stat(filepath.Join(src, "bootstrap", "x86_64-linux", "busybox", "bin", "busybox")); err != nil {
		t.Fatalf("the fixture has no x86_64-linux bootstrap (run hack/nix-builder.sh --no-push): %v", err)
	}
	data, hash, err := testenv.NixpkgsTarball(src, t.TempDir(), []string{"bootstrap/aarch64-linux", "bootstrap/x86_64-linux/nix"},
		map[string]string{"laingfile-test-nonce": nonce(t) + "\n"})
	if err != nil {
		t.Fatal(err)
	}
	return data, hash
}

// tarballServer serves data at /nixpkgs.tar.gz on 127.0.0.1 and counts the downloads.
func tarballServer(t *testing.T, data []byte) (string, *atomic.Int32) {
	t.Helper()
	var downloads atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/nixpkgs.tar.gz" {
			http.NotFound(w, r)
			return
		}
		downloads.Add(1)
		w.Header().Set("Content-Type", "application/gzip")
		_, _ = w.Write(data)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/nixpkgs.tar.gz", &downloads
}

// sameStoreLayers fails unless two images have the same store paths with the same layers.
func sameStoreLayers(t *testing.T, what string, a, b v1.Image) {
	t.Helper()
	la, na, _ := storeLayers(t, a)
	lb, nb, _ := storeLayers(t, b)
	if na != nb || len(la) != len(lb) || len(la) == 0 {
		t.Fatalf("%s: %d store paths (%d alone in a layer) against %d (%d)", what, na, len(la), nb, len(lb))
	}
	for p, d := range la {
		if lb[p] != d {
			t.Errorf("%s: %s has layer %s, and %s in the other image", what, p, d, lb[p])
		}
	}
}

func TestNixpkgsPins(t *testing.T) {
	testenv.SkipIfShort(t)
	requireHostNetwork(t)
	data, hash := fixtureTarball(t)
	url, downloads := tarballServer(t, data)
	wrongHash := nar.SRI([32]byte{1, 2, 3})
	const image = "kind: runtime\nsets: [base]\n"
	lock := func(narHash string) string {
		return fmt.Sprintf(`{
  "nodes": {
    "nixpkgs": {
      "locked": {"lastModified": 1700000000, "narHash": %q, "type": "tarball", "url": %q},
      "original": {"type": "tarball", "url": %q}
    },
    "root": {"inputs": {"nixpkgs": "nixpkgs"}}
  },
  "root": "root",
  "version": 7
}
`, narHash, url, url)
	}

	// The reference: the same image from the fixture as the `nixpkgs` named context.
	ref := imageName(t, "named")
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"Laingfile": image})
	mustBuild(t, buildRequest{Dir: dir, Platforms: "linux/amd64", Push: ref})
	named := pulledImages(t, ref)["linux/amd64"]

	t.Run("url pin", func(t *testing.T) {
		dir := t.TempDir()
		writeFiles(t, dir, map[string]string{"Laingfile": "nixpkgs:\n  url: " + url + "\n  sha256: " + hash + "\n" + image})
		ref := imageName(t, "url")
		mustBuild(t, buildRequest{Dir: dir, Platforms: "linux/amd64", Push: ref, NoNixpkgsContext: true})
		if downloads.Load() == 0 {
			t.Errorf("the build step never downloaded %s", url)
		}
		// The same nixpkgs from a tarball gives the same store paths, so the same layers.
		sameStoreLayers(t, "url pin against the named context", pulledImages(t, ref)["linux/amd64"], named)
	})

	t.Run("flake.lock tarball input", func(t *testing.T) {
		dir := t.TempDir()
		writeFiles(t, dir, map[string]string{
			"Laingfile":  "nixpkgs:\n  flakeLock: ./flake.lock\n  input: nixpkgs\n" + image,
			"flake.lock": lock(hash),
		})
		ref := imageName(t, "lock")
		mustBuild(t, buildRequest{Dir: dir, Platforms: "linux/amd64", Push: ref, NoNixpkgsContext: true})
		sameStoreLayers(t, "flake.lock against the named context", pulledImages(t, ref)["linux/amd64"], named)
	})

	t.Run("the named context overrides the pin", func(t *testing.T) {
		dir := t.TempDir()
		writeFiles(t, dir, map[string]string{"Laingfile": "nixpkgs:\n  url: http://127.0.0.1:9/unreachable.tar.gz\n  sha256: " + wrongHash + "\n" + image})
		ref := imageName(t, "override")
		mustBuild(t, buildRequest{Dir: dir, Platforms: "linux/amd64", Push: ref})
		sameStoreLayers(t, "named context with a pin in the Laingfile", pulledImages(t, ref)["linux/amd64"], named)
	})

	errorTests := []struct {
		name      string
		files     map[string]string
		noContext bool
		want      string
		wantLine  int32
	}{
		{
			name:      "wrong sha256",
			files:     map[string]string{"Laingfile": "nixpkgs:\n  url: " + url + "\n  sha256: " + wrongHash + "\n" + image},
			noContext: true,
			want:      "nixpkgs sha256 does not match: got " + hash + " for " + url + ", the Laingfile gives " + wrongHash + "; if the source is the one you meant, write sha256: " + hash,
			wantLine:  3,
		},
		{
			name:      "wrong narHash in flake.lock",
			files:     map[string]string{"Laingfile": "nixpkgs:\n  flakeLock: ./flake.lock\n" + image, "flake.lock": lock(wrongHash)},
			noContext: true,
			want:      `nixpkgs: the narHash of flake.lock input "nixpkgs" does not match the source: the lock gives ` + wrongHash + ", but " + url + " has NAR hash " + hash,
			wantLine:  2,
		},
		{
			name:     "unknown input",
			files:    map[string]string{"Laingfile": "nixpkgs:\n  flakeLock: ./flake.lock\n  input: nixpkgs-unstable\n" + image, "flake.lock": lock(hash)},
			want:     `nixpkgs.input: ./flake.lock has no input "nixpkgs-unstable"; its inputs are: nixpkgs`,
			wantLine: 3,
		},
		{
			name:     "malformed lock",
			files:    map[string]string{"Laingfile": "nixpkgs:\n  flakeLock: ./flake.lock\n" + image, "flake.lock": `{"nodes": {"root": `},
			want:     "nixpkgs.flakeLock: ./flake.lock: flake.lock is not valid JSON",
			wantLine: 2,
		},
		{
			name: "git input",
			files: map[string]string{"Laingfile": "nixpkgs:\n  flakeLock: ./flake.lock\n" + image,
				"flake.lock": strings.Replace(lock(hash), `"type": "tarball"`, `"type": "git"`, 1)},
			want:     `is locked as type "git", which the Laingfile cannot follow`,
			wantLine: 2,
		},
		{
			name:     "no lock file",
			files:    map[string]string{"Laingfile": "nixpkgs:\n  flakeLock: ./nix/flake.lock\n" + image},
			want:     "nixpkgs.flakeLock: ./nix/flake.lock is not in the build context",
			wantLine: 2,
		},
	}
	for _, tt := range errorTests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFiles(t, dir, tt.files)
			buildFailsAt(t, buildRequest{Dir: dir, Platforms: "linux/amd64", NoNixpkgsContext: tt.noContext}, tt.want, tt.wantLine)
		})
	}
}
