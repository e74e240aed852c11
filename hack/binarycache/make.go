package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/util/progress/progressui"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/tonistiigi/fsutil"
)

// makeConfig is what `binarycache make` builds from and where it puts the caches.
type makeConfig struct {
	Out        string   // the caches' directory: keys/, signed/, unsigned/, paths/, inputs
	Addr       string   // buildkitd
	Image      string   // the Nix builder image (linux/amd64 is used)
	Nixpkgs    string   // the nixpkgs tree mounted at /nixpkgs
	Laingfiles []string // whose targets' closures the caches hold
	Force      bool     // rebuild (new keys) even when the inputs did not change
}

// stringList is a repeatable flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

func runMake(args []string) error {
	fs := flag.NewFlagSet("make", flag.ContinueOnError)
	var cfg makeConfig
	var laingfiles stringList
	repo := fs.String("repo", ".", "repository root")
	fs.StringVar(&cfg.Out, "out", "", "directory of the caches (required)")
	fs.StringVar(&cfg.Addr, "addr", defaultBuildkitHost(), "buildkitd address")
	fs.StringVar(&cfg.Image, "image", "127.0.0.1:5000/laingfile/nix-builder:test", "Nix builder image")
	fs.StringVar(&cfg.Nixpkgs, "nixpkgs", "", "nixpkgs tree (default REPO/test/fixtures/nixpkgs)")
	fs.Var(&laingfiles, "laingfile", "a Laingfile whose targets the caches hold (repeatable; default REPO/examples/python/Laingfile)")
	fs.BoolVar(&cfg.Force, "force", false, "rebuild even when the inputs did not change")
	parseFlags(fs, args)
	if cfg.Out == "" {
		return errors.New("make: -out DIR is required")
	}
	if cfg.Nixpkgs == "" {
		cfg.Nixpkgs = filepath.Join(*repo, "test", "fixtures", "nixpkgs")
	}
	cfg.Laingfiles = laingfiles
	if len(cfg.Laingfiles) == 0 {
		cfg.Laingfiles = []string{filepath.Join(*repo, "examples", "python", "Laingfile")}
	}
	ctx, cancel := signalContext()
	defer cancel()
	return makeCaches(ctx, cfg)
}

func defaultBuildkitHost() string {
	if h := os.Getenv("BUILDKIT_HOST"); h != "" {
		return h
	}
	return "unix:///run/laingfile/buildkitd.sock"
}

// inputsFile in the output directory records the digest of what the caches were made from.
const inputsFile = "inputs"

func makeCaches(ctx context.Context, cfg makeConfig) error {
	start := time.Now()
	inputs, err := stepInputs(cfg.Laingfiles)
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(cfg.Nixpkgs, "bootstrap")); err != nil {
		return fmt.Errorf("%s has no bootstrap trees (%w); run hack/nix-builder.sh", cfg.Nixpkgs, err)
	}
	nixpkgsDigest, err := treeDigest(cfg.Nixpkgs)
	if err != nil {
		return fmt.Errorf("hashing %s: %w", cfg.Nixpkgs, err)
	}
	builder, err := pinImage(ctx, cfg.Image)
	if err != nil {
		return err
	}
	digest := inputsDigest(inputs, builder, nixpkgsDigest)
	if !cfg.Force && upToDate(cfg.Out, digest) {
		// Complete too: every path listed has its narinfo and NAR in both caches.
		err := summarize(io.Discard, cfg.Out)
		if err == nil {
			logf("binary caches up to date in %s (inputs %.12s, %.1fs)", cfg.Out, digest, time.Since(start).Seconds())
			return summarize(os.Stdout, cfg.Out)
		}
		logf("the binary caches in %s are incomplete (%v); making them again", cfg.Out, err)
	}

	logf("building the binary caches with %s (inputs %.12s)", builder, digest)
	tmp := cfg.Out + ".new"
	if err := os.RemoveAll(tmp); err != nil {
		return err
	}
	if err := solve(ctx, cfg, builder, inputs, tmp); err != nil {
		os.RemoveAll(tmp)
		return err
	}
	for _, f := range []string{"keys/public", "keys/secret", "signed/nix-cache-info", "unsigned/nix-cache-info"} {
		if _, err := os.Stat(filepath.Join(tmp, f)); err != nil {
			return fmt.Errorf("the build left no %s: %w", f, err)
		}
	}
	// The exporter makes the directory 0700; the secret key alone is private.
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	if err := os.Chmod(filepath.Join(tmp, "keys", "secret"), 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(tmp, inputsFile), []byte(digest+"\n"), 0o644); err != nil {
		return err
	}
	if err := replaceDir(tmp, cfg.Out); err != nil {
		return err
	}
	logf("binary caches written to %s in %.1fs", cfg.Out, time.Since(start).Seconds())
	return summarize(os.Stdout, cfg.Out)
}

