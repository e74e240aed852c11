package e2e

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/laingville/laingfile/test/testenv"
)

// cacheNarinfo is what these tests read from a narinfo.
type cacheNarinfo struct {
	StorePath  string
	URL        string
	References []string // base names
	Sigs       []string
}

func readCacheNarinfo(t *testing.T, file string) cacheNarinfo {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return parseCacheNarinfo(t, string(data))
}

func parseCacheNarinfo(t *testing.T, data string) cacheNarinfo {
	t.Helper()
	var n cacheNarinfo
	for _, line := range strings.Split(data, "\n") {
		key, value, _ := strings.Cut(line, ":")
		value = strings.TrimSpace(value)
		switch key {
		case "StorePath":
			n.StorePath = value
		case "URL":
			n.URL = value
		case "References":
			n.References = strings.Fields(value)
		case "Sig":
			n.Sigs = append(n.Sigs, value)
		}
	}
	if n.StorePath == "" || n.URL == "" {
		t.Fatalf("not a narinfo:\n%s", data)
	}
	return n
}

// narinfoFile is where a cache keeps a store path's narinfo.
func narinfoFile(cache, storePath string) string {
	hash, _, _ := strings.Cut(filepath.Base(storePath), "-")
	return filepath.Join(testenv.BinaryCacheDir(), cache, hash+".narinfo")
}

