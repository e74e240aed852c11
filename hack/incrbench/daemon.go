package main

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/laingville/laingfile/test/testenv"
)

// daemon is a buildkitd of the benchmark's own, with a fresh root under the work directory (an
// empty BuildKit cache and so an empty /nix cache mount) and no garbage collection, reachable
// as a buildx builder of the remote driver.
type daemon struct {
	*testenv.Daemon
	name    string // the buildx builder
	stopped bool
}

// startDaemon starts a buildkitd under WORK/name and creates the buildx builder for it; the
// bench's cleanup stops it if the run does not.
func (b *bench) startDaemon(ctx context.Context, name string) (*daemon, error) {
	dir := filepath.Join(b.work, "buildkitd-"+name)
	td, err := testenv.StartDaemonIn(ctx, dir, testenv.DaemonOptions{NoGC: true})
	if err != nil {
		return nil, err
	}
	d := &daemon{Daemon: td, name: "incrbench-" + b.nonce + "-" + name}
	b.later(d.stop)
	out, err := exec.CommandContext(ctx, "docker", "buildx", "create", "--name", d.name, "--driver", "remote", d.Addr).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("docker buildx create: %v\n%s", err, out)
	}
	fmt.Printf("==> buildkitd %s started (%s, buildx builder %s)\n", name, dir, d.name)
	return d, nil
}

// stop removes the buildx builder and stops buildkitd, with its state; once.
func (d *daemon) stop() error {
	if d.stopped {
		return nil
	}
	d.stopped = true
	var errs []string
	if out, err := exec.Command("docker", "buildx", "rm", d.name).CombinedOutput(); err != nil && !strings.Contains(string(out), "not found") {
		errs = append(errs, fmt.Sprintf("docker buildx rm %s: %v: %s", d.name, err, strings.TrimSpace(string(out))))
	}
	if err := d.Daemon.Stop(); err != nil {
		errs = append(errs, err.Error())
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}