// upToDate reports whether dir holds caches made from inputs with this digest.
func upToDate(dir, digest string) bool {
	data, err := os.ReadFile(filepath.Join(dir, inputsFile))
	if err != nil || strings.TrimSpace(string(data)) != digest {
		return false
	}
	for _, f := range []string{"keys/public", "keys/secret", "signed/nix-cache-info", "unsigned/nix-cache-info"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			return false
		}
	}
	return true
}

// replaceDir puts src where dst is with two renames, so that a server reading dst sees the old
// caches or the new ones, never a mix.
func replaceDir(src, dst string) error {
	old := dst + ".old"
	if err := os.RemoveAll(old); err != nil {
		return err
	}
	if err := os.Rename(dst, old); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err := os.Rename(src, dst); err != nil {
		return err
	}
	return os.RemoveAll(old)
}

// pinImage resolves ref to a reference by digest, so that the digest is part of the inputs.
func pinImage(ctx context.Context, ref string) (string, error) {
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		return "", err
	}
	desc, err := remote.Head(r, remote.WithContext(ctx))
	if err != nil {
		return "", fmt.Errorf("resolving %s: %w (run hack/nix-builder.sh)", ref, err)
	}
	return r.Context().Digest(desc.Digest.String()).String(), nil
}

// solve runs make.sh in the builder (linux/amd64) with the inputs at /laingfile and nixpkgs at
// /nixpkgs, and exports its /out to dir.
func solve(ctx context.Context, cfg makeConfig, builder string, inputs []inputFile, dir string) error {
	c, err := client.New(ctx, cfg.Addr)
	if err != nil {
		return fmt.Errorf("connecting to buildkitd at %s: %w", cfg.Addr, err)
	}
	defer c.Close()
	nixpkgs, err := fsutil.NewFS(cfg.Nixpkgs)
	if err != nil {
		return err
	}
	amd64 := ocispecs.Platform{OS: "linux", Architecture: "amd64"}
	def, err := makeState(builder, inputs, cfg.Force).Marshal(ctx, llb.Platform(amd64))
	if err != nil {
		return err
	}
	ch := make(chan *client.SolveStatus)
	display, err := progressui.NewDisplay(os.Stderr, progressui.PlainMode)
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, _ = display.UpdateFrom(context.WithoutCancel(ctx), ch)
	}()
	_, err = c.Solve(ctx, def, client.SolveOpt{
		LocalMounts: map[string]fsutil.FS{"nixpkgs": nixpkgs},
		Exports:     []client.ExportEntry{{Type: client.ExporterLocal, OutputDir: dir}},
	}, ch)
	wg.Wait()
	if err != nil {
		return fmt.Errorf("building the binary caches: %w", err)
	}
	return nil
}

