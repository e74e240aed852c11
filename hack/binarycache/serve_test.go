package main

import (
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const (
	testToken   = "s3cret-token"
	testNarinfo = "StorePath: /nix/store/aaaa-x\nURL: nar/bbbb.nar.xz\nSig: k:1\n"
	testSecret  = "laingfile-test-cache-1:SECRETKEY"
)

// testServer is a server over a root like `binarycache make` leaves: signed/ and unsigned/ with
// one path each, keys/secret next to them, and an empty push directory.
func testServer(t *testing.T) (*server, string) {
	t.Helper()
	dir := t.TempDir()
	root := filepath.Join(dir, "cache")
	files := map[string]string{
		"signed/aaaa.narinfo":      testNarinfo,
		"signed/nar/bbbb.nar.xz":   "NAR",
		"unsigned/aaaa.narinfo":    strings.Replace(testNarinfo, "Sig: k:1\n", "", 1),
		"unsigned/nar/bbbb.nar.xz": "NAR",
		"keys/secret":              testSecret,
	}
	for name, data := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// A symlink out of the cache: os.Root must refuse to follow it.
	if err := os.Symlink("../keys/secret", filepath.Join(root, "signed", "escape.narinfo")); err != nil {
		t.Fatal(err)
	}
	push := filepath.Join(dir, "push")
	if err := os.Mkdir(push, 0o755); err != nil {
		t.Fatal(err)
	}
	return newServer(root, push, testToken, log.New(io.Discard, "", 0)), push
}

// auth is how a request authenticates.
type auth int

const (
	noAuth auth = iota
	goodToken
	wrongToken
)

func do(t *testing.T, s *server, method, target string, a auth, body string) *httptest.ResponseRecorder {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, target, r)
	switch a {
	case goodToken:
		req.SetBasicAuth("anyone", testToken)
	case wrongToken:
		req.SetBasicAuth("anyone", "not-the-token")
	}
	w := httptest.NewRecorder()
	s.ServeHTTP(w, req)
	return w
}

