// Package frontend is the BuildKit gateway side of Laingfile: it reads the Laingfile and the
// build options through dockerui, answers subrequests (--call targets, outline), and builds the
// chosen target for each requested platform: the Nix build step, then the layers read back from
// its closure, then the image. It is the only package that talks to the gateway client.
package frontend

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/moby/buildkit/frontend/dockerui"
	gwclient "github.com/moby/buildkit/frontend/gateway/client"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/laingville/laingfile"
	"github.com/laingville/laingfile/nixsets"
)

// DefaultFilename is read when the build names no file (-f).
const DefaultFilename = "Laingfile"

// Named build contexts that replace the frontend's defaults.
const (
	// ContextBuilder replaces the pinned Nix builder image.
	ContextBuilder = "nix-builder"
	// ContextNixpkgs replaces the pinned nixpkgs source (a directory, git or https context).
	ContextNixpkgs = "nixpkgs"
)

// Build options (--build-arg) the frontend reads besides dockerui's.
const (
	argSourceDateEpoch = "SOURCE_DATE_EPOCH"
	// argDisableMerge forces the copy-chain used on builders without MergeOp.
	argDisableMerge = "LAINGFILE_DISABLE_MERGE"
)

// DevVersion is the version of a frontend built from a checkout rather than released.
const DevVersion = "dev"

// Build is the frontend of a checkout (DevVersion), as client.Build(…, frontend.Build, …) runs it
// in process.
func Build(ctx context.Context, c gwclient.Client) (*gwclient.Result, error) {
	return build(ctx, c, DevVersion)
}

// New is the frontend of a release: grpcclient.RunFromEnvironment(ctx, frontend.New(version))
// in the image. It names version in every build's progress and image labels.
func New(version string) gwclient.BuildFunc {
	return func(ctx context.Context, c gwclient.Client) (*gwclient.Result, error) {
		return build(ctx, c, version)
	}
}

func build(ctx context.Context, c gwclient.Client, version string) (res *gwclient.Result, err error) {
	defer func() {
		// A bug must reach the user as a message, not a Go stack trace through buildx.
		if r := recover(); r != nil {
			res, err = nil, internalError(r)
		}
	}()

	bc, err := dockerui.NewClient(withDefaultFilename(c))
	if err != nil {
		return nil, err
	}
	src, err := bc.ReadEntrypoint(ctx, "yaml")
	if err != nil {
		return nil, fmt.Errorf("cannot read the Laingfile: %w", err)
	}
	file, err := laingfile.Parse(src.Filename, src.Data, nixsets.ParseOptions(bc.BuildArgs))
	if err != nil {
		return nil, parseError(err, src.SourceMap)
	}

	if res, handled, err := bc.HandleSubrequest(ctx, subrequests(file, src.SourceMap)); handled || err != nil {
		return res, err
	}

	// Before any work: a builder too old for the LLB below fails far from the cause otherwise.
	caps := capsOf(c.BuildOpts())
	if err := caps.check(needsOf(file, len(bc.TargetPlatforms), len(bc.CacheImports))); err != nil {
		return nil, err
	}

	target := file.Target(bc.Target)
	if target == nil {
		return nil, file.UnknownTargetError(bc.Target)
	}
	epoch, err := sourceDateEpoch(bc.BuildArgs)
	if err != nil {
		return nil, err
	}
	b := &targetBuild{
		client: c,
		bc:     bc,
		file:   file,
		target: target,
		source: src.SourceMap,
		warnAt: src.Warn,
		epoch:  epoch,
		merge:  caps.merge(),
	}
	// Once for all platforms: the pin (reading a flake.lock), and the files the build context
	// must have.
	if b.pin, err = choosePin(ctx, file.Nixpkgs, b.readContextFile); err != nil {
		var pe pinError
		if errors.As(err, &pe) {
			return nil, located(pe.err, src.SourceMap, pe.ranges...)
		}
		return nil, err
	}
	if b.nixpkgs, err = bc.NamedContext(ContextNixpkgs, dockerui.ContextOpt{}); err != nil {
		return nil, err
	}
	if b.nixpkgs == nil {
		b.imagePin = b.pin.Pin
	}
	if err := b.checkContextFiles(ctx); err != nil {
		return nil, err
	}
	b.identity = newIdentity(version, b.pin, c.BuildOpts().Opts)
	if err := b.identity.announce(ctx, c); err != nil {
		return nil, err
	}
	switch {
	case !b.merge:
		src.Warn(ctx, "this builder has no MergeOp (Docker's classic image store?): layers are chained, so a change re-creates every layer above it; use a docker-container builder or the containerd image store for independent layers", gwclient.WarnOpts{})
	case truthy(bc.BuildArgs[argDisableMerge]):
		// Asked for: chain the layers, as builders without MergeOp do, without a warning.
		b.merge = false
	}
	// --sbom=true: the frontend writes the SBOM itself, from the closure (see sbom.go).
	if bc.SBOM != nil {
		b.sboms = &sboms{}
	}
	rb, err := bc.Build(ctx, recoverBuild(b.build))
	if err != nil {
		return nil, err
	}
	if b.sboms != nil {
		if err := b.sboms.attach(ctx, c, rb); err != nil {
			return nil, err
		}
	}
	return rb.Finalize()
}

// internalError is a panic as the user sees it: a message, no Go stack trace.
func internalError(r any) error {
	return fmt.Errorf("laingfile frontend: internal error: %v; please report it with your Laingfile", r)
}

// recoverBuild makes a panic in a per-platform build an error. dockerui runs each platform's
// build in a goroutine of its own (an errgroup), out of reach of Build's recover, where a panic
// would end the frontend with a stack trace.
func recoverBuild(fn dockerui.BuildFunc) dockerui.BuildFunc {
	return func(ctx context.Context, platform *ocispecs.Platform, idx int) (res *dockerui.BuildResult, err error) {
		defer func() {
			if r := recover(); r != nil {
				res, err = nil, internalError(r)
			}
		}()
		return fn(ctx, platform, idx)
	}
}

// sourceDateEpoch returns SOURCE_DATE_EPOCH, or nil when the build did not set it.
func sourceDateEpoch(args map[string]string) (*time.Time, error) {
	v, ok := args[argSourceDateEpoch]
	if !ok || v == "" {
		return nil, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return nil, fmt.Errorf("SOURCE_DATE_EPOCH=%q: expected seconds since 1970 (a non-negative integer)", v)
	}
	t := time.Unix(n, 0).UTC()
	return &t, nil
}

func truthy(v string) bool {
	b, err := strconv.ParseBool(v)
	return err == nil && b
}

// withDefaultFilename makes dockerui read the Laingfile when the build names no file.
func withDefaultFilename(c gwclient.Client) gwclient.Client {
	return &defaultFilenameClient{Client: c}
}

type defaultFilenameClient struct {
	gwclient.Client
}

func (c *defaultFilenameClient) BuildOpts() gwclient.BuildOpts {
	opts := c.Client.BuildOpts()
	if _, ok := opts.Opts["filename"]; !ok {
		copied := make(map[string]string, len(opts.Opts)+1)
		for k, v := range opts.Opts {
			copied[k] = v
		}
		copied["filename"] = DefaultFilename
		opts.Opts = copied
	}
	return opts
}