// cacheClosure is the closure of roots by the signed cache's narinfos, sorted.
func cacheClosure(t *testing.T, roots ...string) []string {
	t.Helper()
	seen := map[string]bool{}
	var walk func(p string)
	walk = func(p string) {
		if seen[p] {
			return
		}
		seen[p] = true
		for _, r := range readCacheNarinfo(t, narinfoFile("signed", p)).References {
			walk("/nix/store/" + r)
		}
	}
	for _, r := range roots {
		walk(r)
	}
	var out []string
	for p := range seen {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// largestClosureRoot is the path of a system whose closure in the cache is the largest (an
// image's profile).
func largestClosureRoot(t *testing.T, system string) string {
	t.Helper()
	best, size := "", 0
	for _, p := range testenv.BinaryCachePaths(t, system) {
		if n := len(cacheClosure(t, p)); n > size {
			best, size = p, n
		}
	}
	return best
}

func httpGet(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.SetBasicAuth("laingfile", token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

// lastCount is the number printed after the last "label=" in out.
func lastCount(t *testing.T, out, label string) int {
	t.Helper()
	i := strings.LastIndex(out, label+"=")
	if i < 0 {
		t.Fatalf("no %s= in:\n%s", label, out)
	}
	field := strings.Fields(out[i+len(label)+1:])
	if len(field) == 0 {
		t.Fatalf("nothing after %s= in:\n%s", label, out)
	}
	n, err := strconv.Atoi(field[0])
	if err != nil {
		t.Fatalf("%s=%q: %v", label, field[0], err)
	}
	return n
}

// TestBinaryCacheSmoke checks that the environment's binary caches are real and complete: every
// path of each system has a narinfo and a NAR in both caches, with its references; the signed
// narinfos carry the key's signature and the unsigned ones none; and Nix in the builder image
// substitutes the largest closure of each system from /signed into an empty store, checking
// the signatures, while the server counts the narinfos and NARs it served.
func TestBinaryCacheSmoke(t *testing.T) {
	testenv.SkipIfShort(t)
	requireHostNetwork(t)
	base := testenv.BinaryCacheURL(t)
	key := testenv.BinaryCachePublicKey(t)
	token := testenv.BinaryCacheToken(t)
	image := testenv.BuilderImage(t)

	t.Run("narinfos", func(t *testing.T) {
		for _, system := range []string{"x86_64-linux", "aarch64-linux"} {
			paths := testenv.BinaryCachePaths(t, system)
			in := map[string]bool{}
			for _, p := range paths {
				in[p] = true
			}
			for _, p := range paths {
				signed := readCacheNarinfo(t, narinfoFile("signed", p))
				unsigned := readCacheNarinfo(t, narinfoFile("unsigned", p))
				if signed.StorePath != p || unsigned.StorePath != p {
					t.Fatalf("%s: narinfos for %s and %s", p, signed.StorePath, unsigned.StorePath)
				}
				if len(signed.Sigs) != 1 || !strings.HasPrefix(signed.Sigs[0], testenv.BinaryCacheKeyName+":") {
					t.Errorf("%s: signed narinfo has the signatures %q, want one by %s", p, signed.Sigs, testenv.BinaryCacheKeyName)
				}
				if len(unsigned.Sigs) != 0 {
					t.Errorf("%s: unsigned narinfo has the signatures %q", p, unsigned.Sigs)
				}
				for cache, n := range map[string]cacheNarinfo{"signed": signed, "unsigned": unsigned} {
					if _, err := os.Stat(filepath.Join(testenv.BinaryCacheDir(), cache, filepath.FromSlash(n.URL))); err != nil {
						t.Errorf("%s: no NAR in the %s cache: %v", p, cache, err)
					}
				}
				for _, r := range signed.References {
					if !in["/nix/store/"+r] {
						t.Errorf("%s: reference %s is not among the %s paths", p, r, system)
					}
				}
			}
			t.Logf("%s: %d paths, each with a signed and an unsigned narinfo and its references", system, len(paths))
		}

		// The same narinfos over HTTP; /private is the signed cache behind the token.
		p := testenv.BinaryCachePaths(t, "x86_64-linux")[0]
		hash, _, _ := strings.Cut(filepath.Base(p), "-")
		want, err := os.ReadFile(narinfoFile("signed", p))
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			prefix, token string
			status        int
		}{
			{"signed", "", 200}, {"private", token, 200}, {"private", "", 401}, {"private", "wrong", 403},
		} {
			status, body := httpGet(t, base+"/"+c.prefix+"/"+hash+".narinfo", c.token)
			if status != c.status {
				t.Errorf("GET /%s/%s.narinfo (token %v): %d, want %d", c.prefix, hash, c.token != "", status, c.status)
			}
			if status == 200 && body != string(want) {
				t.Errorf("GET /%s/%s.narinfo is not the signed cache's narinfo:\n%s", c.prefix, hash, body)
			}
		}
	})

	t.Run("substitute", func(t *testing.T) {
		roots := []string{largestClosureRoot(t, "x86_64-linux"), largestClosureRoot(t, "aarch64-linux")}
		closure := cacheClosure(t, roots...)
		before := testenv.BinaryCacheStats(t, "signed")
		script := `set -e
store='local?root=/tmp/empty'
nix-store --store "$store" --realise ` + strings.Join(roots, " ") + ` \
	--option substituters ` + base + `/signed --option trusted-public-keys '` + key + `' 2>&1
echo "valid=$(nix-store --store "$store" --query --requisites ` + strings.Join(roots, " ") + ` | wc -l)"
nix-store --store "$store" --verify-path $(nix-store --store "$store" --query --requisites ` + strings.Join(roots, " ") + `)
echo verified`
		out := mustRunInImage(t, imageRun{Image: image, Script: script})
		if got := lastCount(t, out, "valid"); got != len(closure) {
			t.Errorf("the store holds %d paths after substituting %s, want the %d of their closure:\n%s", got, roots, len(closure), out)
		}
		if n := strings.Count(out, "from '"+base+"/signed'"); n != len(closure) {
			t.Errorf("Nix copied %d paths from %s/signed, want %d:\n%s", n, base, len(closure), out)
		}
		after := testenv.BinaryCacheStats(t, "signed")
		if after.Narinfo-before.Narinfo < int64(len(closure)) || after.Nar-before.Nar < int64(len(closure)) {
			t.Errorf("the server counted %d narinfo and %d NAR requests under /signed for %d substituted paths (before: %v; after: %v)",
				after.Narinfo-before.Narinfo, after.Nar-before.Nar, len(closure), before, after)
		}
		t.Logf("substituted %d paths (%s and %s): /signed served %d narinfos and %d NARs",
			len(closure), roots[0], roots[1], after.Narinfo-before.Narinfo, after.Nar-before.Nar)
	})
	// A small closure for the checks below: a path of x86_64-linux with references.
	small := smallClosureRoot(t, "x86_64-linux")
	smallClosure := cacheClosure(t, small)
	realise := func(store, cache string, opts ...string) string {
		return "nix-store --store 'local?root=" + store + "' --realise " + small + " --option substituters " + base + "/" + cache +
			" " + strings.Join(opts, " ") + " 2>&1; echo status=$?\n"
	}
	trust := "--option trusted-public-keys '" + key + "'"

	t.Run("signatures", func(t *testing.T) {
		// The image trusts only cache.nixos.org's key; the unsigned cache has no signature.
		out := mustRunInImage(t, imageRun{Image: image, Script: "echo '== untrusted'\n" + realise("/tmp/a", "signed") +
			"echo '== unsigned'\n" + realise("/tmp/b", "unsigned", trust)})
		for _, cache := range []string{"signed", "unsigned"} {
			want := "from '" + base + "/" + cache + "' is not signed by any of the keys in 'trusted-public-keys'"
			if !strings.Contains(out, want) {
				t.Errorf("want Nix to refuse the substitute from /%s with %q:\n%s", cache, want, out)
			}
		}
		if strings.Count(out, "status=1") != 2 {
			t.Errorf("want both substitutions to fail:\n%s", out)
		}
	})

	t.Run("token", func(t *testing.T) {
		in := t.TempDir()
		writeNetrc(t, in, "netrc", token)
		writeNetrc(t, in, "wrong", "not-the-token")
		before := testenv.BinaryCacheStats(t, "private")
		out := mustRunInImage(t, imageRun{Image: image, Input: in, Script: "echo '== no netrc'\n" + realise("/tmp/a", "private", trust) +
			"echo '== wrong token'\n" + realise("/tmp/b", "private", trust, "--option netrc-file "+inputDir+"/wrong") +
			"echo '== token'\n" + realise("/tmp/c", "private", trust, "--option netrc-file "+inputDir+"/netrc")})
		// Nix 2.8 takes a 401 or 403 for "no cache here": a warning, and the path is built
		// (here: cannot be) rather than the build failing on the token.
		if want := "warning: '" + base + "/private' does not appear to be a binary cache"; strings.Count(out, want) != 2 {
			t.Errorf("want %q twice (no token, wrong token):\n%s", want, out)
		}
		if strings.Count(out, "status=1") != 2 || strings.Count(out, "status=0") != 1 {
			t.Errorf("want the substitutions without the token to fail and the one with it to succeed:\n%s", out)
		}
		after := testenv.BinaryCacheStats(t, "private")
		if after.Refused-before.Refused < 2 || after.Narinfo-before.Narinfo < int64(len(smallClosure)) || after.Nar-before.Nar < int64(len(smallClosure)) {
			t.Errorf("/private counted %v before and %v after, want 2 refusals and %d narinfos and NARs more", before, after, len(smallClosure))
		}
	})

	t.Run("push", func(t *testing.T) {
		in := t.TempDir()
		writeNetrc(t, in, "netrc", token)
		netrc := "--option netrc-file " + inputDir + "/netrc"
		prefix := "push/smoke-" + nonce(t)
		// Fetched from /signed, pushed with its signature; then, in a fresh container (Nix
		// caches narinfos under ~/.cache), substituted from the push cache.
		mustRunInImage(t, imageRun{Image: image, Input: in, Script: "set -e\n" + realise("/tmp/a", "signed", trust) +
			"nix --extra-experimental-features nix-command copy --from 'local?root=/tmp/a' --to " + base + "/" + prefix + " " + small + " " + netrc + " 2>&1"})
		pushed := testenv.BinaryCacheStats(t, prefix)
		if pushed.Put != int64(2*len(smallClosure)) {
			t.Errorf("%s: %d files stored, want a narinfo and a NAR for each of %d paths (%v)", prefix, pushed.Put, len(smallClosure), pushed)
		}
		out := mustRunInImage(t, imageRun{Image: image, Input: in, Script: realise("/tmp/b", prefix, trust, netrc)})
		if !strings.Contains(out, "status=0") || strings.Count(out, "from '"+base+"/"+prefix+"'") != len(smallClosure) {
			t.Errorf("want %d paths substituted from /%s:\n%s", len(smallClosure), prefix, out)
		}
		after := testenv.BinaryCacheStats(t, prefix)
		if after.Narinfo < int64(len(smallClosure)) || after.Nar < int64(len(smallClosure)) {
			t.Errorf("%s counted %v, want %d narinfos and NARs served", prefix, after, len(smallClosure))
		}
	})
}

// smallClosureRoot is a path of a system with references, whose closure is the smallest.
func smallClosureRoot(t *testing.T, system string) string {
	t.Helper()
	best, size := "", 0
	for _, p := range testenv.BinaryCachePaths(t, system) {
		if n := len(cacheClosure(t, p)); n > 1 && (size == 0 || n < size) {
			best, size = p, n
		}
	}
	if best == "" {
		t.Fatalf("no %s path in the binary cache has references", system)
	}
	return best
}

// writeNetrc writes a netrc for the binary cache with token as the password.
func writeNetrc(t *testing.T, dir, name, token string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte("machine 127.0.0.1 login laingfile password "+token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}
