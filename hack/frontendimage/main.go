// Command frontendimage builds the Laingfile frontend image without a Docker daemon or a
// golang base image: it cross-compiles the frontend with the local Go for each platform and
// assembles a multi-platform image (a static binary on scratch) with go-containerregistry,
// then pushes it or writes it to an OCI layout. The Dockerfile builds the same image where a
// Docker builder and the network are at hand.
//
// Two more modes serve hack/release.sh, which builds the release through the Dockerfile
// (docker buildx bake release) so that BuildKit attaches its provenance and SBOM attestations:
// -binaries DIR only cross-compiles, into the layout of the Dockerfile's build stage, which
// then replaces that stage where there is no golang image; -sbom-scanner REF pushes the image
// of an SBOM generator (./sbomscanner) for BuildKit to run where its default one cannot be
// pulled.
package main

import (
	"archive/tar"
	"bytes"
	"context"
	"flag"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/containerd/platforms"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/laingville/laingfile/hack/internal/ociindex"
)

// The labels BuildKit reads from a frontend image: the gateway capabilities the frontend uses,
// and that it needs no network of its own (only its Nix build step does).
const (
	capsLabel    = "moby.buildkit.frontend.caps"
	capsValue    = "moby.buildkit.frontend.inputs,moby.buildkit.frontend.subrequests,moby.buildkit.frontend.contexts"
	networkLabel = "moby.buildkit.frontend.network.none"
	binaryPath   = "bin/laingfile-frontend"
	source       = "https://github.com/laingville/laingfile"
)

// program is a Go command of this module and how its image runs it.
type program struct {
	pkg    string // the package to build, relative to the module root
	binary string // where the image has it, relative to /
	labels func(version string) map[string]string
	// files are the programs it runs besides itself: where the image has them (relative to /,
	// in bin/, which is the image's PATH) and where they are on this machine.
	files func(plat ocispecs.Platform) (map[string]string, error)
}

var (
	frontend = program{
		pkg:    "./cmd/laingfile-frontend",
		binary: binaryPath,
		labels: func(version string) map[string]string {
			return map[string]string{
				capsLabel:                          capsValue,
				networkLabel:                       "true",
				"org.opencontainers.image.title":   "Laingfile frontend",
				"org.opencontainers.image.source":  source,
				"org.opencontainers.image.version": version,
			}
		},
	}
	sbomScanner = program{
		pkg:    "./hack/frontendimage/sbomscanner",
		binary: "bin/laingfile-sbom-scanner",
		files:  syftFile,
		labels: func(version string) map[string]string {
			return map[string]string{
				"org.opencontainers.image.title":   "Laingfile SBOM generator for BuildKit",
				"org.opencontainers.image.source":  source,
				"org.opencontainers.image.version": version,
			}
		},
	}
)

func main() {
	repo := flag.String("repo", ".", "repository root (the Go module)")
	push := flag.String("push", "", "push the image to this reference")
	ociDir := flag.String("oci-layout", "", "write the image to this OCI layout directory")
	binaries := flag.String("binaries", "", "only build the frontend binaries, into DIR/out/OS-ARCH/"+binaryPath+" (the Dockerfile's build stage)")
	scanner := flag.Bool("sbom-scanner", false, "build the SBOM generator image instead of the frontend's (with -push or -oci-layout)")
	platformList := flag.String("platform", "linux/amd64,linux/arm64", "platforms to build")
	version := flag.String("version", "dev", "version stamped into the binary")
	flag.Parse()
	if *push == "" && *ociDir == "" && *binaries == "" {
		fmt.Fprintln(os.Stderr, "frontendimage: give -push REF and/or -oci-layout DIR, or -binaries DIR")
		os.Exit(2)
	}
	prog := frontend
	if *scanner {
		prog = sbomScanner
	}
	var err error
	switch {
	case *binaries != "":
		err = writeBinaries(context.Background(), *repo, *binaries, strings.Split(*platformList, ","), *version)
	default:
		err = run(context.Background(), prog, *repo, *push, *ociDir, strings.Split(*platformList, ","), *version)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "frontendimage:", err)
		os.Exit(1)
	}
}

