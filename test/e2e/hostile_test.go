package e2e

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/laingville/laingfile/test/testenv"
)

// hostileKey is a well-formed substituter public key, so that only the URL is wrong.
const hostileKey = "cache.nixos.org-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY="

// hostileError is a hostile Laingfile that docker buildx build must refuse with one located
// error and no image.
type hostileError struct {
	name      string
	laingfile string
	buildArgs []string // KEY=VALUE, each passed with --build-arg as it is (no shell)
	files     map[string]string
	// wantAt is where the error points, "Laingfile:LINE:COLUMN"; buildx must also mark LINE
	// with >>> in the lines it prints under the message.
	wantAt  string
	wantMsg string // the message after "Laingfile:LINE:COLUMN: "
	// secret must not appear anywhere in buildx's output, progress included ("" for none).
	secret string
}

// TestHostileLaingfileErrors builds hostile Laingfiles with the real docker buildx CLI: each is
// refused before anything runs, with an error that names the Laingfile line and column, and
// nothing is pushed.
func TestHostileLaingfileErrors(t *testing.T) {
	testenv.SkipIfShort(t)
	e := newBuildxEnv(t)
	const syntax = "# syntax=ghcr.io/laingville/laingfile:1\n"
	const pin = "  sha256: sha256-yxgb4AmkVHY5OOBrC79Vv6EVd4QZEotqv+6jcvA212M=\n"
	token := "laingfile-token-" + nonce(t)
	urlHelp := `; expected a binary cache URL (e.g. https://cache.example.com)`
	for _, tc := range []hostileError{
		// Row 1: a substituter URL that changes what Nix trusts, or that splits into two caches.
		{
			name:      "substituter url with a trusted query parameter",
			laingfile: syntax + "substituters:\n  - url: \"https://x/?trusted=1\"\n    publicKey: " + hostileKey + "\nkind: runtime\nsets: [base]\n",
			wantAt:    "Laingfile:3:10",
			wantMsg:   `substituters[0].url: "https://x/?trusted=1" has the Nix store setting "trusted", which would change which paths Nix trusts; only priority=<number> and want-mass-query=<true|false> are allowed after "?"`,
		},
		{
			name:      "substituter url with a space",
			laingfile: syntax + "substituters:\n  - url: \"https://a/x file:///context/store?trusted=1\"\n    publicKey: " + hostileKey + "\nkind: runtime\nsets: [base]\n",
			wantAt:    "Laingfile:3:10",
			wantMsg:   `substituters[0].url: "https://a/x file:///context/store?trusted=1" contains a space at character 12, which would split it into two caches` + urlHelp,
		},
		{
			name:      "substituter url with a space from a build arg",
			laingfile: syntax + "kind: runtime\nsets: [base]\nsubstituters:\n  - {url: \"https://a/${P}\", publicKey: " + hostileKey + "}\n",
			buildArgs: []string{"P=x https://evil"},
			wantAt:    "Laingfile:5:11",
			wantMsg:   `substituters[0].url: "https://a/x https://evil" contains a space at character 12, which would split it into two caches` + urlHelp,
		},
		// Row 4: a build arg that would add a line to /etc/passwd through the workdir.
		{
			name:      "workdir with a passwd line from a build arg",
			laingfile: syntax + "kind: runtime\nsets: [base]\nworkdir: ${WD}\n",
			buildArgs: []string{"WD=/app\nroot2::0:0::/:/bin/sh"},
			wantAt:    "Laingfile:4:10",
			wantMsg:   `workdir: "/app\nroot2::0:0::/:/bin/sh" contains a newline; expected an absolute path without ":" or control characters`,
		},
		// Row 6: credentials in the nixpkgs URL are refused and never shown.
		{
			name:      "token in nixpkgs.url",
			laingfile: syntax + "nixpkgs:\n  url: https://ci:" + token + "@host/n.tar.gz\n" + pin + "kind: runtime\nsets: [base]\n",
			wantAt:    "Laingfile:3:8",
			wantMsg:   `nixpkgs.url: "https://xxxxx@host/n.tar.gz" has credentials in it; they would end up in NIX_PATH, the image config and the build cache. Credentials go through build secrets, never the Laingfile: remove them from the URL`,
			secret:    token,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.mustRefuse(t, tc)
		})
	}
}

