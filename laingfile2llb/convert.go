package laingfile2llb

import (
	"fmt"
	"time"

	"github.com/moby/buildkit/client/llb"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/laingville/laingfile"
	"github.com/laingville/laingfile/nixsets"
)

// Input is everything the conversion of one platform's image needs, once the Nix build step's
// reports are read.
type Input struct {
	Target   *laingfile.Target
	Platform ocispecs.Platform
	// Facts are what the Nix build step reported; BuildStep is its output, which the
	// customisation layer reads its record of the profile from.
	Facts     Facts
	BuildStep llb.State
	// Store gives the layer step of a group of store paths (NixStep.LayerState).
	Store StoreSource
	// Context is the build context the target copies from (nil when it copies nothing).
	Context *llb.State
	// Locate ties an op to Laingfile ranges, so that a failing step points at them; nil for none.
	Locate func(laingfile.Range) llb.ConstraintsOpt
	// Merge stacks the layers with MergeOp; without it they are chained copies.
	Merge bool
	// Epoch is SOURCE_DATE_EPOCH, the image's created time when set.
	Epoch *time.Time
	// Pin is the nixpkgs the image names ("" when a build context replaced the pin).
	Pin nixsets.Pin
	// Labels come from the build command (--label); FrontendLabels name the frontend release.
	Labels, FrontendLabels map[string]string
}

// Result is one platform's image: its filesystem, configuration and layers.
type Result struct {
	State   llb.State
	Image   *dockerspec.DockerOCIImage
	Layers  []Layer
	Created time.Time
}

// RangeError is an error about the Laingfile lines of Ranges, which the gateway shows under it.
type RangeError struct {
	Err    error
	Ranges []laingfile.Range
}

func (e *RangeError) Error() string { return e.Err.Error() }
func (e *RangeError) Unwrap() error { return e.Err }

// StoreLayerBudget is how many of a target's maxLayers are left for store paths: one goes to
// the customisation layer and one to each copy: entry.
func StoreLayerBudget(t *laingfile.Target) int {
	return t.MaxLayers - 1 - len(t.Copy)
}

// Convert is the recipe of a target's image, as Dockerfile2LLB is a Dockerfile's: the store
// paths planned into layers, the customisation layer of the image's kind, the copies from the
// build context, their assembly, and the image configuration.
func Convert(in Input) (*Result, error) {
	t := in.Target
	plan, err := PlanLayers(in.Facts.Closure, StoreLayerBudget(t), Owners(t, in.Facts.Packages))
	if err != nil {
		return nil, &RangeError{Err: fmt.Errorf("maxLayers %d leaves no layer for the store paths: %w", t.MaxLayers, err), Ranges: []laingfile.Range{t.Range}}
	}
	layers, err := StoreLayers(in.Store, plan)
	if err != nil {
		return nil, err
	}
	custom, err := Customisation(t, in.Facts, StorePathSource(layers), in.BuildStep)
	if err != nil {
		return nil, err
	}
	layers = append(layers, custom)
	if len(t.Copy) > 0 {
		if in.Context == nil {
			return nil, fmt.Errorf("target %s copies from the build context, which the conversion was not given", t.Name)
		}
		layers = append(layers, CopyLayers(t, *in.Context, layers, in.Locate)...)
	}

	created := LayerTime()
	if in.Epoch != nil {
		created = *in.Epoch
	}
	img, err := ImageConfig(ImageInput{
		Target: t, Platform: in.Platform, Facts: in.Facts, Layers: layers,
		Created: created, Pin: in.Pin, ExtraLabels: in.Labels, FrontendLabels: in.FrontendLabels,
	})
	if err != nil {
		return nil, &RangeError{Err: err, Ranges: []laingfile.Range{t.Range}}
	}
	return &Result{State: Assemble(layers, in.Merge), Image: img, Layers: layers, Created: created}, nil
}
