package testenv

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moby/buildkit/client"
)

// Daemon is a buildkitd of its own with a fresh root: a cold cache that shares nothing with
// the environment's daemon, for determinism checks and cold-build measurements.
type Daemon struct {
	Addr    string
	dir     string
	cmd     *exec.Cmd
	done    chan error
	stopped bool
}

// DaemonOptions are the settings of a buildkitd of one's own besides those every one has (the
// overlayfs snapshotter, for MergeOp, and the local registry over HTTP).
type DaemonOptions struct {
	// NoGC turns garbage collection off, so that a benchmark's later runs find every record.
	NoGC bool
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
	return StartDaemonIn(ctx, dir, DaemonOptions{})
}

// StartDaemonIn starts buildkitd with its state in dir and waits until it answers.
func StartDaemonIn(ctx context.Context, dir string, opts DaemonOptions) (*Daemon, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	gc := ""
	if opts.NoGC {
		gc = "  gc = false\n"
	}
	config := fmt.Sprintf("[worker.oci]\n  snapshotter = \"overlayfs\"\n%s[worker.containerd]\n  enabled = false\n[registry.%q]\n  http = true\n  insecure = true\n", gc, RegistryAddr)
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
	// Its own process group: an interrupt of the caller is the caller's to handle.
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := d.cmd.Start(); err != nil {
		log.Close()
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
			d.stopped = true
			data, _ := os.ReadFile(log.Name())
			lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
			return nil, fmt.Errorf("buildkitd exited (%v):\n%s", werr, strings.Join(lines[max(0, len(lines)-20):], "\n"))
		case <-ctx.Done():
			d.Stop()
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			d.Stop()
			return nil, fmt.Errorf("buildkitd at %s does not answer: %w", d.Addr, err)
		}
	}
}

// Client connects to the daemon.
func (d *Daemon) Client(ctx context.Context) (*client.Client, error) {
	return client.New(ctx, d.Addr)
}

// Stop terminates the daemon (SIGTERM, SIGKILL after a minute), waits for it, unmounts what it
// left mounted and removes its state. A second Stop does nothing.
func (d *Daemon) Stop() error {
	if d.stopped {
		return nil
	}
	d.stopped = true
	if d.cmd.Process != nil {
		_ = d.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-d.done:
		case <-time.After(60 * time.Second):
			_ = d.cmd.Process.Kill()
			<-d.done
		}
	}
	UnmountUnder(d.dir)
	return os.RemoveAll(d.dir)
}

// UnmountUnder detaches every mount at or below dir, deepest first: what a buildkitd that did
// not stop cleanly leaves.
func UnmountUnder(dir string) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return
	}
	defer f.Close()
	var mounts []string
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) > 4 && (fields[4] == dir || strings.HasPrefix(fields[4], dir+"/")) {
			mounts = append(mounts, fields[4])
		}
	}
	sort.Slice(mounts, func(i, j int) bool { return len(mounts[i]) > len(mounts[j]) })
	for _, m := range mounts {
		_ = syscall.Unmount(m, syscall.MNT_DETACH)
	}
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
