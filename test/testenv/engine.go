package testenv

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
)

// The Docker Engines hack/env.sh starts, one per image store, for the tests of buildx's
// `docker` driver: the default builder of Docker Engine, which is what most users build with.
const (
	// EngineClassic stores images in the classic graph driver (overlay2): no MergeOp, and
	// --load takes one platform.
	EngineClassic = "classic"
	// EngineContainerd uses the containerd image store (containerd-snapshotter): MergeOp, and
	// multi-platform --load.
	EngineContainerd = "containerd"
)

// Engine is one of the Docker Engines of the test environment.
type Engine struct {
	// Store is EngineClassic or EngineContainerd.
	Store string
	// Context is the docker context that reaches the engine (`docker --context`,
	// DOCKER_CONTEXT); it is also the name of the engine's default buildx builder
	// (`docker buildx build --builder`).
	Context string
	// Host is the engine's API socket (DOCKER_HOST).
	Host string
}

// EngineFor returns the engine hack/env.sh starts for an image store, without checking it.
func EngineFor(store string) Engine {
	return Engine{
		Store:   store,
		Context: "laingfile-" + store,
		Host:    "unix:///run/laingfile/docker-" + store + ".sock",
	}
}

// Docker returns `docker --context <engine> args...`.
func (e Engine) Docker(ctx context.Context, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "docker", append([]string{"--context", e.Context}, args...)...)
}

// NewEngine returns the engine for store ("classic" or "containerd"), failing the test,
// never skipping it, if the docker context is missing or points elsewhere, the engine does
// not answer, or it runs the other image store.
func NewEngine(t testing.TB, store string) Engine {
	t.Helper()
	if store != EngineClassic && store != EngineContainerd {
		t.Fatalf("testenv: no engine for image store %q; want %q or %q", store, EngineClassic, EngineContainerd)
	}
	e := EngineFor(store)
	if _, err := exec.LookPath("docker"); err != nil {
		t.Fatalf("testenv: the docker CLI is not on PATH (%v); it is needed for the %s engine", err, store)
	}
	ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, "docker", "context", "inspect", "--format", "{{.Endpoints.docker.Host}}", e.Context).CombinedOutput()
	if err != nil {
		t.Fatalf("testenv: no docker context %s for the %s engine (%v: %s); run hack/env.sh up", e.Context, store, err, strings.TrimSpace(string(out)))
	}
	if host := strings.TrimSpace(string(out)); host != e.Host {
		t.Fatalf("testenv: docker context %s points at %s, want %s; run hack/env.sh down && hack/env.sh up", e.Context, host, e.Host)
	}
	out, err = e.Docker(ctx, "info", "--format", "{{.Driver}} {{json .DriverStatus}}").CombinedOutput()
	if err != nil {
		t.Fatalf("testenv: the %s engine does not answer at %s (%v: %s); run hack/env.sh up (log: /var/log/laingfile/docker-%s.log)",
			store, e.Host, err, strings.TrimSpace(string(out)), store)
	}
	got := EngineClassic
	if strings.Contains(string(out), "io.containerd.snapshotter") {
		got = EngineContainerd
	}
	if got != store {
		t.Fatalf("testenv: the engine at %s runs the %s image store (docker info: %s), want %s; run hack/env.sh down && hack/env.sh up",
			e.Host, got, strings.TrimSpace(string(out)), store)
	}
	return e
}

// String is the engine as test logs name it.
func (e Engine) String() string {
	return fmt.Sprintf("%s engine (%s, %s)", e.Store, e.Context, e.Host)
}
