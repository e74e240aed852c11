package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/moby/buildkit/client"
	"github.com/tonistiigi/fsutil"

	"github.com/laingville/laingfile/frontend"
	"github.com/laingville/laingfile/test/testenv"
)

// buildMatrix builds every image of the matrix with the frontend on a buildkitd of its own
// (a cold cache), pushes them to the local registry, and checks that the real layer digests
// are shared exactly where the plan says: two images have a layer digest in common if and only
// if the plan gives them a layer with the same store paths. It prints build times, image sizes
// and, per pair, the compressed bytes a pull downloads; then times adding one package.
func buildMatrix(images []*image, nixpkgs, profile, addPackage string) error {
	ctx := context.Background()
	d, err := testenv.StartDaemon(ctx, "/var/lib/laingfile/bench-daemons")
	if err != nil {
		return err
	}
	defer d.Stop()
	c, err := d.Client(ctx)
	if err != nil {
		return err
	}
	defer c.Close()

	fmt.Printf("\n==> building the matrix with the frontend on a fresh buildkitd (%s profile, linux/amd64)\n", profile)
	digests := map[string]map[v1.Hash]int64{} // image -> layer digest -> compressed size
	for _, im := range images {
		ref, took, err := buildImage(ctx, c, im, nixpkgs, profile, "")
		if err != nil {
			return fmt.Errorf("%s: %w", im.Name, err)
		}
		layers, err := pushedLayers(ref)
		if err != nil {
			return err
		}
		digests[im.Name] = layers
		var size int64
		for _, s := range layers {
			size += s
		}
		fmt.Printf("    %-13s built in %5.1fs: %3d layers, %s compressed\n", im.Name, took.Seconds(), len(layers), mib(size))
	}

	fmt.Println("\nA present, pull B (real images): compressed bytes downloaded, and whether the shared layer digests are exactly the planned ones")
	mismatches := 0
	for _, a := range images {
		for _, b := range images {
			if a == b {
				continue
			}
			planned, err := plannedShared(a, b)
			if err != nil {
				return err
			}
			var download int64
			shared := 0
			for dgst, size := range digests[b.Name] {
				if _, ok := digests[a.Name][dgst]; ok {
					shared++
				} else {
					download += size
				}
			}
			ok := "as planned"
			if shared != planned {
				ok = fmt.Sprintf("MISMATCH: %d shared layers, %d planned", shared, planned)
				mismatches++
			}
			fmt.Printf("    %-13s %-13s %10s  %s\n", a.Name, b.Name, mib(download), ok)
		}
	}
	if mismatches > 0 {
		return fmt.Errorf("%d pairs share other layers than planned", mismatches)
	}

	base := images[1]
	_, warm, err := buildImage(ctx, c, base, nixpkgs, profile, "")
	if err != nil {
		return err
	}
	_, grown, err := buildImage(ctx, c, base, nixpkgs, profile, addPackage)
	if err != nil {
		return err
	}
	fmt.Printf("\n%s again: %.1fs (fully cached); with %s added: %.1fs\n", base.Name, warm.Seconds(), addPackage, grown.Seconds())
	return nil
}

// plannedShared counts the layers of b whose store paths form a layer of a too (the
// customisation layers differ by construction and are not counted).
func plannedShared(a, b *image) (int, error) {
	pa, err := ours(a)
	if err != nil {
		return 0, err
	}
	pb, err := ours(b)
	if err != nil {
		return 0, err
	}
	inA := map[string]bool{}
	for _, g := range pa {
		inA[layerKey(g)] = true
	}
	n := 0
	for _, g := range pb {
		if inA[layerKey(g)] {
			n++
		}
	}
	return n, nil
}

// buildImage builds one matrix image (plus an extra package, if given) in process against c and
// pushes it; it returns the reference and the build time.
func buildImage(ctx context.Context, c *client.Client, im *image, nixpkgs, profile, extra string) (string, time.Duration, error) {
	dir, err := os.MkdirTemp("", "layerbench-context-")
	if err != nil {
		return "", 0, err
	}
	defer os.RemoveAll(dir)
	doc := fmt.Sprintf("nixpkgs:\n  config: {fixtureProfile: %s}\nkind: %s\nsets: [%s]\n", profile, im.Kind, strings.Join(im.Sets, ", "))
	if extra != "" {
		doc += "packages: [" + extra + "]\n"
	}
	if err := os.WriteFile(filepath.Join(dir, "Laingfile"), []byte(doc), 0o644); err != nil {
		return "", 0, err
	}
	contextFS, err := fsutil.NewFS(dir)
	if err != nil {
		return "", 0, err
	}
	nixpkgsFS, err := fsutil.NewFS(nixpkgs)
	if err != nil {
		return "", 0, err
	}
	ref := fmt.Sprintf("%s/layerbench/%s:%d", testenv.RegistryAddr, im.Name, time.Now().UnixNano())
	ch := make(chan *client.SolveStatus)
	go func() {
		for range ch {
		}
	}()
	start := time.Now()
	_, err = c.Build(ctx, client.SolveOpt{
		LocalMounts: map[string]fsutil.FS{"context": contextFS, "dockerfile": contextFS, "nixpkgs": nixpkgsFS},
		FrontendAttrs: map[string]string{
			"filename":                           "Laingfile",
			"platform":                           "linux/amd64",
			"context:" + frontend.ContextBuilder: "docker-image://" + testenv.BuilderImageRef,
			"context:" + frontend.ContextNixpkgs: "local:nixpkgs",
		},
		Exports: []client.ExportEntry{{Type: client.ExporterImage, Attrs: map[string]string{
			"name": ref, "push": "true", "registry.insecure": "true", "oci-mediatypes": "true",
		}}},
	}, "", frontend.Build, ch)
	return ref, time.Since(start), err
}

func pushedLayers(ref string) (map[v1.Hash]int64, error) {
	r, err := name.ParseReference(ref)
	if err != nil {
		return nil, err
	}
	img, err := remote.Image(r)
	if err != nil {
		return nil, err
	}
	layers, err := img.Layers()
	if err != nil {
		return nil, err
	}
	out := map[v1.Hash]int64{}
	for _, l := range layers {
		d, err := l.Digest()
		if err != nil {
			return nil, err
		}
		size, err := l.Size()
		if err != nil {
			return nil, err
		}
		out[d] = size
	}
	return out, nil
}
