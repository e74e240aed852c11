package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/laingville/laingfile/laingfile2llb"
	"github.com/laingville/laingfile/nixsets"
)

// host is the host's Nix with a chroot store of the benchmark's own (local?root=STORE, empty
// at first): the baseline's fresh store, and where the binary cache's contents come from.
type host struct {
	store, work, fixture, system string
}

// realised is one Laingfile's build request realised by the host's Nix.
type realised struct {
	took    time.Duration // evaluation and realisation, as the frontend's Nix step does them
	closure []string      // the image's store paths: the closure of the report's roots
	all     []string      // with the closure of everything realised (what a binary cache needs)
}

// settings are the builder image's Nix settings (see hack/nixbuilder), on the host: no sandbox,
// no substituters, Nix's default max-jobs; builds as root, the host having no nixbld group.
func (h *host) settings() []string {
	return []string{"--store", "local?root=" + h.store, "--option", "sandbox", "false", "--option", "build-users-group", "",
		"--option", "substituters", ""}
}

// realise evaluates and realises the request the frontend makes of the Laingfile, with the
// build expression its Nix step uses, and returns the closures and the time it took.
func (h *host) realise(ctx context.Context, b *bench, name string, data []byte) (*realised, error) {
	f, t, err := b.parse(data)
	if err != nil {
		return nil, err
	}
	req := laingfile2llb.NixRequest(f, t, h.system, nixsets.DefaultPin())
	req.Nixpkgs = nixsets.NixpkgsSource{Path: h.fixture}
	reqFile := filepath.Join(h.work, name+".request.json")
	reqJSON, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(reqFile, reqJSON, 0o644); err != nil {
		return nil, err
	}
	exprFile := filepath.Join(h.work, "build.nix")
	if err := os.WriteFile(exprFile, nixsets.BuildExpression(), 0o644); err != nil {
		return nil, err
	}
	expr := append(h.settings(), exprFile, "--argstr", "requestFile", reqFile)

	start := time.Now()
	reportJSON, err := command(ctx, "nix-instantiate", append([]string{"--eval", "--strict", "--json", "-A", "report"}, expr...)...)
	if err != nil {
		return nil, err
	}
	var report nixsets.Report
	if err := json.Unmarshal([]byte(reportJSON), &report); err != nil {
		return nil, fmt.Errorf("the build expression's report: %v", err)
	}
	if len(report.Problems) > 0 {
		return nil, fmt.Errorf("%s: problems with the requested packages: %+v", name, report.Problems)
	}
	drvs, err := command(ctx, "nix-instantiate", append([]string{"-A", "realise"}, expr...)...)
	if err != nil {
		return nil, err
	}
	outputs, err := command(ctx, "nix-store", append(append(h.settings(), "--realise"), strings.Fields(drvs)...)...)
	if err != nil {
		return nil, err
	}
	r := &realised{took: time.Since(start)}
	if r.closure, err = h.requisites(ctx, report.Roots); err != nil {
		return nil, err
	}
	if r.all, err = h.requisites(ctx, append(report.Roots, strings.Fields(outputs)...)); err != nil {
		return nil, err
	}
	return r, nil
}

func (h *host) requisites(ctx context.Context, paths []string) ([]string, error) {
	out, err := command(ctx, "nix-store", append([]string{"--store", "local?root=" + h.store, "--query", "--requisites"}, paths...)...)
	if err != nil {
		return nil, err
	}
	list := strings.Fields(out)
	slices.Sort(list)
	return list, nil
}

// narSizes are the NAR bytes of store paths, from the store's database.
func (h *host) narSizes(ctx context.Context, paths []string) (map[string]int64, error) {
	out, err := command(ctx, "nix-store", append([]string{"--store", "local?root=" + h.store, "--query", "--size"}, paths...)...)
	if err != nil {
		return nil, err
	}
	sizes := strings.Fields(out)
	if len(sizes) != len(paths) {
		return nil, fmt.Errorf("nix-store --query --size: %d sizes for %d paths", len(sizes), len(paths))
	}
	m := map[string]int64{}
	for i, p := range paths {
		if m[p], err = strconv.ParseInt(sizes[i], 10, 64); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// compress times `tar -c PATHS | gzip -6`, what exporting the paths as layers does at least,
// and returns the compressed bytes.
func (h *host) compress(ctx context.Context, paths []string) (time.Duration, int64, error) {
	args := []string{"-C", h.store, "-cf", "-"}
	for _, p := range paths {
		args = append(args, strings.TrimPrefix(p, "/"))
	}
	tar := exec.CommandContext(ctx, "tar", args...)
	gz := exec.CommandContext(ctx, "gzip", "-6")
	pipe, err := tar.StdoutPipe()
	if err != nil {
		return 0, 0, err
	}
	gz.Stdin = pipe
	out, err := gz.StdoutPipe()
	if err != nil {
		return 0, 0, err
	}
	var stderr strings.Builder
	tar.Stderr, gz.Stderr = &stderr, &stderr
	start := time.Now()
	if err := tar.Start(); err != nil {
		return 0, 0, err
	}
	if err := gz.Start(); err != nil {
		_ = tar.Process.Kill()
		_ = tar.Wait()
		return 0, 0, err
	}
	n, err := io.Copy(io.Discard, out)
	gzErr := gz.Wait()
	tarErr := tar.Wait()
	took := time.Since(start)
	for _, e := range []error{err, tarErr, gzErr} {
		if e != nil {
			return 0, 0, fmt.Errorf("tar | gzip -6: %v %s", e, stderr.String())
		}
	}
	return took, n, nil
}

// copyTo copies store paths into a binary cache with `nix copy`, signed with the key in
// keyFile, the token in netrc.
func (h *host) copyTo(ctx context.Context, url, keyFile, netrc string, paths []string) error {
	_, err := command(ctx, "nix", append([]string{"--extra-experimental-features", "nix-command", "copy",
		"--option", "netrc-file", netrc, "--from", "local?root=" + h.store,
		"--to", url + "?secret-key=" + keyFile + "&compression=zstd"}, paths...)...)
	return err
}

// command runs a program and returns its standard output, or an error with its standard error.
func command(ctx context.Context, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%s: %v\n%s", name, err, tail(stderr.String(), 30))
	}
	return string(out), nil
}