// compile cross-compiles prog for a platform into out, with the Dockerfile's flags.
func compile(ctx context.Context, prog program, repo, out, platform, version string) (ocispecs.Platform, error) {
	plat, err := platforms.Parse(platform)
	if err != nil {
		return plat, err
	}
	fmt.Printf("==> building %s for %s\n", prog.binary, platforms.Format(plat))
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", "-s -w -X main.version="+version, "-o", out, prog.pkg)
	cmd.Dir = repo
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+plat.OS, "GOARCH="+plat.Architecture, "GOARM="+strings.TrimPrefix(plat.Variant, "v"))
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return plat, fmt.Errorf("go build %s for %s: %w", prog.pkg, platform, err)
	}
	return plat, nil
}

// writeBinaries builds the frontend for each platform where the Dockerfile's build stage puts
// it: dir/out/OS-ARCHVARIANT/bin/laingfile-frontend. Binaries of earlier runs are replaced.
func writeBinaries(ctx context.Context, repo, dir string, platformList []string, version string) error {
	for _, p := range platformList {
		plat, err := platforms.Parse(p)
		if err != nil {
			return err
		}
		out := filepath.Join(dir, "out", plat.OS+"-"+plat.Architecture+plat.Variant, filepath.FromSlash(binaryPath))
		if _, err := compile(ctx, frontend, repo, out, p, version); err != nil {
			return err
		}
	}
	fmt.Printf("==> frontend binaries in %s\n", dir)
	return nil
}

func run(ctx context.Context, prog program, repo, push, ociDir string, platformList []string, version string) error {
	work, err := os.MkdirTemp("", "laingfile-frontend-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

	var images []ociindex.Image
	for _, p := range platformList {
		bin := filepath.Join(work, strings.ReplaceAll(p, "/", "-"), path.Base(prog.binary))
		plat, err := compile(ctx, prog, repo, bin, p, version)
		if err != nil {
			return err
		}
		img, err := image(prog, bin, plat, version)
		if err != nil {
			return err
		}
		images = append(images, ociindex.Image{Platform: plat, Image: img})
	}
	d, err := ociindex.Publish(ctx, images, push, ociDir)
	if err != nil {
		return err
	}
	fmt.Printf("==> %s image %s\n", imageKind(prog), d)
	return nil
}

// imageKind is how run's last line names the image; the tests read the frontend's digest there.
func imageKind(prog program) string {
	if prog.pkg == frontend.pkg {
		return "frontend"
	}
	return "sbom scanner"
}

// syftFile is the syft that hack/tools.sh builds, for the SBOM generator image: the machine's
// own platform only, where BuildKit runs generators.
func syftFile(plat ocispecs.Platform) (map[string]string, error) {
	if plat.OS != runtime.GOOS || plat.Architecture != runtime.GOARCH {
		return nil, fmt.Errorf("the SBOM generator image is for this machine's platform only (%s/%s), whose syft hack/tools.sh builds; not %s",
			runtime.GOOS, runtime.GOARCH, platforms.Format(plat))
	}
	syft, err := exec.LookPath("syft")
	if err != nil {
		return nil, fmt.Errorf("syft is not on PATH (%w): run hack/tools.sh", err)
	}
	if syft, err = filepath.EvalSymlinks(syft); err != nil {
		return nil, err
	}
	return map[string]string{"bin/syft": syft}, nil
}

// image is the binary at /prog.binary on scratch, with the programs it runs, with a fixed time
// and owner so that the same source gives the same digest.
func image(prog program, bin string, plat ocispecs.Platform, version string) (v1.Image, error) {
	files := map[string]string{prog.binary: bin}
	if prog.files != nil {
		more, err := prog.files(plat)
		if err != nil {
			return nil, err
		}
		maps.Copy(files, more)
	}
	epoch := time.Unix(1, 0).UTC()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: path.Dir(prog.binary) + "/", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: epoch}); err != nil {
		return nil, err
	}
	for _, name := range slices.Sorted(maps.Keys(files)) {
		data, err := os.ReadFile(files[name])
		if err != nil {
			return nil, err
		}
		if err := tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o755, Size: int64(len(data)), ModTime: epoch}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	layer, err := ociindex.TarLayer(buf.Bytes())
	if err != nil {
		return nil, err
	}
	return ociindex.NewImage(plat, epoch, []ociindex.Layer{{Layer: layer, CreatedBy: path.Base(prog.binary) + " " + version}}, func(c *v1.Config) {
		c.Entrypoint = []string{"/" + prog.binary}
		if prog.files != nil {
			c.Env = []string{"PATH=/" + path.Dir(prog.binary)}
		}
		c.Labels = prog.labels(version)
	})
}