func TestServe(t *testing.T) {
	tests := []struct {
		name     string
		method   string
		target   string
		auth     auth
		want     int
		wantBody string // a substring of the body
		wantHdr  [2]string
	}{
		{name: "signed cache info", method: "GET", target: "/signed/nix-cache-info", want: 200, wantBody: "WantMassQuery: 1\nPriority: 30"},
		{name: "unsigned cache info", method: "GET", target: "/unsigned/nix-cache-info", want: 200, wantBody: "StoreDir: /nix/store"},
		{name: "signed narinfo", method: "GET", target: "/signed/aaaa.narinfo", want: 200, wantBody: "Sig: k:1"},
		{name: "signed narinfo, HEAD", method: "HEAD", target: "/signed/aaaa.narinfo", want: 200},
		{name: "unsigned nar", method: "GET", target: "/unsigned/nar/bbbb.nar.xz", want: 200, wantBody: "NAR"},
		{name: "missing narinfo", method: "GET", target: "/signed/cccc.narinfo", want: 404},
		{name: "a directory is not a file", method: "GET", target: "/signed/nar", want: 404},
		{name: "public caches are read-only", method: "PUT", target: "/signed/dddd.narinfo", want: 405},
		{name: "unknown cache", method: "GET", target: "/nowhere/nix-cache-info", want: 404},
		{name: "the root", method: "GET", target: "/", want: 404},

		{name: "private without credentials", method: "GET", target: "/private/nix-cache-info", want: 401,
			wantHdr: [2]string{"WWW-Authenticate", `Basic realm="laingfile-test-cache"`}},
		{name: "private with a wrong token", method: "GET", target: "/private/aaaa.narinfo", auth: wrongToken, want: 403},
		{name: "private with the token", method: "GET", target: "/private/aaaa.narinfo", auth: goodToken, want: 200, wantBody: "Sig: k:1"},
		{name: "private cache info with the token", method: "GET", target: "/private/nix-cache-info", auth: goodToken, want: 200, wantBody: "Priority: 30"},
		{name: "private is read-only", method: "PUT", target: "/private/eeee.narinfo", auth: goodToken, want: 405},

		{name: "push without credentials", method: "GET", target: "/push/p1/nix-cache-info", want: 401},
		{name: "push with a wrong token", method: "PUT", target: "/push/p1/ffff.narinfo", auth: wrongToken, want: 403},
		{name: "push cache info before any PUT", method: "GET", target: "/push/p1/nix-cache-info", auth: goodToken, want: 200, wantBody: "StoreDir: /nix/store"},
		{name: "push: missing file", method: "HEAD", target: "/push/p1/ffff.narinfo", auth: goodToken, want: 404},
		{name: "push: DELETE", method: "DELETE", target: "/push/p1/ffff.narinfo", auth: goodToken, want: 405},
		{name: "push without a name", method: "GET", target: "/push/nix-cache-info", auth: goodToken, want: 404},
		{name: "push name starting with a dot", method: "GET", target: "/push/.p/nix-cache-info", auth: goodToken, want: 404},

		{name: "dot-dot", method: "GET", target: "/signed/../keys/secret", want: 400},
		{name: "escaped dot-dot", method: "GET", target: "/signed/%2e%2e/keys/secret", want: 400},
		{name: "dot-dot through private", method: "GET", target: "/private/../keys/secret", auth: goodToken, want: 400},
		{name: "dot-dot as the push name", method: "PUT", target: "/push/../x", auth: goodToken, want: 400},
		{name: "dot-dot in a push file", method: "PUT", target: "/push/p1/../../cache/keys/secret", auth: goodToken, want: 400},
		{name: "empty segment", method: "GET", target: "/signed//keys/secret", want: 400},
		{name: "a symlink out of the cache", method: "GET", target: "/signed/escape.narinfo", want: 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := testServer(t)
			w := do(t, s, tt.method, tt.target, tt.auth, "")
			if w.Code != tt.want {
				t.Fatalf("%s %s: status %d, want %d (%s)", tt.method, tt.target, w.Code, tt.want, w.Body)
			}
			if !strings.Contains(w.Body.String(), tt.wantBody) {
				t.Errorf("body %q, want it to contain %q", w.Body, tt.wantBody)
			}
			if strings.Contains(w.Body.String(), testSecret) || strings.Contains(w.Body.String(), testToken) {
				t.Errorf("the body gives a secret away: %q", w.Body)
			}
			if h := tt.wantHdr; h[0] != "" && w.Header().Get(h[0]) != h[1] {
				t.Errorf("%s: %q, want %q", h[0], w.Header().Get(h[0]), h[1])
			}
		})
	}
}

func TestPushThenGet(t *testing.T) {
	s, pushDir := testServer(t)
	steps := []struct {
		method, target string
		auth           auth
		body           string
		want           int
		wantBody       string
	}{
		{"HEAD", "/push/p2/gggg.narinfo", goodToken, "", 404, ""},
		{"PUT", "/push/p2/nar/hhhh.nar.xz", noAuth, "NAR2", 401, ""},
		{"PUT", "/push/p2/nar/hhhh.nar.xz", goodToken, "NAR2", 201, ""},
		{"PUT", "/push/p2/gggg.narinfo", goodToken, "StorePath: /nix/store/gggg-y\nURL: nar/hhhh.nar.xz\n", 201, ""},
		{"HEAD", "/push/p2/gggg.narinfo", goodToken, "", 200, ""},
		{"GET", "/push/p2/gggg.narinfo", goodToken, "", 200, "StorePath: /nix/store/gggg-y"},
		{"GET", "/push/p2/nar/hhhh.nar.xz", goodToken, "", 200, "NAR2"},
		{"GET", "/push/p2/gggg.narinfo", noAuth, "", 401, ""},
		// Another name is another cache.
		{"GET", "/push/p3/gggg.narinfo", goodToken, "", 404, ""},
		// A second PUT replaces the file.
		{"PUT", "/push/p2/nar/hhhh.nar.xz", goodToken, "NAR3", 201, ""},
		{"GET", "/push/p2/nar/hhhh.nar.xz", goodToken, "", 200, "NAR3"},
	}
	for _, st := range steps {
		w := do(t, s, st.method, st.target, st.auth, st.body)
		if w.Code != st.want {
			t.Fatalf("%s %s: status %d, want %d (%s)", st.method, st.target, w.Code, st.want, w.Body)
		}
		if !strings.Contains(w.Body.String(), st.wantBody) {
			t.Fatalf("%s %s: body %q, want %q in it", st.method, st.target, w.Body, st.wantBody)
		}
	}
	// Stored under the push directory, with no temporary file left.
	var files []string
	filepath.WalkDir(pushDir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(pushDir, p)
			files = append(files, rel)
		}
		return err
	})
	if strings.Join(files, " ") != "p2/gggg.narinfo p2/nar/hhhh.nar.xz" {
		t.Errorf("push directory holds %q", files)
	}
	st := stats(t, s, "push/p2")
	if st.Put != 3 || st.Narinfo != 1 || st.Nar != 2 || st.Refused != 2 {
		t.Errorf("stats %+v, want 3 puts, 1 narinfo, 2 nars, 2 refused", st)
	}
}

