package testenv

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The Nix binary cache of the environment: hack/binary-cache.sh makes it (with the builder
// image's Nix, from the python example's closures for x86_64-linux and aarch64-linux) and
// hack/env.sh serves it (hack/binarycache serve). Under the base URL:
//
//	/signed/    the closures, narinfos signed with BinaryCachePublicKey's key (public)
//	/unsigned/  the same closures, narinfos without Sig (public)
//	/private/   the signed cache, for HTTP Basic auth with BinaryCacheToken as the password
//	/push/NAME/ an empty cache per NAME that Nix can copy to (PUT) and substitute from, with
//	            the token
//	/_stats/PREFIX  narinfo and NAR requests served per prefix (BinaryCacheStats)
const (
	// BinaryCacheAddr is where hack/env.sh serves the caches.
	BinaryCacheAddr = "127.0.0.1:5001"
	// BinaryCacheKeyName is the name of the signed cache's key ("name:base64" is the key).
	BinaryCacheKeyName = "laingfile-test-cache-1"
	// binaryCacheTokenFile is LAINGFILE_BINARY_CACHE_TOKEN of hack/lib.sh.
	binaryCacheTokenFile = "/run/laingfile/binary-cache.token"

	binaryCacheHint = "run hack/setup.sh (hack/binary-cache.sh makes the caches, hack/env.sh up serves them)"
)

// BinaryCacheDir is LAINGFILE_BINARY_CACHE of hack/lib.sh: keys/{public,secret}, signed/,
// unsigned/ and paths/<system> (the store paths of each system's closures).
func BinaryCacheDir() string {
	cache := os.Getenv("LAINGFILE_CACHE")
	if cache == "" {
		cache = "/var/cache/laingfile"
	}
	return filepath.Join(cache, "binarycache", "cache")
}

// BinaryCacheURL returns the caches' base URL ("http://127.0.0.1:5001"), failing the test if
// the caches are not made or no server answers there.
func BinaryCacheURL(t testing.TB) string {
	t.Helper()
	dir := BinaryCacheDir()
	if _, err := os.Stat(filepath.Join(dir, "keys", "public")); err != nil {
		t.Fatalf("testenv: the binary caches are not made (%v); %s", err, binaryCacheHint)
	}
	base := "http://" + BinaryCacheAddr
	resp := binaryCacheGet(t, base+"/signed/nix-cache-info")
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("testenv: GET %s/signed/nix-cache-info answered %s, want 200 OK; is something else on %s? %s",
			base, resp.Status, BinaryCacheAddr, binaryCacheHint)
	}
	return base
}

// BinaryCachePublicKey returns the public key of the signed cache ("laingfile-test-cache-1:…"),
// what trusted-public-keys needs.
func BinaryCachePublicKey(t testing.TB) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(BinaryCacheDir(), "keys", "public"))
	if err != nil {
		t.Fatalf("testenv: no public key of the binary cache: %v; %s", err, binaryCacheHint)
	}
	key := strings.TrimSpace(string(data))
	if !strings.HasPrefix(key, BinaryCacheKeyName+":") {
		t.Fatalf("testenv: the binary cache's public key %q is not named %s; run hack/binary-cache.sh --force", key, BinaryCacheKeyName)
	}
	return key
}

// BinaryCacheToken returns the token /private and /push want as the HTTP Basic password (any
// user name; a netrc entry `machine 127.0.0.1 login x password TOKEN` gives it to Nix).
func BinaryCacheToken(t testing.TB) string {
	t.Helper()
	data, err := os.ReadFile(binaryCacheTokenFile)
	if err != nil {
		t.Fatalf("testenv: cannot read the binary cache token: %v; it is root's (run the tests as root); %s", err, binaryCacheHint)
	}
	token := strings.TrimSpace(string(data))
	if token == "" {
		t.Fatalf("testenv: %s is empty; remove it and run hack/env.sh down && hack/env.sh up", binaryCacheTokenFile)
	}
	return token
}

// BinaryCachePaths returns the store paths the caches hold for a Nix system ("x86_64-linux",
// "aarch64-linux"): the union of that system's closures, sorted.
func BinaryCachePaths(t testing.TB, system string) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(BinaryCacheDir(), "paths", system))
	if err != nil {
		t.Fatalf("testenv: the binary caches list no paths for %s: %v; %s", system, err, binaryCacheHint)
	}
	paths := strings.Fields(string(data))
	if len(paths) == 0 {
		t.Fatalf("testenv: the binary caches hold no paths for %s; run hack/binary-cache.sh --force", system)
	}
	return paths
}

// CacheStats counts what the binary cache server answered under one prefix since it started
// (the JSON of GET /_stats/PREFIX).
type CacheStats struct {
	Narinfo        int64 `json:"narinfo"`        // narinfo GETs answered 200
	NarinfoMissing int64 `json:"narinfoMissing"` // narinfo GETs answered 404
	Nar            int64 `json:"nar"`            // NAR GETs answered 200
	Put            int64 `json:"put"`            // files stored (push caches)
	Refused        int64 `json:"refused"`        // answered 401 or 403
}

// BinaryCacheStats returns the counters of a prefix: "signed", "unsigned", "private" or
// "push/NAME". Compare them before and after a build to see what came from the cache.
func BinaryCacheStats(t testing.TB, prefix string) CacheStats {
	t.Helper()
	url := BinaryCacheURL(t) + "/_stats/" + prefix
	resp := binaryCacheGet(t, url)
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("testenv: GET %s answered %s; the prefixes are signed, unsigned, private and push/NAME", url, resp.Status)
	}
	var st CacheStats
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatalf("testenv: GET %s: %v", url, err)
	}
	return st
}

func binaryCacheGet(t testing.TB, url string) *http.Response {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("testenv: no binary cache answers GET %s: %v; %s", url, err, binaryCacheHint)
	}
	return resp
}

// String makes failures print the counters by name.
func (s CacheStats) String() string {
	return fmt.Sprintf("narinfo %d (missing %d), nar %d, put %d, refused %d", s.Narinfo, s.NarinfoMissing, s.Nar, s.Put, s.Refused)
}
