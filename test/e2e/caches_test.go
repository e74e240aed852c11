package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/moby/buildkit/client"

	"github.com/laingville/laingfile/test/testenv"
)

// freshBuilder is a builder image BuildKit has not seen: an empty /nix (testenv.FreshBuilderImage).
func freshBuilder(t *testing.T) string {
	t.Helper()
	testenv.BuilderImage(t)
	ref, err := testenv.FreshBuilderImage()
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

// nixCounts are the build step's own account: "nix: substituted N paths, built M".
type nixCounts struct{ Substituted, Built int }

var nixCountsRe = regexp.MustCompile(`nix: substituted (\d+) paths, built (\d+)`)

func countsOf(t *testing.T, log string) nixCounts {
	t.Helper()
	m := nixCountsRe.FindStringSubmatch(log)
	if m == nil {
		t.Fatalf("no %q line in the build's output:\n%s", nixCountsRe, log)
	}
	s, _ := strconv.Atoi(m[1])
	b, _ := strconv.Atoi(m[2])
	return nixCounts{Substituted: s, Built: b}
}

var toBuildRe = regexp.MustCompile(`nix: to build (\S+)`)

// toBuild are the names of the derivations the build step's plan builds.
func toBuild(log string) []string {
	var names []string
	for _, m := range toBuildRe.FindAllStringSubmatch(log, -1) {
		names = append(names, m[1])
	}
	return names
}

// pythonWithCache is the python example's Laingfile with a substituters: entry on top.
func pythonWithCache(t *testing.T, entry string) string {
	t.Helper()
	dir := t.TempDir()
	example := filepath.Join(testenv.RepoRoot(t), "examples", "python")
	if err := os.CopyFS(dir, os.DirFS(example)); err != nil {
		t.Fatal(err)
	}
	laingfile, err := os.ReadFile(filepath.Join(dir, "Laingfile"))
	if err != nil {
		t.Fatal(err)
	}
	writeFiles(t, dir, map[string]string{"Laingfile": "substituters:\n" + entry + "\n" + string(laingfile)})
	return dir
}

// warningsText joins the build's warnings, with the Laingfile lines they point at.
func warningsText(res *buildResult) string {
	var b strings.Builder
	for _, w := range res.Warnings {
		b.WriteString(string(w.Short))
		for _, r := range w.Range {
			b.WriteString(" @" + strconv.Itoa(int(r.Start.Line)))
		}
		b.WriteString("\n")
	}
	return b.String()
}

// TestBinaryCacheSubstitution builds the python runtime on fresh builders with the
// environment's real binary caches (made and signed by Nix): the signed one gives every path,
// so nothing is built; a wrong key, an unsigned cache, a refused token and an unreachable cache
// give a warning at the substituters: entry and the paths are built instead.
func TestBinaryCacheSubstitution(t *testing.T) {
	testenv.SkipIfShort(t)
	base := testenv.BinaryCacheURL(t)
	key := testenv.BinaryCachePublicKey(t)
	token := testenv.BinaryCacheToken(t)
	const otherKey = "other-cache-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY="
	tests := []struct {
		name    string
		entry   string
		secrets map[string][]byte
		prefix  string // the cache's stats prefix
		fetched bool
		warning string // a fragment of the warning at line 2 ("" for none)
	}{
		{name: "signed", entry: "  - {url: " + base + "/signed, publicKey: " + key + "}", prefix: "signed", fetched: true},
		{name: "private with its token", entry: "  - {url: " + base + "/private, publicKey: " + key + ", secret: cache-token}",
			secrets: map[string][]byte{"cache-token": []byte(token)}, prefix: "private", fetched: true},
		{name: "wrong key", entry: "  - {url: " + base + "/signed, publicKey: " + otherKey + "}", prefix: "signed",
			warning: "signed by no key in its publicKey (" + otherKey + ")"},
		{name: "unsigned", entry: "  - {url: " + base + "/unsigned, publicKey: " + key + "}", prefix: "unsigned",
			warning: "signed by no key in its publicKey"},
		{name: "wrong token", entry: "  - {url: " + base + "/private, publicKey: " + key + ", secret: cache-token}",
			secrets: map[string][]byte{"cache-token": []byte("not-the-token")}, prefix: "private", warning: "could not be used"},
		{name: "unreachable", entry: "  - {url: http://127.0.0.1:1/cache, publicKey: " + key + "}", warning: "could not be used"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := pythonWithCache(t, tc.entry)
			var before testenv.CacheStats
			if tc.prefix != "" {
				before = testenv.BinaryCacheStats(t, tc.prefix)
			}
			res := mustBuild(t, buildRequest{Dir: dir, Target: "runtime", Platforms: "linux/amd64", Builder: freshBuilder(t), Secrets: tc.secrets})
			counts := countsOf(t, res.Log)
			warnings := warningsText(res)
			t.Logf("%+v; warnings:\n%s", counts, warnings)
			if tc.prefix != "" {
				after := testenv.BinaryCacheStats(t, tc.prefix)
				t.Logf("cache %s: before %v, after %v", tc.prefix, before, after)
				if fetched := after.Nar - before.Nar; tc.fetched && fetched < int64(counts.Substituted) {
					t.Errorf("the cache served %d NARs for %d substituted paths", fetched, counts.Substituted)
				}
			}
			// The profile is built where it is used, as nixpkgs' buildEnv is (allowSubstitutes =
			// false): every other path comes from the cache.
			built := toBuild(res.Log)
			switch {
			case tc.fetched && (counts.Substituted == 0 || counts.Built != 1 || len(built) != 1 || built[0] != "laingfile-profile"):
				t.Errorf("substituted %d paths and built %d (%v), want every path but the profile from the cache", counts.Substituted, counts.Built, built)
			case !tc.fetched && counts.Built == 0:
				t.Errorf("built nothing: paths came from a cache the build should not use")
			}
			if tc.warning == "" && warnings != "" {
				t.Errorf("unexpected warnings:\n%s", warnings)
			}
			if tc.warning != "" && !strings.Contains(warnings, tc.warning) || tc.warning != "" && !strings.Contains(warnings, " @2") {
				t.Errorf("warnings:\n%s\nwant one at line 2 (the substituters: entry) saying %q", warnings, tc.warning)
			}
			if strings.Contains(res.Log, token) || strings.Contains(warnings, token) {
				t.Errorf("the token is in the build's output")
			}
		})
	}
}

