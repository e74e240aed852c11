package frontend

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/moby/buildkit/client/llb"
	gwclient "github.com/moby/buildkit/frontend/gateway/client"

	"github.com/laingville/laingfile/internal/redact"
	"github.com/laingville/laingfile/nixsets"
)

// Labels that every image carries, so that an image says which frontend release made it and
// from which nixpkgs and Nix builder (docs/usage.md#versions-and-compatibility). They change
// the image config, not a layer: store-path layers stay the same across frontend releases.
const (
	LabelVersion = "dev.laingfile.frontend.version"
	LabelNixpkgs = "dev.laingfile.nixpkgs"
	LabelBuilder = "dev.laingfile.builder"
)

// identity is what a build says about itself: the frontend's version and the nixpkgs and Nix
// builder image it uses, each either the release's (or the Laingfile's) pin or the named
// build context that replaces it.
type identity struct {
	version string
	pin     pinChoice
	// nixpkgsContext and builderContext are the sources of the `nixpkgs` and `nix-builder`
	// named contexts as the build gives them (docker-image://…, local:nixpkgs, a git URL);
	// "" when the build gives none.
	nixpkgsContext string
	builderContext string
}

// newIdentity describes a build's frontend (its release version) and the nixpkgs and builder it
// uses, from the pin and the build options, where every named context is (dockerui reads them
// from there too).
func newIdentity(version string, pin pinChoice, opts map[string]string) identity {
	return identity{
		version:        version,
		pin:            pin,
		nixpkgsContext: contextSource(opts, ContextNixpkgs),
		builderContext: contextSource(opts, ContextBuilder),
	}
}

// contextSource is a named context's source from the build options: `context:NAME`, else the
// first platform-specific `context:NAME::PLATFORM`, with credentials in URLs hidden.
func contextSource(opts map[string]string, name string) string {
	key := "context:" + name
	if v, ok := opts[key]; ok {
		return redact.URLs(v)
	}
	var keys []string
	for k := range opts {
		if strings.HasPrefix(k, key+"::") {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return ""
	}
	slices.Sort(keys)
	return redact.URLs(opts[keys[0]])
}

// line is the progress line that names the build's frontend, nixpkgs and builder, e.g.
// `laingfile v1.4.0: nixpkgs 48698d12cc10 (the release's pin), builder nixos/nix:2.28.3`.
func (id identity) line() string {
	nixpkgs := "nixpkgs " + describePin(id.pin.Pin) + " (" + id.pin.From + ")"
	if id.nixpkgsContext != "" {
		nixpkgs = fmt.Sprintf("nixpkgs from the %q build context (%s), replacing %s", ContextNixpkgs, id.nixpkgsContext, describePin(id.pin.Pin)+" ("+id.pin.From+")")
	}
	builder := "builder " + shortImage(nixsets.DefaultBuilderImage)
	if id.builderContext != "" {
		builder = fmt.Sprintf("builder from the %q build context (%s)", ContextBuilder, id.builderContext)
	}
	return fmt.Sprintf("laingfile %s: %s, %s", id.version, nixpkgs, builder)
}

// labels are the image labels that name the build's frontend, nixpkgs and builder. A named
// context is named by its source as the build gives it (a local directory as local:NAME,
// whatever its path, so that the label does not depend on where the directory is).
func (id identity) labels() map[string]string {
	nixpkgs := redact.URLs(id.pin.Pin.TarballURL())
	if id.nixpkgsContext != "" {
		nixpkgs = "build context: " + id.nixpkgsContext
	}
	builder := nixsets.DefaultBuilderImage
	if id.builderContext != "" {
		builder = "build context: " + id.builderContext
	}
	return map[string]string{
		LabelVersion: id.version,
		LabelNixpkgs: nixpkgs,
		LabelBuilder: builder,
	}
}

// announce shows the line in the build's progress, as the name of a step of its own. The step
// writes the line into a file of an otherwise empty filesystem that no image uses: its cache key
// is the line, so that concurrent builds with other pins (a bake of several targets) never
// share the step and show each other's line, and it changes no layer of any image.
func (id identity) announce(ctx context.Context, c gwclient.Client) error {
	line := id.line()
	def, err := llb.Scratch().File(llb.Mkfile("/laingfile", 0o444, []byte(line+"\n")), llb.WithCustomName(line)).Marshal(ctx)
	if err != nil {
		return err
	}
	if _, err := c.Solve(ctx, gwclient.SolveRequest{Definition: def.ToPB(), Evaluate: true}); err != nil {
		return fmt.Errorf("showing the frontend's version in the progress: %w", err)
	}
	return nil
}

// describePin names a pin for the progress: its commit, shortened as git does, or its URL.
func describePin(p nixsets.Pin) string {
	switch {
	case p.Rev != "":
		return shortRev(p.Rev)
	case p.URL != "":
		return redact.URLs(p.URL)
	}
	return "none"
}

func shortRev(rev string) string {
	if len(rev) > 12 {
		return rev[:12]
	}
	return rev
}

// shortImage is an image reference as people write it: without docker.io/ and the digest.
func shortImage(ref string) string {
	ref, _, _ = strings.Cut(ref, "@")
	ref = strings.TrimPrefix(ref, "docker.io/")
	return strings.TrimPrefix(ref, "library/")
}
