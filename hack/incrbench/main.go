// Command incrbench measures what an edit of a Laingfile costs: it builds an example's image
// (the python devcontainer by default) with the frontend of this checkout and the fixture
// nixpkgs' realistic payload profile (about 385 store paths, 1 GiB) for linux/amd64, pushing to
// the local registry, in four cases, and prints one table with the wall time and step times of
// each, a host-Nix baseline, and PASS/MISS per goal:
//
//  1. cold: a fresh buildkitd of its own (empty BuildKit cache, empty /nix cache mount),
//     exporting its cache with --cache-to type=local,mode=max;
//  2. fully cached: the same build again on that daemon;
//  3. one package added (-add, postgresql_16) on that warm daemon;
//  4. the same change on another fresh buildkitd with --cache-from the cache of 1, and a Nix
//     binary cache holding both closures, standing in for cache.nixos.org.
//
// nixpkgs is pinned as users pin it, by URL and NAR hash: the fixture universe as a source
// tarball that incrbench serves on 127.0.0.1 (a `nixpkgs` build context directory would be
// sent and checksummed by every build, which no user with a pin pays).
//
// The binary cache is a push cache of the environment's server (/push/incrbench-NONCE), which
// every case's Laingfile names in `substituters:` (with the token as the build secret
// cache-token), as every real build has cache.nixos.org. It stays empty during cases 1 to 3,
// which so build what they realise, and gets both closures (`nix copy` from the host's Nix,
// signed with the environment's key) just before case 4, which builds the Laingfile of case 3.
// What case 4 fetched comes from the server: its counters and its request log.
//
// The baseline is the host's Nix (the builder's settings: no sandbox, Nix's default max-jobs)
// realising the same build request (nixsets' build expression, as the frontend's Nix step
// does) into a fresh chroot store, and `tar | gzip -6` of the closure (cold) and of the new
// store paths alone (incremental). The goals:
//
//	cold          wall (without the cache export) <= 1.3 x (realise closure + compress closure)
//	fully cached  wall <= 1 s
//	warm add      wall <= 2 x (realise new paths + compress new paths)
//	fresh runner  NAR bytes fetched from the binary cache <= 1.1 x NAR bytes of the new paths
//
// It is a benchmark, not a test: it exits 0 whenever the runs complete, whatever the goals say.
//
// Usage, as root from the repository root after hack/setup.sh (which starts the registry, the
// binary cache server and builds the Nix builder image):
//
//	go run ./hack/incrbench [-add postgresql_16] [-example python] [-target devcontainer] [-logs DIR]
//
// Every run first rebuilds and pushes the frontend image with hack/frontend-image.sh and pins
// it by digest (BUILDKIT_SYNTAX), so the figures are those of the checkout as it is, uncommitted
// changes included. The step times come from BuildKit's progress (`--progress rawjson`): "nix
// step" is the `nix: realise …` step, "layer steps" the steps of the store layers (`layer i/N
// …`), "unpack" BuildKit extracting image layers and cached results, "export" the image
// exporter (compressing and pushing layers), "cache out" the cache export; each is the time
// during which at least one such step ran, not from the cache. The slowest steps of each case
// follow the table. The temporary daemons, buildx builders, work directory (under /var/tmp),
// push cache and pushed tags are removed at the end, also after an error or an interrupt.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/laingville/laingfile/test/testenv"
)

func main() {
	var o options
	flag.StringVar(&o.example, "example", "python", "the directory under examples/ to build")
	flag.StringVar(&o.target, "target", "devcontainer", "the Laingfile target to build")
	flag.StringVar(&o.add, "add", "postgresql_16", "the package to add in cases 3 and 4")
	flag.StringVar(&o.profile, "profile", "realistic", "the fixture nixpkgs' payload profile (config.fixtureProfile)")
	flag.StringVar(&o.platform, "platform", "linux/amd64", "the platform to build for (linux/amd64 or linux/arm64)")
	flag.StringVar(&o.logs, "logs", "", "also write each case's progress (buildx --progress rawjson) to a file in this directory")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	err := run(ctx, o)
	fmt.Printf("\nincrbench ran for %s\n", time.Since(start).Round(time.Second))
	if err != nil {
		fmt.Fprintln(os.Stderr, "incrbench:", err)
		os.Exit(1)
	}
}

