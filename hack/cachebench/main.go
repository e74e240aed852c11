// Command cachebench measures what a Nix binary cache saves: it builds one target of an
// example on a fresh builder twice, (a) without a cache and (b) with the test environment's
// signed binary cache as a substituter, and prints what Nix substituted and built and the
// wall time of each build, with the speed-up. It prints figures; it checks nothing.
//
// Usage, as root from the repository root after hack/setup.sh:
//
//	go run ./hack/cachebench [-example python] [-target devcontainer] [-platform linux/amd64]
//
// Each run pushes the test Nix builder image again with a label of its own
// (127.0.0.1:5000/laingfile/nix-builder:fresh-NONCE), which BuildKit has not seen, so the Nix
// step runs on an empty /nix store, as on a new machine. The build is the real
// `docker buildx build --builder laingfile --output type=cacheonly` of a copy of
// examples/EXAMPLE, with the frontend that hack/frontend-image.sh pushed
// (127.0.0.1:5000/laingfile/frontend:dev, by digest, through BUILDKIT_SYNTAX) and the fixture
// universe as the nixpkgs context; run (b) adds the cache served on
// http://127.0.0.1:5001/signed to the Laingfile's substituters. The figures come from the Nix
// step's progress lines (`nix: realising: …`, `nix: substituted …`, `nix: fetched …`); the
// download is Nix's plan; "nix step" is BuildKit's time for that step (`#N DONE 1.2s`) and wall
// time the whole buildx command (frontend, contexts, layers included).
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/laingville/laingfile/test/testenv"
)

// The test environment of hack/lib.sh and test/testenv.
const (
	registry  = "127.0.0.1:5000"
	builder   = registry + "/laingfile/nix-builder:test"
	frontend  = registry + "/laingfile/frontend:dev"
	buildx    = "laingfile"
	cacheURL  = "http://127.0.0.1:5001/signed"
	publicKey = "binarycache/cache/keys/public" // under LAINGFILE_CACHE
)

// result is one build's account, from the Nix step's progress lines.
type result struct {
	name               string
	substituted, built int
	fetched            int
	downloadMiB        float64
	nixStep, wall      time.Duration
}

var (
	planRe    = regexp.MustCompile(`(?m)^#(\d+) [\d.]+ nix: realising: (\d+) paths to substitute(?: \(([\d.]+) (\w+) download\))?, (\d+) to build`)
	countsRe  = regexp.MustCompile(`nix: substituted (\d+) paths, built (\d+)`)
	fetchedRe = regexp.MustCompile(`nix: fetched (\d+) paths from `)
	units     = map[string]float64{"B": 1.0 / (1 << 20), "KiB": 1.0 / 1024, "MiB": 1, "GiB": 1024}
)

func main() {
	target := flag.String("target", "devcontainer", "the Laingfile target to build")
	platform := flag.String("platform", "linux/amd64", "the platform to build for")
	example := flag.String("example", "python", "the directory under examples/ to build")
	flag.Parse()
	if err := run(*example, *target, *platform); err != nil {
		fmt.Fprintln(os.Stderr, "cachebench:", err)
		os.Exit(1)
	}
}

func run(example, target, platform string) error {
	root, err := os.Getwd()
	if err != nil {
		return err
	}
	src := filepath.Join(root, "examples", example, "Laingfile")
	if _, err := os.Stat(src); err != nil {
		return fmt.Errorf("%v (run from the repository root)", err)
	}
	cache := os.Getenv("LAINGFILE_CACHE")
	if cache == "" {
		cache = "/var/cache/laingfile"
	}
	key, err := os.ReadFile(filepath.Join(cache, publicKey))
	if err != nil {
		return fmt.Errorf("no key of the binary cache (run hack/setup.sh): %v", err)
	}
	fe, err := name.ParseReference(frontend, name.Insecure)
	if err != nil {
		return err
	}
	desc, err := remote.Head(fe)
	if err != nil {
		return fmt.Errorf("the frontend image %s (run hack/frontend-image.sh): %v", frontend, err)
	}
	frontendRef := frontend + "@" + desc.Digest.String()
	version := frontendVersion(fe)
	fmt.Printf("%s %s (%s), frontend %s (%s)\n", example, target, platform, frontendRef, version)
	if head, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output(); err == nil &&
		!strings.HasPrefix(version, strings.TrimSpace(string(head))) {
		fmt.Fprintf(os.Stderr, "warning: the frontend image is %s, not this checkout (%s); run hack/frontend-image.sh\n",
			version, strings.TrimSpace(string(head)))
	}

	var results []result
	for _, substituters := range []string{"", "substituters:\n  - {url: " + cacheURL + ", publicKey: " + strings.TrimSpace(string(key)) + "}\n"} {
		r := result{name: "(a) no cache"}
		if substituters != "" {
			r.name = "(b) binary cache"
		}
		fmt.Fprintf(os.Stderr, "==> %s: building on a fresh builder\n", r.name)
		if err := build(&r, root, example, target, platform, frontendRef, substituters); err != nil {
			return fmt.Errorf("%s: %v", r.name, err)
		}
		results = append(results, r)
	}

	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "run\tsubstituted\tbuilt\tfetched from cache\tdownload (plan)\tnix step\twall time\t")
	for _, r := range results {
		fmt.Fprintf(w, "%s\t%d\t%d\t%d\t%.1f MiB\t%.1fs\t%.1fs\t\n",
			r.name, r.substituted, r.built, r.fetched, r.downloadMiB, r.nixStep.Seconds(), r.wall.Seconds())
	}
	if err := w.Flush(); err != nil {
		return err
	}
	a, b := results[0], results[1]
	fmt.Printf("speed-up (a)/(b): %.2fx wall time", a.wall.Seconds()/b.wall.Seconds())
	if b.nixStep > 0 {
		fmt.Printf(", %.2fx nix step", a.nixStep.Seconds()/b.nixStep.Seconds())
	}
	fmt.Println()
	return nil
}