// TestBinaryCachePush builds a runtime with a package of the project's own on a fresh builder,
// pushing what Nix built to a cache of the environment's server (Nix's HTTP protocol, PUT,
// with the token and the environment's signing key as build secrets), then builds it again on
// another fresh builder: that build fetches everything and builds only the profile. The token
// and the signing key are in no layer, no exported cache record and no progress output. A
// push that fails stops the build at the entry, or warns there with bestEffort.
func TestBinaryCachePush(t *testing.T) {
	testenv.SkipIfShort(t)
	base := testenv.BinaryCacheURL(t)
	key := testenv.BinaryCachePublicKey(t)
	token := testenv.BinaryCacheToken(t)
	signingKey, err := os.ReadFile(filepath.Join(testenv.BinaryCacheDir(), "keys", "secret"))
	if err != nil {
		t.Fatal(err)
	}
	push := "push/" + nonce(t)
	laingfile := func(pushURL, extra string) string {
		return `substituters:
  - {url: ` + base + `/signed, publicKey: ` + key + `}
  - url: ` + base + `/` + pushURL + `
    publicKey: ` + key + `
    secret: cache-token
    push: {signingKey: cache-signing-key` + extra + `}
kind: runtime
sets: [base]
packages: [./app.nix]
`
	}
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"Laingfile": laingfile(push, ""),
		// A path no cache has: the first build compiles it.
		"app.nix": `{ runCommand }: runCommand "pushed-app" { fresh = "` + nonce(t) + `"; } "mkdir -p $out/bin; echo $fresh >$out/fresh"
`,
	})
	secrets := map[string][]byte{"cache-token": []byte(token), "cache-signing-key": signingKey}

	imageDir, cacheDir := t.TempDir(), t.TempDir()
	first := mustBuild(t, buildRequest{
		Dir: dir, Platforms: "linux/amd64", Builder: freshBuilder(t), Secrets: secrets,
		Exports:      []client.ExportEntry{{Type: client.ExporterOCI, Attrs: map[string]string{"tar": "false"}, OutputDir: imageDir}},
		CacheExports: []client.CacheOptionsEntry{{Type: "local", Attrs: map[string]string{"dest": cacheDir, "mode": "max"}}},
	})
	pushed := regexp.MustCompile(`cache: pushed (\d+) paths \(([0-9.]+ [KM]iB)\) to ` + regexp.QuoteMeta(base+"/"+push)).FindStringSubmatch(first.Log)
	if pushed == nil {
		t.Fatalf("the first build pushed nothing:\n%s", tail(first.Log, 40))
	}
	stats := testenv.BinaryCacheStats(t, push)
	t.Logf("first build: %+v, to build %v; pushed %s paths (%s); cache %v", countsOf(t, first.Log), toBuild(first.Log), pushed[1], pushed[2], stats)
	if stats.Put == 0 {
		t.Errorf("the cache stored nothing: %v", stats)
	}

	second := mustBuild(t, buildRequest{Dir: dir, Platforms: "linux/amd64", Builder: freshBuilder(t), Secrets: secrets})
	counts, built := countsOf(t, second.Log), toBuild(second.Log)
	t.Logf("second build, on a fresh builder: %+v, to build %v", counts, built)
	if counts.Built != 1 || len(built) != 1 || built[0] != "laingfile-profile" {
		t.Errorf("the second build built %d derivations (%v), want only the profile: the pushed paths were not fetched", counts.Built, built)
	}
	if !strings.Contains(second.Log, "nothing to push") {
		t.Errorf("the second build pushed again:\n%s", tail(second.Log, 20))
	}

	for _, secret := range []struct{ name, value string }{{"token", token}, {"signing key", strings.TrimSpace(string(signingKey))}} {
		for _, where := range []struct{ name, dir string }{{"the image", imageDir}, {"the build cache", cacheDir}} {
			found, files := findSecret(t, where.dir, []byte(secret.value))
			if files < 5 {
				t.Fatalf("%s has %d files; the export did not happen", where.name, files)
			}
			if len(found) > 0 {
				t.Errorf("the %s is in %s: %v", secret.name, where.name, found)
			}
		}
		for _, log := range []string{first.Log, second.Log} {
			if strings.Contains(log, secret.value) {
				t.Errorf("the build output shows the %s", secret.name)
			}
		}
	}

	t.Run("a failed push stops the build at the entry", func(t *testing.T) {
		writeFiles(t, dir, map[string]string{"Laingfile": laingfile("push/"+nonce(t), "")})
		bad := map[string][]byte{"cache-token": []byte("not-the-token"), "cache-signing-key": signingKey}
		buildFailsAt(t, buildRequest{Dir: dir, Platforms: "linux/amd64", Builder: freshBuilder(t), Secrets: bad},
			`push.sh" did not complete successfully`, 6)
	})
	t.Run("bestEffort makes it a warning", func(t *testing.T) {
		writeFiles(t, dir, map[string]string{"Laingfile": laingfile("push/"+nonce(t), ", bestEffort: true")})
		bad := map[string][]byte{"cache-token": []byte("not-the-token"), "cache-signing-key": signingKey}
		res := mustBuild(t, buildRequest{Dir: dir, Platforms: "linux/amd64", Builder: freshBuilder(t), Secrets: bad})
		if w := warningsText(res); !strings.Contains(w, "failed, and the Laingfile asks for a best effort") || !strings.Contains(w, " @6") {
			t.Errorf("warnings:\n%s\nwant the failed push at line 6", w)
		}
	})
}