// makeState is the exec's /out: make.sh run in the builder as the frontend's build step runs
// build.sh (inputs at /laingfile, nixpkgs at /nixpkgs), with the store in its own rootfs.
func makeState(builder string, inputs []inputFile, force bool) llb.State {
	at := llb.WithCreatedTime(time.Unix(0, 0).UTC())
	var dirs []string
	seen := map[string]bool{}
	for _, f := range inputs {
		for d := path.Dir(f.Path); d != "." && !seen[d]; d = path.Dir(d) {
			seen[d] = true
			dirs = append(dirs, d)
		}
	}
	sort.Strings(dirs) // parents first
	var fa *llb.FileAction
	for _, d := range dirs {
		if fa == nil {
			fa = llb.Mkdir("/"+d, 0o755, llb.WithParents(true), at)
		} else {
			fa = fa.Mkdir("/"+d, 0o755, llb.WithParents(true), at)
		}
	}
	for _, f := range inputs {
		if fa == nil {
			fa = llb.Mkfile("/"+f.Path, 0o644, f.Data, at)
		} else {
			fa = fa.Mkfile("/"+f.Path, 0o644, f.Data, at)
		}
	}
	in := llb.Scratch().File(fa, llb.WithCustomName("binarycache: write the requests"))
	opts := []llb.RunOption{
		llb.Args([]string{"/bin/sh", "/laingfile/make.sh"}),
		llb.AddEnv("PATH", "/nix/var/nix/profiles/default/bin"),
		llb.AddEnv("HOME", "/root"),
		llb.AddEnv("USER", "root"),
		llb.AddEnv("TMPDIR", "/tmp"),
		llb.AddEnv("LAINGFILE_CACHE_KEY", cacheKeyName),
		llb.AddMount("/laingfile", in, llb.Readonly),
		llb.AddMount("/nixpkgs", llb.Local("nixpkgs"), llb.Readonly),
		llb.WithCustomName("binarycache: realise the examples for " + strings.Join(Systems, " and ") + ", nix copy them into file:///out/{signed,unsigned}"),
	}
	if force {
		opts = append(opts, llb.IgnoreCache)
	}
	return llb.Image(builder).Run(opts...).AddMount("/out", llb.Scratch())
}

// cacheSummary is one cache's content for one system.
type cacheSummary struct {
	Paths    int
	FileSize int64 // compressed NARs
	NarSize  int64
}

// summarize prints, for each cache and system, how many paths it holds and their sizes, after
// checking that every path of paths/<system> has a narinfo and a NAR there.
func summarize(w io.Writer, dir string) error {
	pub, err := os.ReadFile(filepath.Join(dir, "keys", "public"))
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "    public key  %s\n", strings.TrimSpace(string(pub)))
	for _, cache := range []string{"signed", "unsigned"} {
		for _, system := range Systems {
			s, err := summarizeSystem(dir, cache, system)
			if err != nil {
				return err
			}
			fmt.Fprintf(w, "    %-8s  %-13s  %4d paths  %7.2f MiB xz  (%.2f MiB of NARs)\n",
				cache, system, s.Paths, mib(s.FileSize), mib(s.NarSize))
		}
		size, files, err := dirSize(filepath.Join(dir, cache))
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "    %-8s  %-13s  %4d files  %7.2f MiB on disk\n", cache, "in all", files, mib(size))
	}
	return nil
}

func summarizeSystem(dir, cache, system string) (cacheSummary, error) {
	data, err := os.ReadFile(filepath.Join(dir, "paths", system))
	if err != nil {
		return cacheSummary{}, err
	}
	var s cacheSummary
	for _, p := range strings.Fields(string(data)) {
		info, err := os.ReadFile(filepath.Join(dir, cache, narinfoName(p)))
		if err != nil {
			return cacheSummary{}, fmt.Errorf("%s cache: %s: %w", cache, p, err)
		}
		n, err := parseNarinfo(string(info))
		if err != nil {
			return cacheSummary{}, fmt.Errorf("%s cache: %s: %w", cache, p, err)
		}
		if _, err := os.Stat(filepath.Join(dir, cache, filepath.FromSlash(n.URL))); err != nil {
			return cacheSummary{}, fmt.Errorf("%s cache: the NAR of %s: %w", cache, p, err)
		}
		s.Paths++
		s.FileSize += n.FileSize
		s.NarSize += n.NarSize
	}
	return s, nil
}

func dirSize(dir string) (size int64, files int, err error) {
	err = filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		size += info.Size()
		files++
		return nil
	})
	return size, files, err
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }

func logf(format string, args ...any) { fmt.Printf("==> "+format+"\n", args...) }
