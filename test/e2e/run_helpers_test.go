package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/containerd/platforms"
	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/client/llb/sourceresolver"
	gwclient "github.com/moby/buildkit/frontend/gateway/client"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/tonistiigi/fsutil"

	"github.com/laingville/laingfile/test/testenv"
)

// imageRun is a shell script to run inside an image, as a container of that image would:
// its config's Env, WorkingDir and User apply unless User is set here.
type imageRun struct {
	Image    string // a reference in the local registry
	Platform string // "linux/amd64" (default) or "linux/arm64" (emulated)
	User     string // "" keeps the image's user; "root", "1000", "vscode", …
	Script   string // run by the image's /bin/sh -c
	// Input is a host directory mounted read-only at /laingfile-in ("" for none).
	Input string
}

// inputDir is where imageRun.Input is mounted.
const inputDir = "/laingfile-in"

// runInImage runs r in BuildKit and returns what the script printed (stdout and stderr) and
// its exit status. The run is never cached.
func runInImage(t *testing.T, r imageRun) (string, int) {
	t.Helper()
	if r.Platform == "" {
		r.Platform = "linux/amd64"
	}
	p, err := platforms.Parse(r.Platform)
	if err != nil {
		t.Fatal(err)
	}
	c := testenv.Client(t)
	// The output directory is world-writable so that any user can write to it.
	outDir := llb.Scratch().File(llb.Mkdir("/out", 0o777), llb.WithCustomName("output directory"))
	script := fmt.Sprintf("(%s) >/laingfile-out/output 2>&1; echo $? >/laingfile-out/status", r.Script)

	solveOpt := client.SolveOpt{}
	if r.Input != "" {
		fs, err := fsutil.NewFS(r.Input)
		if err != nil {
			t.Fatal(err)
		}
		solveOpt.LocalMounts = map[string]fsutil.FS{"input": fs}
	}

	var output string
	status := -1
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	_, err = c.Build(ctx, solveOpt, "", func(ctx context.Context, gw gwclient.Client) (*gwclient.Result, error) {
		img := llb.Image(r.Image, llb.Platform(p), llb.WithMetaResolver(gw), llb.ResolveModeForcePull)
		user := r.User
		if user == "" {
			// LLB applies the image's Env and WorkingDir but not its User.
			_, _, cfgJSON, err := gw.ResolveImageConfig(ctx, r.Image, sourceresolver.Opt{ImageOpt: &sourceresolver.ResolveImageOpt{Platform: &p}})
			if err != nil {
				return nil, err
			}
			var cfg ocispecs.Image
			if err := json.Unmarshal(cfgJSON, &cfg); err != nil {
				return nil, err
			}
			user = cfg.Config.User
		}
		opts := []llb.RunOption{
			llb.Args([]string{"/bin/sh", "-c", script}),
			llb.AddMount("/laingfile-out", outDir, llb.SourcePath("/out")),
			llb.IgnoreCache,
			llb.WithCustomNamef("run in %s: %s", r.Image, r.Script),
		}
		if user != "" {
			opts = append(opts, llb.User(user))
		}
		if r.Input != "" {
			opts = append(opts, llb.AddMount(inputDir, llb.Local("input"), llb.Readonly))
		}
		out := img.Run(opts...).GetMount("/laingfile-out")
		def, err := out.Marshal(ctx, llb.Platform(p))
		if err != nil {
			return nil, err
		}
		res, err := gw.Solve(ctx, gwclient.SolveRequest{Definition: def.ToPB()})
		if err != nil {
			return nil, err
		}
		ref, err := res.SingleRef()
		if err != nil {
			return nil, err
		}
		data, err := ref.ReadFile(ctx, gwclient.ReadRequest{Filename: "out/output"})
		if err != nil {
			return nil, err
		}
		output = string(data)
		data, err = ref.ReadFile(ctx, gwclient.ReadRequest{Filename: "out/status"})
		if err != nil {
			return nil, err
		}
		status, err = strconv.Atoi(strings.TrimSpace(string(data)))
		return gwclient.NewResult(), err
	}, nil)
	if err != nil {
		t.Fatalf("running %q in %s (%s): %v", r.Script, r.Image, r.Platform, err)
	}
	return output, status
}

// mustRunInImage is runInImage for scripts that have to succeed.
func mustRunInImage(t *testing.T, r imageRun) string {
	t.Helper()
	out, status := runInImage(t, r)
	if status != 0 {
		t.Fatalf("%q in %s (%s) exited %d:\n%s", r.Script, r.Image, r.Platform, status, out)
	}
	return out
}