// mustRefuse runs docker buildx build --push on the hostile Laingfile and checks the error,
// the >>> mark, the secret and that no image was pushed.
func (e *buildxEnv) mustRefuse(t *testing.T, tc hostileError) {
	t.Helper()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"Laingfile": tc.laingfile})
	writeFiles(t, dir, tc.files)
	ref := imageName(t, "refused")
	args := []string{"-f", "Laingfile", "--platform", "linux/amd64", "--push", "-t", ref}
	for _, a := range tc.buildArgs {
		args = append(args, "--build-arg", a)
	}
	r := e.run(t, dir, nil, append(append(e.buildArgs(), args...), ".")...)
	if r.Err == nil {
		t.Fatalf("the build succeeded:\n%s", tail(r.Output, 30))
	}
	if want := tc.wantAt + ": " + tc.wantMsg; !strings.Contains(r.Output, want) {
		t.Errorf("the output has no %q:\n%s", want, tail(r.Output, 30))
	}
	line, _, _ := strings.Cut(strings.TrimPrefix(tc.wantAt, "Laingfile:"), ":")
	if mark := regexp.MustCompile(`(?m)^ +` + regexp.QuoteMeta(line) + ` \| >>> `); !mark.MatchString(r.Output) {
		t.Errorf("buildx marks no line %s with >>>:\n%s", line, tail(r.Output, 30))
	}
	if strings.Contains(r.Output, "goroutine ") || strings.Contains(r.Output, "panic") {
		t.Errorf("the output leaks Go internals:\n%s", tail(r.Output, 30))
	}
	if tc.secret != "" {
		for i, l := range strings.Split(r.Output, "\n") {
			if strings.Contains(l, tc.secret) {
				t.Errorf("buildx's output shows the secret, line %d: %s", i+1, l)
			}
		}
	}
	assertNotPushed(t, ref)
}

// assertNotPushed checks that the registry has no manifest for ref.
func assertNotPushed(t *testing.T, ref string) {
	t.Helper()
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	_, err = remote.Head(r)
	var terr *transport.Error
	switch {
	case err == nil:
		t.Errorf("the failed build pushed %s", ref)
	case !errors.As(err, &terr) || terr.StatusCode != http.StatusNotFound:
		t.Errorf("looking up %s: %v", ref, err)
	}
}

