package testenv_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/laingville/laingfile/test/testenv"
)

// TestRepoRoot needs no daemon: the root must hold this module's go.mod and the
// scripts the environment comes from.
func TestRepoRoot(t *testing.T) {
	root := testenv.RepoRoot(t)
	for _, rel := range []string{"go.mod", "hack/env.sh", "test/testenv/testenv.go"} {
		if _, err := os.Stat(filepath.Join(root, rel)); err != nil {
			t.Errorf("RepoRoot() = %s, which has no %s: %v", root, rel, err)
		}
	}
}

// TestWorkerPlatforms checks that the daemon can build for every platform the
// end-to-end tests use; arm64 needs the qemu binfmt handler hack/env.sh registers.
func TestWorkerPlatforms(t *testing.T) {
	testenv.SkipIfShort(t)
	c := testenv.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	workers, err := c.ListWorkers(ctx)
	if err != nil {
		t.Fatalf("ListWorkers: %v", err)
	}
	if len(workers) == 0 {
		t.Fatalf("buildkitd at %s has no workers; check /var/log/laingfile/buildkitd.log", testenv.BuildkitHost())
	}
	have := map[string]bool{}
	for _, w := range workers {
		for _, p := range w.Platforms {
			have[p.OS+"/"+p.Architecture] = true
		}
	}
	for _, tc := range []struct {
		platform string
		hint     string
	}{
		{"linux/amd64", "the host platform; is buildkitd running on an amd64 machine?"},
		{"linux/arm64", "qemu-aarch64 must be registered in binfmt_misc before buildkitd starts: run hack/env.sh down && hack/env.sh up"},
	} {
		t.Run(tc.platform, func(t *testing.T) {
			if !have[tc.platform] {
				t.Fatalf("buildkitd at %s lists no %s (has %v): %s", testenv.BuildkitHost(), tc.platform, have, tc.hint)
			}
		})
	}
}

// TestRegistry checks that the test registry answers.
func TestRegistry(t *testing.T) {
	testenv.SkipIfShort(t)
	if got := testenv.Registry(t); got != testenv.RegistryAddr {
		t.Fatalf("Registry() = %q, want %q", got, testenv.RegistryAddr)
	}
}
