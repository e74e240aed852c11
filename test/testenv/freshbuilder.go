package testenv

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// FreshBuilderImage pushes the Nix builder image again with a label unique to the call and
// returns its reference: an image BuildKit has not seen, so that the Nix step runs again (its
// cache key ignores the /nix cache mount) on a /nix cache of its own, seeded from the image:
// an empty store, as on a new machine.
func FreshBuilderImage() (string, error) {
	src, err := name.ParseReference(BuilderImageRef, name.Insecure)
	if err != nil {
		return "", err
	}
	idx, err := remote.Index(src)
	if err != nil {
		return "", fmt.Errorf("%s (run hack/setup.sh): %w", BuilderImageRef, err)
	}
	manifest, err := idx.IndexManifest()
	if err != nil {
		return "", err
	}
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	label := hex.EncodeToString(b)
	fresh := mutate.IndexMediaType(empty.Index, manifest.MediaType)
	for _, m := range manifest.Manifests {
		img, err := idx.Image(m.Digest)
		if err != nil {
			return "", err
		}
		cfg, err := img.ConfigFile()
		if err != nil {
			return "", err
		}
		cfg = cfg.DeepCopy()
		if cfg.Config.Labels == nil {
			cfg.Config.Labels = map[string]string{}
		}
		cfg.Config.Labels["laingfile.test.fresh"] = label
		if img, err = mutate.ConfigFile(img, cfg); err != nil {
			return "", err
		}
		fresh = mutate.AppendManifests(fresh, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: m.Platform}})
	}
	ref := RegistryAddr + "/laingfile/nix-builder:fresh-" + label
	dst, err := name.NewTag(ref, name.Insecure)
	if err != nil {
		return "", err
	}
	return ref, remote.WriteIndex(dst, fresh)
}
