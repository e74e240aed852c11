package testenv

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/moby/buildkit/client"
)

// Daemon is a buildkitd of its own with a fresh root: a cold cache that shares nothing with
// the environment's daemon, for determinism checks and cold-build measurements.
type Daemon struct {
	Addr string
	dir  string
	cmd  *exec.Cmd
	done chan error
}

// StartDaemon starts buildkitd with its state under a new directory in parent (which must
// support overlayfs, like /var/lib) and waits until it answers.
func StartDaemon(ctx context.Context, parent string) (*Daemon, error) {
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(parent, "buildkitd-")
	if err != nil {
		return nil, err
	}
	config := fmt.Sprintf("[worker.oci]\n  snapshotter = \"overlayfs\"\n[worker.containerd]\n  enabled = false\n[registry.%q]\n  http = true\n  insecure = true\n", RegistryAddr)
	if err := os.WriteFile(filepath.Join(dir, "buildkitd.toml"), []byte(config), 0o644); err != nil {
		return nil, err
	}
	log, err := os.Create(filepath.Join(dir, "buildkitd.log"))
	if err != nil {
		return nil, err
	}
	d := &Daemon{Addr: "unix://" + filepath.Join(dir, "buildkitd.sock"), dir: dir, done: make(chan error, 1)}
	d.cmd = exec.Command("buildkitd", "--config", filepath.Join(dir, "buildkitd.toml"),
		"--root", filepath.Join(dir, "root"), "--addr", d.Addr)
	d.cmd.Stdout, d.cmd.Stderr = log, log
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := d.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting buildkitd (run hack/tools.sh): %w", err)
	}
	go func() { d.done <- d.cmd.Wait(); log.Close() }()

	deadline := time.Now().Add(60 * time.Second)
	for {
		c, err := client.New(ctx, d.Addr)
		if err == nil {
			_, err = c.ListWorkers(ctx)
			c.Close()
		}
		if err == nil {
			return d, nil
		}
		select {
		case werr := <-d.done:
			return nil, fmt.Errorf("buildkitd exited (%v); log in %s", werr, log.Name())
		default:
		}
		if time.Now().After(deadline) {
			d.Stop()
			return nil, fmt.Errorf("buildkitd at %s does not answer: %w", d.Addr, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Client connects to the daemon.
func (d *Daemon) Client(ctx context.Context) (*client.Client, error) {
	return client.New(ctx, d.Addr)
}

// Stop terminates the daemon, waits for it, and removes its state.
func (d *Daemon) Stop() error {
	if d.cmd.Process != nil {
		_ = d.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-d.done:
		case <-time.After(60 * time.Second):
			_ = d.cmd.Process.Kill()
			<-d.done
		}
	}
	return os.RemoveAll(d.dir)
}

// NewDaemon starts a daemon for one test and stops it when the test ends.
func NewDaemon(t testing.TB) *Daemon {
	t.Helper()
	d, err := StartDaemon(context.Background(), "/var/lib/laingfile/test-daemons")
	if err != nil {
		t.Fatalf("a second buildkitd is needed: %v", err)
	}
	t.Cleanup(func() {
		if err := d.Stop(); err != nil {
			t.Errorf("stopping the test buildkitd: %v", err)
		}
	})
	return d
}