// The test environment of hack/lib.sh and test/testenv.
const (
	registry     = "127.0.0.1:5000"
	builderImage = registry + "/laingfile/nix-builder:test"
	frontendTag  = registry + "/laingfile/frontend:dev"
	cacheBase    = "http://127.0.0.1:5001"
	tokenFile    = "/run/laingfile/binary-cache.token"
	secretID     = "cache-token" // the build secret the substituters: entry names
)

type options struct {
	example, target, add, profile, platform string
	logs                                    string // where to keep the progress of each case
}

// bench is one run: its inputs, and what to undo at the end.
type bench struct {
	options
	root     string // the repository
	system   string // the Nix system of the platform
	nonce    string
	work     string // /var/tmp/incrbench-NONCE
	frontend string // the frontend image, by digest
	builder  string // the Nix builder image, by digest
	cache    *binaryCache
	host     *host
	nixpkgs  nixpkgsPin
	undo     []func() error
}

// later registers f to run at the end, in reverse order of registration.
func (b *bench) later(f func() error) { b.undo = append(b.undo, f) }

func (b *bench) cleanup() {
	for i := len(b.undo) - 1; i >= 0; i-- {
		if err := b.undo[i](); err != nil {
			fmt.Fprintln(os.Stderr, "incrbench: cleaning up:", err)
		}
	}
}

// laingfiles are the two versions of the Laingfile the cases build.
type laingfiles struct {
	old, grown []byte
}

func run(ctx context.Context, o options) error {
	b := &bench{options: o}
	defer b.cleanup()
	if err := b.prepare(ctx); err != nil {
		return err
	}
	files, err := b.laingfiles()
	if err != nil {
		return err
	}

	// The baseline, from the host's Nix.
	base, err := b.baseline(ctx, files)
	if err != nil {
		return err
	}

	// Cases 1 to 3 on one fresh daemon.
	daemonA, err := b.startDaemon(ctx, "warm")
	if err != nil {
		return err
	}
	buildCache := filepath.Join(b.work, "buildcache")
	c1, err := b.build(ctx, buildCase{label: "1 cold", about: "a fresh buildkitd, --cache-to type=local,mode=max", daemon: daemonA, laingfile: files.old, tag: "1-cold",
		cacheTo: buildCache})
	if err != nil {
		return err
	}
	base.noteCache(buildCache)
	c2, err := b.build(ctx, buildCase{label: "2 fully cached", about: "the same again, same daemon", daemon: daemonA, laingfile: files.old, tag: "2-cached"})
	if err != nil {
		return err
	}
	c3, err := b.build(ctx, buildCase{label: "3 warm add", about: "packages += " + b.add + ", same daemon", daemon: daemonA, laingfile: files.grown, tag: "3-add"})
	if err != nil {
		return err
	}
	if err := daemonA.stop(); err != nil {
		fmt.Fprintln(os.Stderr, "incrbench: stopping the first buildkitd:", err)
	}

	// Case 4 on another fresh daemon, with the cache of case 1 and the binary cache, which
	// only now gets the closures: cases 1 to 3 build what they realise.
	if err := b.fillCache(ctx, base); err != nil {
		return err
	}
	daemonB, err := b.startDaemon(ctx, "fresh")
	if err != nil {
		return err
	}
	before, err := b.cache.snapshot(ctx)
	if err != nil {
		return err
	}
	c4, err := b.build(ctx, buildCase{label: "4 fresh runner add", about: "the Laingfile of 3 on another fresh buildkitd, --cache-from 1's cache, binary cache filled", daemon: daemonB,
		laingfile: files.grown, tag: "4-fresh", cacheFrom: buildCache})
	if err != nil {
		return err
	}
	fetched, err := b.cache.fetchedSince(ctx, before, c4)
	if err != nil {
		return err
	}
	if err := daemonB.stop(); err != nil {
		fmt.Fprintln(os.Stderr, "incrbench: stopping the second buildkitd:", err)
	}

	b.checkImages(base, []*caseResult{c1, c2, c3, c4})
	b.report(base, []*caseResult{c1, c2, c3, c4}, fetched)
	return nil
}

