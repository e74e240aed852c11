// Command frontendimage builds the Laingfile frontend image without a Docker daemon or a
// golang base image: it cross-compiles the frontend with the local Go for each platform and
// assembles a multi-platform image (a static binary on scratch) with go-containerregistry,
// then pushes it or writes it to an OCI layout. The Dockerfile builds the same image where a
// Docker builder and the network are at hand.
package main

import (
	"archive/tar"
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/containerd/platforms"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/laingville/laingfile/hack/internal/ociindex"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// The labels BuildKit reads from a frontend image: the gateway capabilities the frontend uses,
// and that it needs no network of its own (only its Nix build step does).
const (
	capsLabel    = "moby.buildkit.frontend.caps"
	capsValue    = "moby.buildkit.frontend.inputs,moby.buildkit.frontend.subrequests,moby.buildkit.frontend.contexts"
	networkLabel = "moby.buildkit.frontend.network.none"
	binaryPath   = "bin/laingfile-frontend"
)

func main() {
	repo := flag.String("repo", ".", "repository root (the Go module)")
	push := flag.String("push", "", "push the image to this reference")
	ociDir := flag.String("oci-layout", "", "write the image to this OCI layout directory")
	platformList := flag.String("platform", "linux/amd64,linux/arm64", "platforms to build")
	version := flag.String("version", "dev", "version stamped into the binary")
	flag.Parse()
	if *push == "" && *ociDir == "" {
		fmt.Fprintln(os.Stderr, "frontendimage: give -push REF and/or -oci-layout DIR")
		os.Exit(2)
	}
	if err := run(context.Background(), *repo, *push, *ociDir, strings.Split(*platformList, ","), *version); err != nil {
		fmt.Fprintln(os.Stderr, "frontendimage:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, repo, push, ociDir string, platformList []string, version string) error {
	work, err := os.MkdirTemp("", "laingfile-frontend-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

	var images []ociindex.Image
	for _, p := range platformList {
		plat, err := platforms.Parse(p)
		if err != nil {
			return err
		}
		bin := filepath.Join(work, plat.Architecture, "laingfile-frontend")
		fmt.Printf("==> building %s for %s\n", binaryPath, platforms.Format(plat))
		cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", "-s -w -X main.version="+version, "-o", bin, "./cmd/laingfile-frontend")
		cmd.Dir = repo
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+plat.OS, "GOARCH="+plat.Architecture, "GOARM="+strings.TrimPrefix(plat.Variant, "v"))
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("go build for %s: %w", p, err)
		}
		img, err := image(bin, plat, version)
		if err != nil {
			return err
		}
		images = append(images, ociindex.Image{Platform: plat, Image: img})
	}
	d, err := ociindex.Publish(ctx, images, push, ociDir)
	if err != nil {
		return err
	}
	fmt.Printf("==> frontend image %s\n", d)
	return nil
}

// image is the binary at /bin/laingfile-frontend on scratch, with a fixed time and owner so
// that the same source gives the same digest.
func image(bin string, plat ocispecs.Platform, version string) (v1.Image, error) {
	data, err := os.ReadFile(bin)
	if err != nil {
		return nil, err
	}
	epoch := time.Unix(1, 0).UTC()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range []*tar.Header{
		{Name: "bin/", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: epoch},
		{Name: binaryPath, Typeflag: tar.TypeReg, Mode: 0o755, Size: int64(len(data)), ModTime: epoch},
	} {
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
	}
	if _, err := tw.Write(data); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	layer, err := ociindex.TarLayer(buf.Bytes())
	if err != nil {
		return nil, err
	}
	return ociindex.NewImage(plat, epoch, []ociindex.Layer{{Layer: layer, CreatedBy: "laingfile-frontend " + version}}, func(c *v1.Config) {
		c.Entrypoint = []string{"/" + binaryPath}
		c.Labels = map[string]string{
			capsLabel:                          capsValue,
			networkLabel:                       "true",
			"org.opencontainers.image.title":   "Laingfile frontend",
			"org.opencontainers.image.version": version,
		}
	})
}
