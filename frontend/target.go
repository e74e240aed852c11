package frontend

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/containerd/platforms"
	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/frontend/dockerui"
	gwclient "github.com/moby/buildkit/frontend/gateway/client"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/laingville/laingfile"
	"github.com/laingville/laingfile/internal/nixstore"
	"github.com/laingville/laingfile/laingfile2llb"
	"github.com/laingville/laingfile/nixsets"
)

// targetBuild builds one Laingfile target; build runs once per target platform.
type targetBuild struct {
	client gwclient.Client
	bc     *dockerui.Client
	file   *laingfile.File
	target *laingfile.Target
	source *llb.SourceMap
	// warnAt shows a warning with the Laingfile's lines (dockerui.Source.Warn).
	warnAt func(context.Context, string, gwclient.WarnOpts)
	epoch  *time.Time
	merge  bool
	// pin is the nixpkgs the Laingfile asks for; nixpkgs is the `nixpkgs` named context that
	// replaces it, when the build gives one.
	pin     pinChoice
	nixpkgs *dockerui.NamedContext
	// imagePin is the nixpkgs the images name: the pin, or none when the nixpkgs build context
	// replaces it (an image cannot name a source that came from a build context).
	imagePin nixsets.Pin
	// identity names the frontend, nixpkgs and builder, in the progress and the image labels.
	identity identity
	// sboms collects each platform's SPDX document when the build asks for an SBOM.
	sboms *sboms
}

func (b *targetBuild) build(ctx context.Context, platform *ocispecs.Platform, _ int) (*dockerui.BuildResult, error) {
	buildPlatform := b.buildPlatform()
	target := buildPlatform
	if platform != nil {
		target = platforms.Normalize(*platform)
	}
	system, err := nixsets.System(target.OS, target.Architecture, target.Variant)
	if err != nil {
		return nil, err
	}

	step, err := b.nixStep(ctx, system, buildPlatform)
	if err != nil {
		return nil, err
	}
	nixOut, err := step.State(target)
	if err != nil {
		return nil, err
	}
	facts, err := b.realise(ctx, nixOut, target)
	if err != nil {
		return nil, err
	}
	if err := b.pushToCaches(ctx, step, nixOut); err != nil {
		return nil, err
	}

	in := laingfile2llb.Input{
		Target: b.target, Platform: target, Facts: facts, BuildStep: nixOut, Store: step.LayerState,
		Locate: func(r laingfile.Range) llb.ConstraintsOpt { return location(b.source, r) },
		Merge:  b.merge, Epoch: b.epoch, Pin: b.imagePin, Labels: b.bc.Labels, FrontendLabels: b.identity.labels(),
	}
	if len(b.target.Copy) > 0 {
		if in.Context, err = b.bc.MainContext(ctx); err != nil {
			return nil, err
		}
	}
	image, err := laingfile2llb.Convert(in)
	if err != nil {
		var re *laingfile2llb.RangeError
		if errors.As(err, &re) {
			return nil, located(re.Err, b.source, re.Ranges...)
		}
		return nil, err
	}
	ref, err := b.solve(ctx, image.State, llb.Platform(target))
	if err != nil {
		return nil, err
	}
	if b.sboms != nil {
		doc, err := b.sbomDocument(ctx, sbomSubject{step: step, target: target, facts: facts, image: ref, created: image.Created, pin: b.imagePin})
		if err != nil {
			return nil, err
		}
		b.sboms.put(target, doc)
	}
	return &dockerui.BuildResult{Reference: ref, Image: image.Image, Epoch: b.epoch}, nil
}

// buildPlatform is where the Nix builder runs: the first worker's platform.
func (b *targetBuild) buildPlatform() ocispecs.Platform {
	if len(b.bc.BuildPlatforms) > 0 {
		return platforms.Normalize(b.bc.BuildPlatforms[0])
	}
	return platforms.Normalize(platforms.DefaultSpec())
}

// nixStep assembles the Nix build step: the builder (named context or pinned image), the
// nixpkgs source (named context or the pin), the build context when the Laingfile needs files
// from it, and the request.
func (b *targetBuild) nixStep(ctx context.Context, system string, buildPlatform ocispecs.Platform) (laingfile2llb.NixStep, error) {
	builder, builderID, err := b.builder(ctx, buildPlatform)
	if err != nil {
		return laingfile2llb.NixStep{}, err
	}
	tools, err := b.builderTools(ctx, builder, buildPlatform)
	if err != nil {
		return laingfile2llb.NixStep{}, err
	}

	step := laingfile2llb.NixStep{
		Builder:       builder,
		BuilderID:     builderID,
		Tools:         tools,
		BuildPlatform: buildPlatform,
		Request:       laingfile2llb.NixRequest(b.file, b.target, system, b.pin.Pin),
		Substituters:  b.file.Substituters,
		Constraints:   []llb.ConstraintsOpt{location(b.source, append(packageRanges(b.target), substituterRanges(b.file)...)...)},
	}
	// --no-cache (or --no-cache-filter with the target's name) runs Nix again.
	if b.bc.IsNoCache(b.target.Name) {
		step.Constraints = append(step.Constraints, llb.IgnoreCache)
	}
	if b.nixpkgs != nil {
		st, _, err := b.nixpkgs.Load(ctx)
		if err != nil {
			return laingfile2llb.NixStep{}, fmt.Errorf("loading the %q build context: %w", ContextNixpkgs, err)
		}
		step.Nixpkgs = st
		step.Request = laingfile2llb.WithNixpkgsDir(step.Request)
	}
	if b.file.NixReadsContext(b.target) {
		mainContext, err := b.bc.MainContext(ctx)
		if err != nil {
			return laingfile2llb.NixStep{}, err
		}
		step.Context = mainContext
	}
	return step, nil
}

