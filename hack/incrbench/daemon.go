package main

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
	"time"

	"github.com/moby/buildkit/client"
)

// daemon is a buildkitd of the benchmark's own, with a fresh root under the work directory (an
// empty BuildKit cache and so an empty /nix cache mount), reachable as a buildx builder of the
// remote driver.
type daemon struct {
	name    string // the buildx builder
	dir     string
	addr    string
	cmd     *exec.Cmd
	done    chan error
	stopped bool
}

// startDaemon starts a buildkitd under WORK/name and creates the buildx builder for it; the
// bench's cleanup stops it if the run does not.
func (b *bench) startDaemon(ctx context.Context, name string) (*daemon, error) {
	dir := filepath.Join(b.work, "buildkitd-"+name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	// As test/testenv's daemons: the overlayfs snapshotter (MergeOp), the local registry over
	// HTTP; no garbage collection during the runs.
	config := fmt.Sprintf("[worker.oci]\n  snapshotter = \"overlayfs\"\n  gc = false\n[worker.containerd]\n  enabled = false\n[registry.%q]\n  http = true\n  insecure = true\n", registry)
	if err := os.WriteFile(filepath.Join(dir, "buildkitd.toml"), []byte(config), 0o644); err != nil {
		return nil, err
	}
	log, err := os.Create(filepath.Join(dir, "buildkitd.log"))
	if err != nil {
		return nil, err
	}
	d := &daemon{name: "incrbench-" + b.nonce + "-" + name, dir: dir, addr: "unix://" + filepath.Join(dir, "buildkitd.sock"), done: make(chan error, 1)}
	d.cmd = exec.Command("buildkitd", "--config", filepath.Join(dir, "buildkitd.toml"), "--root", filepath.Join(dir, "root"), "--addr", d.addr)
	d.cmd.Stdout, d.cmd.Stderr = log, log
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // an interrupt is ours to handle
	if err := d.cmd.Start(); err != nil {
		log.Close()
		return nil, fmt.Errorf("starting buildkitd: %w", err)
	}
	go func() { d.done <- d.cmd.Wait(); log.Close() }()
	b.later(d.stop)

	deadline := time.Now().Add(60 * time.Second)
	for {
		c, err := client.New(ctx, d.addr)
		if err == nil {
			_, err = c.ListWorkers(ctx)
			c.Close()
		}
		if err == nil {
			break
		}
		select {
		case werr := <-d.done:
			d.stopped = true
			return nil, fmt.Errorf("buildkitd exited (%v):\n%s", werr, tailFile(log.Name(), 20))
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("buildkitd at %s does not answer: %v", d.addr, err)
		}
	}
	out, err := exec.CommandContext(ctx, "docker", "buildx", "create", "--name", d.name, "--driver", "remote", d.addr).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("docker buildx create: %v\n%s", err, out)
	}
	fmt.Printf("==> buildkitd %s started (%s, buildx builder %s)\n", name, dir, d.name)
	return d, nil
}

// stop removes the buildx builder, stops buildkitd (SIGTERM, SIGKILL after a minute) and
// unmounts what it left mounted. Its state goes with the work directory.
func (d *daemon) stop() error {
	if d.stopped {
		return nil
	}
	d.stopped = true
	var errs []string
	if out, err := exec.Command("docker", "buildx", "rm", d.name).CombinedOutput(); err != nil && !strings.Contains(string(out), "not found") {
		errs = append(errs, fmt.Sprintf("docker buildx rm %s: %v: %s", d.name, err, strings.TrimSpace(string(out))))
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(60 * time.Second):
		_ = d.cmd.Process.Kill()
		<-d.done
	}
	unmountUnder(d.dir)
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}

// unmountUnder detaches every mount at or below dir, deepest first.
func unmountUnder(dir string) {
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

func tailFile(path string, n int) string {
	data, _ := os.ReadFile(path)
	return tail(string(data), n)
}
