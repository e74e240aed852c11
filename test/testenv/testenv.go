// Package testenv connects end-to-end tests to the local test environment that
// hack/env.sh starts: buildkitd on a unix socket, a plain-http registry on
// 127.0.0.1:5000, and the Nix builder image that hack/nix-builder.sh pushes there.
//
// Every accessor fails the test, with a message naming what is missing and the
// script that provides it, rather than skipping: an end-to-end run without its
// environment must not look green. Tests call SkipIfShort first so that
// `go test -short ./...` needs no daemon.
package testenv

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/moby/buildkit/client"
)

const (
	// DefaultBuildkitHost is where hack/env.sh serves buildkitd; $BUILDKIT_HOST
	// overrides it.
	DefaultBuildkitHost = "unix:///run/laingfile/buildkitd.sock"
	// RegistryAddr is the plain-http registry started by hack/env.sh.
	RegistryAddr = "127.0.0.1:5000"
	// BuilderImageRef is the Nix builder image pushed by hack/nix-builder.sh.
	BuilderImageRef = RegistryAddr + "/laingfile/nix-builder:test"

	modulePath = "github.com/laingville/laingfile"
	// Generous enough for a loaded 2-core machine, short enough that a missing
	// daemon fails the test quickly instead of hanging it.
	probeTimeout = 10 * time.Second
)

// SkipIfShort skips end-to-end tests under `go test -short`.
func SkipIfShort(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test: needs the environment from hack/env.sh up; skipped under -short")
	}
}

// BuildkitHost returns $BUILDKIT_HOST, or DefaultBuildkitHost when it is unset.
func BuildkitHost() string {
	if h := os.Getenv("BUILDKIT_HOST"); h != "" {
		return h
	}
	return DefaultBuildkitHost
}

// Client returns a BuildKit client for BuildkitHost, closed when the test ends.
// It fails the test if the daemon does not answer.
func Client(t testing.TB) *client.Client {
	t.Helper()
	host := BuildkitHost()
	ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
	defer cancel()
	c, err := client.New(ctx, host)
	if err != nil {
		t.Fatalf("testenv: cannot create a buildkit client for %s: %v", host, err)
	}
	// client.New connects lazily; ask for the workers so a missing daemon fails
	// here, with a clear message, and not deep inside the test's first Solve.
	if _, err := c.ListWorkers(ctx); err != nil {
		c.Close()
		t.Fatalf("testenv: buildkitd is not answering at %s (BUILDKIT_HOST or the default): %v; run hack/env.sh up", host, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// Registry returns the address of the test registry ("127.0.0.1:5000"), failing
// the test if it does not answer GET /v2/.
func Registry(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
	defer cancel()
	url := "http://" + RegistryAddr + "/v2/"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("testenv: no registry answers GET %s: %v; run hack/env.sh up", url, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("testenv: GET %s answered %s, want 200 OK; is something else on %s? run hack/env.sh up", url, resp.Status, RegistryAddr)
	}
	return RegistryAddr
}

// BuilderImage returns the reference of the test Nix builder image, failing the
// test if the registry does not have it for both linux/amd64 and linux/arm64
// (the end-to-end tests build for both).
func BuilderImage(t testing.TB) string {
	t.Helper()
	Registry(t)
	ref, err := name.ParseReference(BuilderImageRef, name.Insecure)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
	defer cancel()
	desc, err := remote.Head(ref, remote.WithContext(ctx))
	if err != nil {
		var terr *transport.Error
		if errors.As(err, &terr) && terr.StatusCode == http.StatusNotFound {
			t.Fatalf("testenv: the registry has no %s; run hack/nix-builder.sh", BuilderImageRef)
		}
		t.Fatalf("testenv: cannot look up %s: %v; run hack/env.sh up, then hack/nix-builder.sh", BuilderImageRef, err)
	}
	if !desc.MediaType.IsIndex() {
		t.Fatalf("testenv: %s is a single-platform %s, want an index for linux/amd64 and linux/arm64; run hack/nix-builder.sh",
			BuilderImageRef, desc.MediaType)
	}
	idx, err := remote.Index(ref, remote.WithContext(ctx))
	if err != nil {
		t.Fatalf("testenv: cannot read the index of %s: %v", BuilderImageRef, err)
	}
	manifest, err := idx.IndexManifest()
	if err != nil {
		t.Fatalf("testenv: cannot read the index of %s: %v", BuilderImageRef, err)
	}
	have := map[string]bool{}
	for _, m := range manifest.Manifests {
		if m.Platform != nil {
			have[m.Platform.OS+"/"+m.Platform.Architecture] = true
		}
	}
	for _, p := range []string{"linux/amd64", "linux/arm64"} {
		if !have[p] {
			t.Fatalf("testenv: %s has no %s image; run hack/nix-builder.sh", BuilderImageRef, p)
		}
	}
	return BuilderImageRef
}

// RepoRoot returns the absolute path of the repository root: the nearest
// directory above the working directory whose go.mod declares this module.
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	for {
		ok, err := declaresModule(filepath.Join(dir, "go.mod"))
		if err != nil {
			t.Fatalf("testenv: %v", err)
		}
		if ok {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatalf("testenv: no go.mod for %s above the working directory", modulePath)
		}
		dir = parent
	}
}

// declaresModule reports whether the go.mod at path declares this module; a
// missing file is not an error, it only means "keep looking further up".
func declaresModule(path string) (bool, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if fields := strings.Fields(s.Text()); len(fields) == 2 && fields[0] == "module" {
			return strings.Trim(fields[1], `"`) == modulePath, nil
		}
	}
	if err := s.Err(); err != nil {
		return false, fmt.Errorf("reading %s: %w", path, err)
	}
	return false, nil
}
