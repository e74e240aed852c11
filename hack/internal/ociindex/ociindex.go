// Package ociindex assembles and publishes the multi-platform images that the hack/ tools make
// offline (the frontend image, the BuildKit image): deterministic per-platform images, joined in
// one OCI index, pushed to a registry unless the registry already has it, and optionally
// written as an OCI layout.
package ociindex

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// Image is one platform's image of an index.
type Image struct {
	Platform ocispecs.Platform
	Image    v1.Image
}

// Layer is a layer of an image with its history entry.
type Layer struct {
	Layer     v1.Layer
	CreatedBy string
}

// TarLayer is an OCI layer of a tar stream held in memory.
func TarLayer(data []byte) (v1.Layer, error) {
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	}, tarball.WithMediaType(types.OCILayer))
}

// NewImage is an OCI image of layers for platform, with created as its time and every history
// entry's (so that the same layers give the same digest), its config set by configure.
func NewImage(platform ocispecs.Platform, created time.Time, layers []Layer, configure func(*v1.Config)) (v1.Image, error) {
	var adds []mutate.Addendum
	for _, l := range layers {
		adds = append(adds, mutate.Addendum{Layer: l.Layer, History: v1.History{Created: v1.Time{Time: created}, CreatedBy: l.CreatedBy}})
	}
	img, err := mutate.Append(mutate.MediaType(empty.Image, types.OCIManifestSchema1), adds...)
	if err != nil {
		return nil, err
	}
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture, cfg.Variant = platform.OS, platform.Architecture, platform.Variant
	cfg.Created = v1.Time{Time: created}
	configure(&cfg.Config)
	return mutate.ConfigFile(img, cfg)
}

// Publish joins images into an OCI index, pushes it to push (when set, and when the registry
// does not already have that index) and writes it as an OCI layout at ociDir (when set). It
// returns the index digest.
func Publish(ctx context.Context, images []Image, push, ociDir string) (v1.Hash, error) {
	var adds []mutate.IndexAddendum
	for _, img := range images {
		p := img.Platform
		adds = append(adds, mutate.IndexAddendum{Add: img.Image, Descriptor: v1.Descriptor{
			Platform: &v1.Platform{OS: p.OS, Architecture: p.Architecture, Variant: p.Variant},
		}})
	}
	idx := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex), adds...)
	d, err := idx.Digest()
	if err != nil {
		return v1.Hash{}, err
	}
	if push != "" {
		if err := pushIndex(ctx, idx, d, push); err != nil {
			return v1.Hash{}, err
		}
	}
	if ociDir != "" {
		fmt.Printf("==> writing the OCI layout %s\n", ociDir)
		lp, err := layout.Write(ociDir, empty.Index)
		if err != nil {
			return v1.Hash{}, err
		}
		if err := lp.AppendIndex(idx); err != nil {
			return v1.Hash{}, err
		}
	}
	return d, nil
}

// pushIndex pushes idx (digest d) to ref unless the registry already has it there.
func pushIndex(ctx context.Context, idx v1.ImageIndex, d v1.Hash, ref string) error {
	r, err := name.ParseReference(ref)
	if err != nil {
		return err
	}
	desc, err := remote.Head(r, remote.WithContext(ctx))
	var terr *transport.Error
	switch {
	case err == nil && desc.Digest == d:
		fmt.Printf("==> %s is up to date\n", ref)
		return nil
	case err == nil:
		fmt.Printf("==> %s has %s; pushing %s\n", ref, desc.Digest, d)
	case errors.As(err, &terr) && terr.StatusCode == http.StatusNotFound:
		fmt.Printf("==> pushing %s\n", ref)
	default:
		return fmt.Errorf("looking up %s: %w", ref, err)
	}
	return remote.WriteIndex(r, idx, remote.WithContext(ctx))
}