func stats(t *testing.T, s *server, prefix string) Stats {
	t.Helper()
	w := do(t, s, "GET", "/_stats/"+prefix, noAuth, "")
	if w.Code != 200 {
		t.Fatalf("stats of %s: %d %s", prefix, w.Code, w.Body)
	}
	var st Stats
	if err := json.Unmarshal(w.Body.Bytes(), &st); err != nil {
		t.Fatal(err)
	}
	return st
}

func TestStats(t *testing.T) {
	tests := []struct {
		name     string
		requests [][3]string // method, target, "token" or ""
		prefix   string
		want     Stats
	}{
		{name: "nothing yet", prefix: "signed", want: Stats{}},
		{name: "an unused push cache", prefix: "push/never", want: Stats{}},
		{
			name:   "GETs count, HEADs and nix-cache-info do not",
			prefix: "signed",
			requests: [][3]string{
				{"GET", "/signed/nix-cache-info", ""}, {"HEAD", "/signed/aaaa.narinfo", ""},
				{"GET", "/signed/aaaa.narinfo", ""}, {"GET", "/signed/aaaa.narinfo", ""},
				{"GET", "/signed/nar/bbbb.nar.xz", ""}, {"GET", "/signed/cccc.narinfo", ""},
			},
			want: Stats{Narinfo: 2, Nar: 1, NarinfoMissing: 1},
		},
		{
			name:   "each prefix counts for itself",
			prefix: "private",
			requests: [][3]string{
				{"GET", "/signed/aaaa.narinfo", ""}, {"GET", "/unsigned/aaaa.narinfo", ""},
				{"GET", "/private/aaaa.narinfo", "token"}, {"GET", "/private/aaaa.narinfo", ""},
			},
			want: Stats{Narinfo: 1, Refused: 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := testServer(t)
			for _, r := range tt.requests {
				a := noAuth
				if r[2] == "token" {
					a = goodToken
				}
				do(t, s, r[0], r[1], a, "")
			}
			if got := stats(t, s, tt.prefix); got != tt.want {
				t.Errorf("stats of %s = %+v, want %+v", tt.prefix, got, tt.want)
			}
		})
	}
	t.Run("unknown prefix", func(t *testing.T) {
		s, _ := testServer(t)
		if w := do(t, s, "GET", "/_stats/nope", noAuth, ""); w.Code != 404 {
			t.Errorf("status %d, want 404", w.Code)
		}
	})
	t.Run("all prefixes", func(t *testing.T) {
		s, _ := testServer(t)
		do(t, s, "GET", "/unsigned/aaaa.narinfo", noAuth, "")
		w := do(t, s, "GET", "/_stats/", noAuth, "")
		var all map[string]Stats
		if err := json.Unmarshal(w.Body.Bytes(), &all); err != nil {
			t.Fatal(err)
		}
		if all["unsigned"].Narinfo != 1 {
			t.Errorf("all stats %+v", all)
		}
	})
}

func TestMissingRoot(t *testing.T) {
	// Before `binarycache make` ran: files are missing, nix-cache-info still answers.
	dir := t.TempDir()
	s := newServer(filepath.Join(dir, "not-made-yet"), filepath.Join(dir, "push"), testToken, log.New(io.Discard, "", 0))
	if w := do(t, s, "GET", "/signed/aaaa.narinfo", noAuth, ""); w.Code != http.StatusNotFound {
		t.Errorf("narinfo: status %d, want 404", w.Code)
	}
	if w := do(t, s, "GET", "/signed/nix-cache-info", noAuth, ""); w.Code != http.StatusOK {
		t.Errorf("nix-cache-info: status %d, want 200", w.Code)
	}
}