// realise solves the Nix build step and reads its reports back: problems with the requested
// packages become located errors; otherwise the closure and the profile.
func (b *targetBuild) realise(ctx context.Context, nixOut llb.State, target ocispecs.Platform) (laingfile2llb.Facts, error) {
	ref, err := b.solve(ctx, nixOut, llb.Platform(target))
	if err != nil {
		return laingfile2llb.Facts{}, b.missingSecret(err)
	}
	read := func(name string) ([]byte, error) {
		return ref.ReadFile(ctx, gwclient.ReadRequest{Filename: path.Join(laingfile2llb.OutputDir, name)})
	}

	data, err := read("report.json")
	if err != nil {
		// The step runs when its output is first read: here.
		return laingfile2llb.Facts{}, b.missingSecret(fmt.Errorf("the Nix build step left no report: %w", err))
	}
	var report nixsets.Report
	if err := json.Unmarshal(data, &report); err != nil {
		return laingfile2llb.Facts{}, fmt.Errorf("the Nix build step's report is not valid JSON: %w", err)
	}
	if report.HashMismatch != nil {
		return laingfile2llb.Facts{}, hashMismatchError(report.HashMismatch, b.pin, b.nixpkgs != nil, b.file, b.target, b.source)
	}
	if len(report.Problems) > 0 {
		return laingfile2llb.Facts{}, packageProblemsError(report.Problems, read, b.target, b.source)
	}
	if data, err := read("substituters.tsv"); err == nil {
		reports, err := parseCacheReports(data)
		if err != nil {
			return laingfile2llb.Facts{}, err
		}
		for _, w := range cacheWarnings(b.file.Substituters, reports) {
			b.warn(ctx, w)
		}
	}

	profile, err := read("profile")
	if err != nil {
		return laingfile2llb.Facts{}, fmt.Errorf("the Nix build step left no profile: %w", err)
	}
	entries, err := read("profile-entries")
	if err != nil {
		return laingfile2llb.Facts{}, fmt.Errorf("the Nix build step left no profile listing: %w", err)
	}
	registration, err := read("closure")
	if err != nil {
		return laingfile2llb.Facts{}, fmt.Errorf("the Nix build step left no closure: %w", err)
	}
	closure, err := nixstore.ParseRegistration(registration)
	if err != nil {
		return laingfile2llb.Facts{}, err
	}
	packages := map[string][]string{}
	for _, p := range report.Packages {
		packages[p.Attr] = p.Paths
	}
	// Images whose user builds with Nix carry a Nix database of their closure.
	var nixDB laingfile2llb.NixDB
	if b.target.Kind.Traits().UserNix {
		if nixDB, err = laingfile2llb.ReadNixDB(read); err != nil {
			return laingfile2llb.Facts{}, err
		}
	}
	return laingfile2llb.Facts{
		Closure:        closure,
		Profile:        strings.TrimSpace(string(profile)),
		ProfileEntries: strings.Fields(string(entries)),
		Info:           report.Info,
		Packages:       packages,
		NixDB:          nixDB,
	}, nil
}

// substituterRanges are the Laingfile's binary caches, which a failing Nix step may point at.
func substituterRanges(f *laingfile.File) []laingfile.Range {
	var ranges []laingfile.Range
	for _, s := range f.Substituters {
		ranges = append(ranges, s.Range)
	}
	return ranges
}

// packageRanges are the Laingfile lines that decide what Nix realises.
func packageRanges(t *laingfile.Target) []laingfile.Range {
	var ranges []laingfile.Range
	for _, s := range t.Sets {
		ranges = append(ranges, s.Range)
	}
	for _, p := range t.Packages {
		ranges = append(ranges, p.Range)
	}
	if len(ranges) == 0 {
		ranges = append(ranges, t.KindRange)
	}
	return ranges
}

// solve solves a state, with the build's cache imports, and returns its result.
func (b *targetBuild) solve(ctx context.Context, st llb.State, opts ...llb.ConstraintsOpt) (gwclient.Reference, error) {
	def, err := st.Marshal(ctx, opts...)
	if err != nil {
		return nil, err
	}
	res, err := b.client.Solve(ctx, gwclient.SolveRequest{Definition: def.ToPB(), CacheImports: b.bc.CacheImports})
	if err != nil {
		return nil, err
	}
	return res.SingleRef()
}