// build builds the target of a copy of the example, its Laingfile given the substituters, on
// a fresh builder, and fills in r.
func build(r *result, root, example, target, platform, frontendRef, substituters string) error {
	fresh, err := testenv.FreshBuilderImage()
	if err != nil {
		return fmt.Errorf("pushing a fresh builder image: %v", err)
	}
	dir, err := os.MkdirTemp("", "cachebench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if err := os.CopyFS(dir, os.DirFS(filepath.Join(root, "examples", example))); err != nil {
		return err
	}
	laingfile := filepath.Join(dir, "Laingfile")
	data, err := os.ReadFile(laingfile)
	if err != nil {
		return err
	}
	// Right after the `# syntax=` line, which must stay the first.
	head, rest := "", string(data)
	if strings.HasPrefix(rest, "# syntax=") {
		i := strings.IndexByte(rest, '\n') + 1
		head, rest = rest[:i], rest[i:]
	}
	if err := os.WriteFile(laingfile, []byte(head+substituters+rest), 0o644); err != nil {
		return err
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Hour)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker", "buildx", "build", "--builder", buildx,
		"--build-arg", "BUILDKIT_SYNTAX="+frontendRef,
		"-f", "Laingfile", "--target", target, "--platform", platform, "--progress", "plain",
		"--build-context", "nix-builder=docker-image://"+fresh,
		"--build-context", "nixpkgs="+filepath.Join(root, "test", "fixtures", "nixpkgs"),
		"--output", "type=cacheonly", ".")
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err = cmd.Run()
	r.wall = time.Since(start)
	log := out.String()
	if err != nil {
		return fmt.Errorf("docker buildx build: %v\n%s", err, tail(log, 40))
	}

	plans := planRe.FindAllStringSubmatch(log, -1)
	counts := countsRe.FindAllStringSubmatch(log, -1)
	if len(plans) == 0 || len(counts) == 0 {
		return errors.New("no Nix step progress in the build's output (did the Nix step run?)\n" + tail(log, 40))
	}
	for _, m := range plans {
		if m[3] != "" {
			v, _ := strconv.ParseFloat(m[3], 64)
			r.downloadMiB += v * units[m[4]]
		}
		// The step's time, from BuildKit's "#N DONE 1.2s" for the step's vertex.
		if d := regexp.MustCompile(`(?m)^#` + m[1] + ` DONE ([\d.]+)s$`).FindStringSubmatch(log); d != nil {
			v, _ := strconv.ParseFloat(d[1], 64)
			r.nixStep += time.Duration(v * float64(time.Second))
		}
	}
	for _, m := range counts {
		r.substituted += atoi(m[1])
		r.built += atoi(m[2])
	}
	for _, m := range fetchedRe.FindAllStringSubmatch(log, -1) {
		r.fetched += atoi(m[1])
	}
	return nil
}

// frontendVersion is the version hack/frontendimage stamped on the frontend image ("?" if none).
func frontendVersion(ref name.Reference) string {
	img, err := remote.Image(ref) // the host's platform, from the index
	if err != nil {
		return "?"
	}
	cfg, err := img.ConfigFile()
	if err != nil || cfg.Config.Labels["org.opencontainers.image.version"] == "" {
		return "?"
	}
	return cfg.Config.Labels["org.opencontainers.image.version"]
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s) // the regexps match digits only
	return n
}

// tail is the last n lines of s, for errors.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