// TestHostileCopyChown: a `copy:` with chown: root in a runtime target gives files owned 0:0
// in the pushed layer (without chown, the image user's), and chown names are the image's own
// accounts: a name /etc/passwd or /etc/group does not have is a located error.
func TestHostileCopyChown(t *testing.T) {
	testenv.SkipIfShort(t)
	e := newBuildxEnv(t)
	const syntax = "# syntax=ghcr.io/laingville/laingfile:1\n"
	files := map[string]string{
		"app/main.sh":      "echo hello\n",
		"app/sub/data.txt": "data\n",
		"etc/config":       "x=1\n",
	}
	dir := t.TempDir()
	writeFiles(t, dir, files)
	writeFiles(t, dir, map[string]string{"Laingfile": syntax + `kind: runtime
sets: [base]
copy:
  - {src: app/, dst: /app/, chown: root}
  - {src: etc/, dst: /srv/etc/}
`})
	ref := imageName(t, "chown")
	r := e.mustBuildx(t, dir, "-f", "Laingfile", "--platform", "linux/amd64", "--push", "-t", ref, ".")
	t.Logf("build and push: %s", r.Duration.Round(100*time.Millisecond))
	img := pulledImages(t, ref)["linux/amd64"]
	if img == nil {
		t.Fatalf("%s has no linux/amd64 image", ref)
	}

	// The image's accounts, which chown names resolve to.
	users := accounts(t, imageFile(t, img, "etc/passwd"))
	groups := accounts(t, imageFile(t, img, "etc/group"))
	app, ok := users["app"]
	if !ok || users["root"] != [2]int{0, 0} {
		t.Fatalf("/etc/passwd has users %v, want root 0:0 and app", users)
	}

	owners := map[string]map[string]string{} // layer → entry → uid:gid
	for _, l := range layersWithHistory(t, img) {
		if !strings.HasPrefix(l.CreatedBy, "laingfile: copy ") {
			continue
		}
		got := map[string]string{}
		eachEntry(t, l.Layer, func(hdr *tar.Header, _ io.Reader) {
			got[strings.TrimSuffix(hdr.Name, "/")] = fmt.Sprintf("%d:%d", hdr.Uid, hdr.Gid)
		})
		owners[l.CreatedBy] = got
	}
	for _, want := range []struct {
		layer string
		dst   string // every entry at or under it has owner
		owner string
		files []string // must be in the layer
	}{
		{"laingfile: copy app/ /app/", "app", "0:0", []string{"app/main.sh", "app/sub", "app/sub/data.txt"}},
		{"laingfile: copy etc/ /srv/etc/", "srv/etc", fmt.Sprintf("%d:%d", app[0], app[1]), []string{"srv/etc/config"}},
	} {
		got, ok := owners[want.layer]
		if !ok {
			t.Errorf("no layer %q; copy layers: %v", want.layer, slices.Sorted(maps.Keys(owners)))
			continue
		}
		for _, f := range want.files {
			if _, ok := got[f]; !ok {
				t.Errorf("layer %q has no %s: %v", want.layer, f, got)
			}
		}
		for entry, owner := range got {
			if (entry == want.dst || strings.HasPrefix(entry, want.dst+"/")) && owner != want.owner {
				t.Errorf("layer %q: %s is owned by %s, want %s", want.layer, entry, owner, want.owner)
			}
		}
		t.Logf("layer %q: %v", want.layer, got)
	}
	// The directories on the way to dst stay root's: merged above the image, the copy layer's
	// /srv would otherwise give the app user a directory of the system.
	if got := owners["laingfile: copy etc/ /srv/etc/"]["srv"]; got != "0:0" {
		t.Errorf("the copy to /srv/etc/ makes /srv owned by %q, want 0:0", got)
	}

	// chown: nobody:nogroup names the image's own accounts: their ids if it has them, else a
	// located error that lists what it has.
	withNobody := syntax + "kind: runtime\nsets: [base]\ncopy:\n  - {src: app/, dst: /app/, chown: \"nobody:nogroup\"}\n"
	nobody, hasNobody := users["nobody"]
	nogroup, hasNogroup := groups["nogroup"]
	if hasNobody && hasNogroup {
		dir := t.TempDir()
		writeFiles(t, dir, files)
		writeFiles(t, dir, map[string]string{"Laingfile": withNobody})
		ref := imageName(t, "nobody")
		e.mustBuildx(t, dir, "-f", "Laingfile", "--platform", "linux/amd64", "--push", "-t", ref, ".")
		want := fmt.Sprintf("%d:%d", nobody[0], nogroup[1])
		for _, l := range layersWithHistory(t, pulledImages(t, ref)["linux/amd64"]) {
			if l.CreatedBy == "laingfile: copy app/ /app/" {
				eachEntry(t, l.Layer, func(hdr *tar.Header, _ io.Reader) {
					if got := fmt.Sprintf("%d:%d", hdr.Uid, hdr.Gid); got != want {
						t.Errorf("chown nobody:nogroup: %s is owned by %s, want %s", hdr.Name, got, want)
					}
				})
			}
		}
		return
	}
	known := slices.Sorted(maps.Keys(users))
	if !slices.Equal(known, []string{"app", "root"}) {
		t.Fatalf("/etc/passwd has users %v; the parser only knows app and root", known)
	}
	e.mustRefuse(t, hostileError{
		laingfile: withNobody,
		files:     files,
		wantAt:    "Laingfile:5:36",
		wantMsg:   `copy[0].chown: unknown user "nobody"; the image knows app, root, or give a number`,
	})
}

// imageFile is the contents of a file (path without the leading /) in the image's flattened
// filesystem.
func imageFile(t *testing.T, img v1.Image, path string) string {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			t.Fatalf("the image has no /%s", path)
		}
		if err != nil {
			t.Fatal(err)
		}
		if strings.TrimPrefix(hdr.Name, "./") == path {
			data, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			return string(data)
		}
	}
}

// accounts reads /etc/passwd (name → uid, gid) or /etc/group (name → 0, gid).
func accounts(t *testing.T, file string) map[string][2]int {
	t.Helper()
	out := map[string][2]int{}
	for _, line := range strings.Split(strings.TrimSpace(file), "\n") {
		f := strings.Split(line, ":")
		var uid, gid int
		switch len(f) {
		case 7: // passwd
			if _, err := fmt.Sscan(f[2], &uid); err != nil {
				t.Fatalf("passwd line %q: %v", line, err)
			}
			if _, err := fmt.Sscan(f[3], &gid); err != nil {
				t.Fatalf("passwd line %q: %v", line, err)
			}
		case 4: // group
			if _, err := fmt.Sscan(f[2], &gid); err != nil {
				t.Fatalf("group line %q: %v", line, err)
			}
		default:
			t.Fatalf("not a passwd or group line: %q", line)
		}
		out[f[0]] = [2]int{uid, gid}
	}
	return out
}