// prepare checks the environment, makes the work directory, pushes the frontend image and pins
// it and the builder image by digest.
func (b *bench) prepare(ctx context.Context) error {
	if os.Geteuid() != 0 {
		return errors.New("run as root (buildkitd, the chroot Nix store and the binary cache token need it)")
	}
	var err error
	if b.root, err = os.Getwd(); err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(b.root, "examples", b.example, "Laingfile")); err != nil {
		return fmt.Errorf("%v (run from the repository root)", err)
	}
	switch b.platform {
	case "linux/amd64":
		b.system = "x86_64-linux"
	case "linux/arm64":
		b.system = "aarch64-linux"
	default:
		return fmt.Errorf("-platform %s: want linux/amd64 or linux/arm64", b.platform)
	}
	for _, tool := range []string{"buildkitd", "docker", "nix-build", "nix-store", "nix", "tar", "gzip"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s is not on PATH (run hack/setup.sh)", tool)
		}
	}
	nonce := make([]byte, 6)
	if _, err := rand.Read(nonce); err != nil {
		return err
	}
	b.nonce = hex.EncodeToString(nonce)
	b.work = filepath.Join("/var/tmp", "incrbench-"+b.nonce)
	if err := os.MkdirAll(b.work, 0o700); err != nil {
		return err
	}
	b.later(func() error { return removeAll(b.work) })

	if b.cache, err = newBinaryCache(ctx, "incrbench-"+b.nonce); err != nil {
		return err
	}
	b.later(b.cache.remove)
	b.host = &host{store: filepath.Join(b.work, "store"), work: b.work, fixture: filepath.Join(b.root, "test", "fixtures", "nixpkgs"), system: b.system}
	if _, err := os.Stat(filepath.Join(b.host.fixture, "bootstrap", b.system, "busybox")); err != nil {
		return fmt.Errorf("no bootstrap tree of the fixture for %s (run hack/nix-builder.sh --no-push): %v", b.system, err)
	}
	if b.nixpkgs, err = b.serveNixpkgs(); err != nil {
		return err
	}

	fmt.Printf("==> hack/frontend-image.sh (the frontend of this checkout)\n")
	start := time.Now()
	cmd := exec.CommandContext(ctx, filepath.Join(b.root, "hack", "frontend-image.sh"))
	cmd.Dir = b.root
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("hack/frontend-image.sh: %v\n%s", err, tail(string(out), 30))
	}
	// The digest it pushed, from its own output: another push of :dev may follow it.
	digest := regexp.MustCompile(`frontend image (sha256:[0-9a-f]{64})`).FindStringSubmatch(string(out))
	if digest == nil {
		return fmt.Errorf("hack/frontend-image.sh printed no digest:\n%s", tail(string(out), 10))
	}
	b.frontend = frontendTag + "@" + digest[1]
	head, _ := exec.Command("git", "describe", "--always", "--dirty").Output()
	fmt.Printf("    %s (%s, built in %.1fs)\n", b.frontend, strings.TrimSpace(string(head)), time.Since(start).Seconds())

	ref, err := name.ParseReference(builderImage, name.Insecure)
	if err != nil {
		return err
	}
	desc, err := remote.Head(ref, remote.WithContext(ctx))
	if err != nil {
		return fmt.Errorf("the Nix builder image %s (run hack/setup.sh): %v", builderImage, err)
	}
	b.builder = builderImage + "@" + desc.Digest.String()
	fmt.Printf("    Nix builder %s\n", b.builder)
	fmt.Printf("    %s %s, %s, fixture profile %s, %d CPUs\n", b.example, b.target, b.platform, b.profile, runtime.NumCPU())
	return nil
}

// removeAll removes a directory tree, first unmounting whatever is still mounted under it (a
// buildkitd that did not stop cleanly).
func removeAll(dir string) error {
	testenv.UnmountUnder(dir)
	return os.RemoveAll(dir)
}

// tail is the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
