// Package e2e holds the end-to-end tests: the frontend runs in process against the real
// buildkitd that hack/env.sh starts, with the test Nix builder image and the offline nixpkgs
// fixture as named contexts, and the results are pushed to the local registry and inspected.
package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/session/secrets/secretsprovider"
	"github.com/moby/buildkit/solver/errdefs"
	"github.com/moby/buildkit/util/progress/progressui"
	"github.com/tonistiigi/fsutil"

	"github.com/laingville/laingfile/frontend"
	"github.com/laingville/laingfile/test/testenv"
)

// buildRequest is one in-process build of a Laingfile.
type buildRequest struct {
	// Dir holds the Laingfile and is the build context.
	Dir       string
	Filename  string
	Target    string
	Platforms string
	// Push is the image name to push to the local registry ("" exports nothing).
	Push      string
	BuildArgs map[string]string
	// NixpkgsDir replaces the fixture universe (the default).
	NixpkgsDir string
	// NoNixpkgsContext passes no `nixpkgs` named context, so that the build step fetches the
	// Laingfile's pin.
	NoNixpkgsContext bool
	// Secrets are BuildKit secrets by id (--secret id=…).
	Secrets map[string][]byte
	// Exports replace the push to the registry; CacheExports export the build cache.
	Exports      []client.ExportEntry
	CacheExports []client.CacheOptionsEntry
	CacheImports []client.CacheOptionsEntry
	// Client is the daemon to build on (default: the environment's).
	Client *client.Client
	// Builder replaces the environment's Nix builder image (a reference in the registry).
	Builder string
	// SBOM asks for an SBOM attestation, as --sbom=true does.
	SBOM bool
}

// buildResult is what a build returned and what it printed.
type buildResult struct {
	Response *client.SolveResponse
	Vertexes map[string]*client.Vertex // by digest, last status seen
	Warnings []*client.VertexWarning
	Log      string
}

// runBuild runs the frontend against the real daemon and returns the result or the error.
func runBuild(t *testing.T, req buildRequest) (*buildResult, error) {
	t.Helper()
	c := req.Client
	if c == nil {
		c = testenv.Client(t)
	}
	root := testenv.RepoRoot(t)
	builder := req.Builder
	if builder == "" {
		builder = testenv.BuilderImage(t)
	}
	if req.Filename == "" {
		req.Filename = "Laingfile"
	}
	if req.NixpkgsDir == "" {
		req.NixpkgsDir = filepath.Join(root, "test", "fixtures", "nixpkgs")
	}
	contextFS, err := fsutil.NewFS(req.Dir)
	if err != nil {
		t.Fatal(err)
	}
	nixpkgsFS, err := fsutil.NewFS(req.NixpkgsDir)
	if err != nil {
		t.Fatal(err)
	}
	attrs := map[string]string{
		"filename":                           req.Filename,
		"context:" + frontend.ContextBuilder: "docker-image://" + builder,
		"context:" + frontend.ContextNixpkgs: "local:nixpkgs",
	}
	if req.NoNixpkgsContext {
		delete(attrs, "context:"+frontend.ContextNixpkgs)
	}
	if req.Target != "" {
		attrs["target"] = req.Target
	}
	if req.Platforms != "" {
		attrs["platform"] = req.Platforms
	}
	for k, v := range req.BuildArgs {
		attrs["build-arg:"+k] = v
	}
	if req.SBOM {
		attrs["attest:sbom"] = ""
	}
	opt := client.SolveOpt{
		LocalMounts: map[string]fsutil.FS{
			"context":    contextFS,
			"dockerfile": contextFS,
			"nixpkgs":    nixpkgsFS,
		},
		FrontendAttrs: attrs,
		Exports:       req.Exports,
		CacheExports:  req.CacheExports,
		CacheImports:  req.CacheImports,
	}
	if req.Secrets != nil {
		opt.Session = append(opt.Session, secretsprovider.FromMap(req.Secrets))
	}
	if req.Push != "" {
		opt.Exports = []client.ExportEntry{{
			Type: client.ExporterImage,
			Attrs: map[string]string{
				"name":              req.Push,
				"push":              "true",
				"registry.insecure": "true",
				"oci-mediatypes":    "true",
			},
		}}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	ch := make(chan *client.SolveStatus)
	var log bytes.Buffer
	vertexes := map[string]*client.Vertex{}
	var warnings []*client.VertexWarning
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		display, err := progressui.NewDisplay(&log, progressui.PlainMode)
		if err != nil {
			for range ch {
			}
			return
		}
		inner := make(chan *client.SolveStatus)
		go func() {
			defer close(inner)
			for s := range ch {
				for _, v := range s.Vertexes {
					vertexes[v.Digest.String()] = v
				}
				warnings = append(warnings, s.Warnings...)
				inner <- s
			}
		}()
		_, _ = display.UpdateFrom(context.Background(), inner)
	}()
	resp, err := c.Build(ctx, opt, "", frontend.Build, ch)
	wg.Wait()
	res := &buildResult{Response: resp, Vertexes: vertexes, Warnings: warnings, Log: log.String()}
	if err != nil && testing.Verbose() {
		t.Logf("build log:\n%s", res.Log)
	}
	return res, err
}

