package frontend

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path"
	"strings"

	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/client/llb/sourceresolver"
	"github.com/moby/buildkit/frontend/dockerui"
	gwclient "github.com/moby/buildkit/frontend/gateway/client"
	"github.com/opencontainers/go-digest"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/laingville/laingfile/internal/nar"
	"github.com/laingville/laingfile/laingfile2llb"
	"github.com/laingville/laingfile/nixsets"
)

// builder is the Nix builder image at the build platform: the `nix-builder` named context when
// given (docker-image://, oci-layout://, …), else the pinned default. Its id is the digest of
// its image config: the same image has the same id on every builder, so that a build step
// cached on one (an imported cache) is one on another.
func (b *targetBuild) builder(ctx context.Context, buildPlatform ocispecs.Platform) (llb.State, string, error) {
	named, err := b.bc.NamedContext(ContextBuilder, dockerui.ContextOpt{
		Platform:    &buildPlatform,
		ResolveMode: b.bc.ImageResolveMode.String(),
	})
	if err != nil {
		return llb.State{}, "", err
	}
	if named != nil {
		st, img, err := named.Load(ctx)
		if err != nil {
			return llb.State{}, "", fmt.Errorf("loading the %q build context: %w", ContextBuilder, err)
		}
		if img == nil { // a context that is no image: its definition names it
			def, err := st.Marshal(ctx)
			if err != nil {
				return llb.State{}, "", err
			}
			head, err := def.Head()
			return *st, head.String(), err
		}
		config, err := json.Marshal(img)
		if err != nil {
			return llb.State{}, "", err
		}
		return *st, digest.FromBytes(config).String(), nil
	}
	_, _, config, err := b.client.ResolveImageConfig(ctx, nixsets.DefaultBuilderImage, sourceresolver.Opt{
		ImageOpt: &sourceresolver.ResolveImageOpt{Platform: &buildPlatform, ResolveMode: b.bc.ImageResolveMode.String()},
	})
	if err != nil {
		return llb.State{}, "", fmt.Errorf("resolving the Nix builder image %s: %w", nixsets.DefaultBuilderImage, err)
	}
	return llb.Image(nixsets.DefaultBuilderImage,
		llb.Platform(buildPlatform),
		llb.WithMetaResolver(b.client),
		b.bc.ImageResolveMode,
		llb.WithCustomName("nix builder "+nixsets.DefaultBuilderImage),
	), digest.FromBytes(config).String(), nil
}

// builderProfileLink is the builder image's default profile, a chain of links into its store.
const builderProfileLink = "/nix/var/nix/profiles/default"

// builderTools reads the builder image's store paths and resolves its default profile, so
// that the Nix step runs the image's own tools and never the ones in the shared /nix cache.
func (b *targetBuild) builderTools(ctx context.Context, builder llb.State, buildPlatform ocispecs.Platform) (laingfile2llb.BuilderTools, error) {
	ref, err := b.solve(ctx, builder, llb.Platform(buildPlatform))
	if err != nil {
		return laingfile2llb.BuilderTools{}, fmt.Errorf("reading the Nix builder image: %w", err)
	}
	entries, err := ref.ReadDir(ctx, gwclient.ReadDirRequest{Path: nar.StoreDir})
	if err != nil {
		return laingfile2llb.BuilderTools{}, fmt.Errorf("the Nix builder image has no %s: %w", nar.StoreDir, err)
	}
	var storePaths []string
	for _, e := range entries {
		if !strings.HasPrefix(e.Path, ".") { // Nix's own .links, never run
			storePaths = append(storePaths, path.Join(nar.StoreDir, e.Path))
		}
	}
	profile, err := resolveStoreLink(ctx, ref, builderProfileLink)
	if err != nil {
		return laingfile2llb.BuilderTools{}, err
	}
	return laingfile2llb.NewBuilderTools(storePaths, profile)
}

// resolveStoreLink follows a chain of symbolic links in an image to the store path it ends at.
func resolveStoreLink(ctx context.Context, ref gwclient.Reference, link string) (string, error) {
	p := link
	for range 16 {
		if strings.HasPrefix(p, nar.StoreDir+"/") {
			return path.Join(nar.StoreDir, strings.SplitN(strings.TrimPrefix(p, nar.StoreDir+"/"), "/", 2)[0]), nil
		}
		// StatFile follows links; a directory listing shows them.
		entries, err := ref.ReadDir(ctx, gwclient.ReadDirRequest{Path: path.Dir(p), IncludePattern: path.Base(p)})
		if err != nil || len(entries) != 1 || entries[0].Path != path.Base(p) {
			return "", fmt.Errorf("the Nix builder image has no %s (%s)", p, errOrNone(err))
		}
		st := entries[0]
		if os.FileMode(st.Mode)&os.ModeSymlink == 0 {
			return "", fmt.Errorf("the Nix builder image's %s is not a link into %s", link, nar.StoreDir)
		}
		target := st.Linkname
		if !path.IsAbs(target) {
			target = path.Join(path.Dir(p), target)
		}
		p = path.Clean(target)
	}
	return "", fmt.Errorf("the Nix builder image's %s is a chain of more than 16 links", link)
}

func errOrNone(err error) string {
	if err == nil {
		return "not found"
	}
	return err.Error()
}
