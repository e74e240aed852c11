package e2e

import (
	"bytes"
	"compress/gzip"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/moby/buildkit/client"

	"github.com/laingville/laingfile/test/testenv"
)

// binaryCache is a Nix binary cache on 127.0.0.1 that has nothing in it and wants a token:
// Nix asks it for each path it would build (with the token from the netrc the build step
// writes), gets "not found" and builds the path itself. Reaching a real cache would need the
// internet; what matters here is that the token gets to Nix and nowhere else.
type binaryCache struct {
	URL        string
	authorized atomic.Int32 // requests with the right token
	refused    atomic.Int32 // requests without it
}

func newBinaryCache(t *testing.T, token string) *binaryCache {
	t.Helper()
	c := &binaryCache{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// A netrc entry without a login gives Basic auth with an empty user name.
		if _, password, ok := r.BasicAuth(); !ok || password != token {
			c.refused.Add(1)
			w.Header().Set("WWW-Authenticate", `Basic realm="cache"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		c.authorized.Add(1)
		if r.URL.Path == "/nix-cache-info" {
			_, _ = io.WriteString(w, "StoreDir: /nix/store\nWantMassQuery: 1\nPriority: 30\n")
			return
		}
		http.NotFound(w, r)
	}))
	t.Cleanup(srv.Close)
	c.URL = srv.URL
	return c
}

// findSecret looks for secret in every file under root, and inside every gzip-compressed
// file (layers and cache blobs), and returns the files it is in and how many it read.
func findSecret(t *testing.T, root string, secret []byte) (found []string, files int) {
	t.Helper()
	err := filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
		if err != nil || !info.Mode().IsRegular() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		files++
		if bytes.Contains(data, secret) {
			found = append(found, p)
		}
		switch {
		case bytes.HasPrefix(data, []byte{0x1f, 0x8b}):
			zr, err := gzip.NewReader(bytes.NewReader(data))
			if err != nil {
				return err
			}
			plain, err := io.ReadAll(zr)
			if err != nil {
				return err
			}
			if bytes.Contains(plain, secret) {
				found = append(found, p+" (uncompressed)")
			}
		case bytes.HasPrefix(data, []byte{0x28, 0xb5, 0x2f, 0xfd}):
			t.Fatalf("%s is zstd-compressed, which this test cannot look into", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found, files
}

// TestSubstituterSecretStaysSecret builds with a private binary cache whose token comes as a
// BuildKit secret. The cache sees the token, so Nix used it; then the image (exported as an
// OCI layout, with its SBOM attestation), the build cache (exported with mode=max, every intermediate result) and the
// build's output are searched for it, compressed blobs uncompressed: it is in none of them.
func TestSubstituterSecretStaysSecret(t *testing.T) {
	testenv.SkipIfShort(t)
	requireHostNetwork(t)
	token := "laingfile-token-" + nonce(t)
	cache := newBinaryCache(t, token)
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"Laingfile": `substituters:
  - url: ` + cache.URL + `
    publicKey: laingfile-test-1:` + base64.StdEncoding.EncodeToString(pub) + `
    secret: cachetoken
kind: runtime
sets: [base]
packages: [./nix/fresh.nix]
`,
		// A path no store has yet, so that Nix asks the cache for it before building it.
		"nix/fresh.nix": `{ runCommand }: runCommand "laingfile-fresh" { fresh = "` + nonce(t) + `"; } "mkdir -p $out; echo $fresh >$out/fresh"
`,
	})

	t.Run("without the secret", func(t *testing.T) {
		want := `the binary cache ` + cache.URL + ` needs the build secret "cachetoken": pass it with --secret id=cachetoken,src=FILE (or env=VARIABLE)`
		buildFailsAt(t, buildRequest{Dir: dir, Platforms: "linux/amd64"}, want, 2)
	})

	imageDir, cacheDir := t.TempDir(), t.TempDir()
	res := mustBuild(t, buildRequest{
		Dir:       dir,
		Platforms: "linux/amd64",
		Secrets:   map[string][]byte{"cachetoken": []byte(token + "\n")},
		// The SBOM attestation is searched with the image.
		SBOM: true,
		Exports: []client.ExportEntry{{
			Type: client.ExporterOCI, Attrs: map[string]string{"tar": "false"}, OutputDir: imageDir,
		}},
		CacheExports: []client.CacheOptionsEntry{{
			Type: "local", Attrs: map[string]string{"dest": cacheDir, "mode": "max"},
		}},
	})
	if cache.authorized.Load() == 0 {
		t.Fatalf("the binary cache never got the token (%d requests without it): the netrc did not reach Nix\n%s", cache.refused.Load(), tail(res.Log, 40))
	}
	if n := cache.refused.Load(); n > 0 {
		t.Errorf("the binary cache got %d requests without the token", n)
	}

	if found, _ := findSecret(t, imageDir, []byte("https://spdx.dev/Document")); len(found) == 0 {
		t.Errorf("the image has no SBOM attestation to search")
	}
	for _, where := range []struct{ name, dir string }{{"the image", imageDir}, {"the build cache", cacheDir}} {
		found, files := findSecret(t, where.dir, []byte(token))
		if files < 5 {
			t.Fatalf("%s has %d files; the export did not happen", where.name, files)
		}
		if len(found) > 0 {
			t.Errorf("the token is in %s: %v", where.name, found)
		}
		t.Logf("%s: %d files searched", where.name, files)
	}
	if strings.Contains(res.Log, token) {
		t.Errorf("the build output shows the token")
	}
	for k, v := range res.Response.ExporterResponse {
		if strings.Contains(v, token) {
			t.Errorf("the exporter response %s has the token", k)
		}
	}
}