// buildFailsAt runs a build that must fail with a user error: its message contains want, it
// points at Laingfile line (0: the error has no line), and it leaks no Go internals.
func buildFailsAt(t *testing.T, req buildRequest, want string, line int32) {
	t.Helper()
	_, err := runBuild(t, req)
	if err == nil {
		t.Fatal("the build succeeded")
	}
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("error:\n %v\ndoes not contain:\n %s", err, want)
	}
	if strings.Contains(err.Error(), "goroutine ") || strings.Contains(err.Error(), "panic") {
		t.Fatalf("error leaks Go internals: %v", err)
	}
	if line == 0 {
		return
	}
	if got := laingfileLine(err); got != line {
		t.Fatalf("error points at Laingfile line %d, want %d: %v", got, line, err)
	}
}

// laingfileLine is the first Laingfile line an error points at (0 for none).
func laingfileLine(err error) int32 {
	for _, src := range errdefs.Sources(err) {
		if src.Info.GetFilename() == "Laingfile" && len(src.Ranges) > 0 {
			return src.Ranges[0].GetStart().GetLine()
		}
	}
	return 0
}

// mustBuild is runBuild for builds that have to succeed.
func mustBuild(t *testing.T, req buildRequest) *buildResult {
	t.Helper()
	res, err := runBuild(t, req)
	if err != nil {
		t.Fatalf("build of %s target %q failed: %v\n%s", req.Dir, req.Target, err, tail(res.Log, 60))
	}
	return res
}

func tail(s string, lines int) string {
	all := strings.Split(s, "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}

// imageName is a fresh registry name for one test.
func imageName(t *testing.T, suffix string) string {
	reg := testenv.Registry(t)
	n := strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name()))
	return fmt.Sprintf("%s/e2e/%s-%s:%d", reg, n, suffix, time.Now().UnixNano())
}

// pulledImages returns the images of a pushed reference by platform ("linux/amd64").
func pulledImages(t *testing.T, ref string) map[string]v1.Image {
	t.Helper()
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	desc, err := remote.Get(r)
	if err != nil {
		t.Fatalf("pulling %s: %v", ref, err)
	}
	out := map[string]v1.Image{}
	if desc.MediaType.IsIndex() {
		idx, err := desc.ImageIndex()
		if err != nil {
			t.Fatal(err)
		}
		m, err := idx.IndexManifest()
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range m.Manifests {
			if d.Platform == nil || d.Platform.OS == "unknown" {
				continue // attestations
			}
			img, err := idx.Image(d.Digest)
			if err != nil {
				t.Fatal(err)
			}
			out[d.Platform.OS+"/"+d.Platform.Architecture] = img
		}
		return out
	}
	img, err := desc.Image()
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	out[cfg.OS+"/"+cfg.Architecture] = img
	return out
}

// copyDir copies a directory tree (the examples) so that a test can change it.
func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.Walk(src, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if info.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, info.Mode().Perm())
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}
