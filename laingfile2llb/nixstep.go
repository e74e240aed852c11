package laingfile2llb

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"path"
	"strings"

	"github.com/containerd/platforms"
	"github.com/moby/buildkit/client/llb"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/laingville/laingfile"
	"github.com/laingville/laingfile/internal/nixstore"
	"github.com/laingville/laingfile/nixsets"
)

// Paths inside the Nix build step.
const (
	stepInputDir   = "/laingfile"
	stepNixpkgsDir = "/nixpkgs"
	stepContextDir = "/context"
	stepOutDir     = "/out"
	// OutputDir is where the build step leaves its reports in its output.
	OutputDir = "/laingfile"
)

// NixStep describes the one exec that realises an image's packages with Nix.
type NixStep struct {
	// Builder is the image with Nix, at the build platform.
	Builder llb.State
	// BuilderID identifies the builder image by its content (the digest of its config) in the
	// /nix cache id, so that a different builder never sees another's store and the same
	// image has the same store id on every BuildKit.
	BuilderID string
	// Tools are the builder's own store paths and profile, which the step runs from.
	Tools         BuilderTools
	BuildPlatform ocispecs.Platform
	// Nixpkgs is the nixpkgs source tree; nil fetches the pin in Request.Nixpkgs.
	Nixpkgs *llb.State
	// Context is the build context, mounted when the Laingfile refers to files in it.
	Context *llb.State
	Request nixsets.Request
	// Substituters are the Laingfile's binary caches. Their URLs and keys become Nix settings
	// through the environment; a cache's secret is mounted as a file, so that its value is
	// in no layer, no cache key and no cache record.
	Substituters []laingfile.Substituter
	// Constraints carry the Laingfile location of the packages.
	Constraints []llb.ConstraintsOpt
}

// secretDir is where the build step finds the substituters' secrets, one file per cache.
const secretDir = "/run/laingfile/secrets"

// NixRequest is the build expression's input for a target on a Nix system. Sets expand in
// order, then the target's packages, then the packages every image needs.
func NixRequest(f *laingfile.File, t *laingfile.Target, system string, pin nixsets.Pin) nixsets.Request {
	req := nixsets.Request{
		System:  system,
		Nixpkgs: nixsets.NixpkgsSource{URL: pin.TarballURL(), SHA256: pin.SHA256},
		// Unfree packages are refused unless the Laingfile allows them (nixpkgs' default,
		// stated so that the request says it).
		Config: map[string]any{"allowUnfree": false},
		Info:   InfoAttrs(),
		// Empty lists, not null: the build expression maps over them.
		Overlays: []string{},
		Packages: []nixsets.RequestPackage{},
		Exclude:  []string{},
	}
	if f.Nixpkgs != nil {
		for k, v := range f.Nixpkgs.Config {
			req.Config[k] = v
		}
	}
	for _, o := range f.Overlays {
		if o.Path != "" {
			req.Overlays = append(req.Overlays, contextPath(o.Path))
		} else {
			req.Overlays = append(req.Overlays, stepInputDir+"/overlays/"+o.Name+".nix")
		}
	}
	var sets []string
	for _, s := range t.Sets {
		sets = append(sets, s.Name)
	}
	var attrs []string
	for _, p := range t.Packages {
		if p.Path != "" {
			req.Packages = append(req.Packages, nixsets.RequestPackage{File: contextPath(p.Path)})
		} else {
			attrs = append(attrs, p.Attr)
		}
	}
	for _, a := range nixsets.Expand(sets, append(attrs, ImpliedPackages()...)...) {
		req.Packages = append(req.Packages, nixsets.RequestPackage{Attr: a})
	}
	if t.Kind.Traits().Sudo {
		req.Exclude = []string{attrSudo} // installed setuid outside the store instead
	}
	return req
}

// WithNixpkgsDir points the request at a nixpkgs source tree mounted into the step.
func WithNixpkgsDir(req nixsets.Request) nixsets.Request {
	req.Nixpkgs = nixsets.NixpkgsSource{Path: stepNixpkgsDir}
	return req
}

func contextPath(rel string) string {
	return path.Join(stepContextDir, path.Clean("/"+rel))
}

// Name is the progress name of the step: what is realised, for which platform.
func (s NixStep) Name(target ocispecs.Platform) string {
	var names []string
	for _, p := range s.Request.Packages {
		if p.Attr != "" {
			names = append(names, p.Attr)
		} else {
			names = append(names, strings.TrimPrefix(p.File, stepContextDir+"/"))
		}
	}
	const shown = 6
	list := strings.Join(names, ", ")
	if len(names) > shown {
		list = strings.Join(names[:shown], ", ") + fmt.Sprintf(" and %d more", len(names)-shown)
	}
	return fmt.Sprintf("nix: realise %s (%s)", list, platforms.Format(target))
}

// CacheID is the id of the /nix cache mount: one store per builder and build platform. The
// "v3" stores are the first whose builds ran as Nix's build users (a store that builds could
// write as root is never reused) and whose mount has no base: BuildKit keys a cache mount with
// a base by the base's cache record too, and two solves of one build (the build step, the layer
// steps) could then get two different stores.
func (s NixStep) CacheID() string {
	sum := sha256.Sum256([]byte(s.BuilderID))
	return "laingfile-nix-v3-" + hex.EncodeToString(sum[:8]) + "-" + strings.ReplaceAll(platforms.Format(s.BuildPlatform), "/", "-")
}

// State returns the step's output: the reports under OutputDir (nixsets/build.sh says which).
// The store paths stay in /nix, a cache mount per builder image and platform, so that an edit
// to the Laingfile only fetches or builds what is new; the layer steps copy them out
// (LayerState). The builder's own store paths are mounted read-only over it, and the step runs
// only those (see BuilderTools).
func (s NixStep) State(target ocispecs.Platform) (llb.State, error) {
	input, err := s.requestInput("build.sh", nixsets.BuildScript())
	if err != nil {
		return llb.State{}, err
	}
	opts := append(s.runOptions("build.sh", input),
		// BuildKit leaves cache mount ids out of cache keys. The store's id in the environment
		// puts it back: a cached build step has realised its paths in this very /nix, where
		// the layer steps copy them from.
		llb.AddEnv("LAINGFILE_STORE", s.CacheID()),
		llb.WithCustomName(s.Name(target)),
	)
	opts = append(opts, s.sourceOptions()...)
	return s.Builder.Run(opts...).AddMount(stepOutDir, llb.Scratch()), nil
}

// MetaState is the SBOM step: it evaluates the same request as the build step and writes what
// nixpkgs says of the packages the image's store paths come from (nixsets' meta.sh: names,
// versions, outputs, licenses, homepages) to OutputDir/package-meta.json. Nothing is realised,
// and the build step is the same with or without it, so asking for an SBOM costs one
// evaluation. Without the Laingfile's caches, which an evaluation does not use.
func (s NixStep) MetaState(target ocispecs.Platform) (llb.State, error) {
	input, err := s.requestInput("meta.sh", nixsets.MetaScript())
	if err != nil {
		return llb.State{}, err
	}
	opts := append(s.toolOptions("meta.sh", input),
		llb.WithCustomName("sbom: read the packages' meta ("+platforms.Format(target)+")"))
	opts = append(opts, s.sourceOptions()...)
	return s.Builder.Run(opts...).AddMount(stepOutDir, llb.Scratch()), nil
}

// requestInput is what a step that evaluates the request finds at /laingfile: its script, the
// build expression, the request, nixopts.sh and the built-in overlays.
func (s NixStep) requestInput(script, source string) (llb.State, error) {
	if s.Tools.Profile == "" {
		return llb.State{}, fmt.Errorf("the Nix builder's tools are unknown")
	}
	reqJSON, err := json.MarshalIndent(s.Request, "", "  ")
	if err != nil {
		return llb.State{}, fmt.Errorf("encoding the Nix request: %w", err)
	}
	at := llb.WithCreatedTime(LayerTime())
	inputs := llb.Mkfile("/build.nix", 0o644, nixsets.BuildExpression(), at).
		Mkfile("/"+script, 0o644, []byte(source), at).
		Mkfile("/nixopts.sh", 0o644, []byte(nixsets.NixOptionsScript()), at).
		Mkfile("/request.json", 0o644, reqJSON, at).
		Mkdir("/overlays", 0o755, at)
	for _, o := range nixsets.Overlays() {
		inputs = inputs.Mkfile("/overlays/"+o.Name+".nix", 0o644, o.Source, at)
	}
	return llb.Scratch().File(inputs, llb.WithCustomName("nix: write the build request")), nil
}

// sourceOptions are what an evaluation of the request reads besides its input: the target
// system, the nixpkgs and build context mounts, and the Laingfile locations of the packages.
func (s NixStep) sourceOptions() []llb.RunOption {
	opts := []llb.RunOption{llb.AddEnv("LAINGFILE_SYSTEM", s.Request.System)}
	if s.Nixpkgs != nil {
		opts = append(opts, llb.AddMount(stepNixpkgsDir, *s.Nixpkgs, llb.Readonly))
	}
	if s.Context != nil {
		opts = append(opts, llb.AddMount(stepContextDir, *s.Context, llb.Readonly))
	}
	for _, c := range s.Constraints {
		opts = append(opts, c)
	}
	return opts
}

// runOptions are what the build and push steps share: the script from input (mounted at
// /laingfile), the builder image's own tools on PATH and read-only over the shared /nix, a
// private /tmp, and the Laingfile's caches with their secrets.
func (s NixStep) runOptions(script string, input llb.State) []llb.RunOption {
	return append(s.toolOptions(script, input), s.substituterOptions()...)
}

// toolOptions are runOptions without the Laingfile's caches.
func (s NixStep) toolOptions(script string, input llb.State) []llb.RunOption {
	opts := []llb.RunOption{
		llb.Args([]string{s.Tools.BinDir() + "/sh", stepInputDir + "/" + script}),
		llb.AddEnv("PATH", s.Tools.BinDir()),
		llb.AddEnv("HOME", "/root"),
		llb.AddEnv("USER", "root"),
		llb.AddEnv("TMPDIR", "/tmp"),
		// The store starts empty; nixopts.sh seeds its database and profiles from the
		// builder's own, mounted read-only.
		llb.AddMount("/nix", llb.Scratch(), llb.AsPersistentCacheDir(s.CacheID(), llb.CacheMountShared)),
		llb.AddMount(builderVarDir, s.builderVar(), llb.SourcePath("/nix/var"), llb.Readonly),
	}
	for _, p := range s.Tools.StorePaths {
		opts = append(opts, llb.AddMount(p, s.builderTool(p), llb.SourcePath(p), llb.Readonly))
	}
	return append(opts,
		llb.AddMount(stepInputDir, input, llb.Readonly),
		llb.AddMount("/tmp", llb.Scratch(), llb.Tmpfs()),
	)
}

// LayerState is the step that copies one layer's store paths out of the /nix cache mount, where
// the build step realised them, each checked against its planned NAR hash. Its only input that
// changes is the list of paths and hashes: an unchanged layer is a cache hit that reads nothing,
// and a builder whose /nix lacks a path (an imported build cache) fetches just that path.
func (s NixStep) LayerState(group []nixstore.StorePath, name string) (llb.State, error) {
	var list strings.Builder
	for _, p := range group {
		hash, err := nixstore.QueryHash(p.NarHash)
		if err != nil {
			return llb.State{}, fmt.Errorf("%s: %w", p.Path, err)
		}
		fmt.Fprintf(&list, "%s %s\n", p.Path, hash)
	}
	at := llb.WithCreatedTime(LayerTime())
	input := llb.Scratch().File(
		llb.Mkfile("/layer.sh", 0o644, []byte(nixsets.LayerScript()), at).
			Mkfile("/nixopts.sh", 0o644, []byte(nixsets.NixOptionsScript()), at).
			Mkfile("/layer", 0o644, []byte(list.String()), at),
		llb.WithCustomName(name+": write files"))
	// Without the Laingfile's caches: a layer step that changes with them would run again for
	// a new substituters: entry. Their settings are only for fetching a path /nix lacks, which
	// the builder's own caches do.
	opts := append(s.toolOptions("layer.sh", input),
		llb.WithCustomName(name+": from the Nix store"),
		llb.ProgressGroup("laingfile-layer-steps", "nix: copy store paths out of /nix", false))
	return s.Builder.Run(opts...).AddMount(stepOutDir, llb.Scratch()), nil
}

// pushKeyFile is where the push step finds the cache's signing key.
const pushKeyFile = secretDir + "/push-key"

// PushState is the step that pushes to the cache sub (which has Push set) the store paths of
// nixOut's image that Nix built on this builder and the cache lacks. Its output holds
// OutputDir/push-warning, which says why when a best-effort push failed.
func (s NixStep) PushState(nixOut llb.State, sub laingfile.Substituter, constraints ...llb.ConstraintsOpt) llb.State {
	at := llb.WithCreatedTime(LayerTime())
	input := llb.Scratch().File(
		llb.Mkfile("/push.sh", 0o644, []byte(nixsets.PushScript()), at).
			Mkfile("/nixopts.sh", 0o644, []byte(nixsets.NixOptionsScript()), at).
			Mkdir("/step", 0o755, at), // where the build step's reports are mounted
		llb.WithCustomName("cache: write the push script"))
	bestEffort := "0"
	if sub.Push.BestEffort {
		bestEffort = "1"
	}
	opts := append(s.runOptions("push.sh", input),
		llb.AddEnv("LAINGFILE_STORE", s.CacheID()),
		llb.AddMount(stepInputDir+"/step", nixOut, llb.SourcePath(OutputDir), llb.Readonly),
		llb.AddSecret(pushKeyFile, llb.SecretID(sub.Push.SigningKey)),
		llb.AddEnv("LAINGFILE_PUSH_URL", sub.URL),
		llb.AddEnv("LAINGFILE_PUSH_KEY", pushKeyFile),
		llb.AddEnv("LAINGFILE_PUSH_BEST_EFFORT", bestEffort),
		llb.WithCustomName("cache: push to "+sub.URL),
	)
	for _, c := range constraints {
		opts = append(opts, c)
	}
	return s.Builder.Run(opts...).AddMount(stepOutDir, llb.Scratch())
}

// builderVarDir is where the steps find the builder image's /nix/var (its Nix database and
// profiles), to seed an empty store with.
const builderVarDir = "/laingfile-builder/var"

// builderVar is the builder's /nix as a state of its own: mounting the very state that is also
// the rootfs makes BuildKit release that input twice when the exec fails, and the user then
// sees "releasing already released reference" instead of Nix's error.
func (s NixStep) builderVar() llb.State {
	return llb.Scratch().File(llb.Copy(s.Builder, "/nix/var", "/nix/var", &llb.CopyInfo{CreateDestPath: true}),
		llb.WithCustomName("nix: the builder's Nix database"))
}

// builderTool is one of the builder's store paths as a state of its own, for its read-only
// mount. One state per mount: when the exec fails, BuildKit releases an input mounted more than
// once twice (as with the rootfs, see builderVar), and the user sees that, not Nix's error.
func (s NixStep) builderTool(storePath string) llb.State {
	return llb.Scratch().File(llb.Copy(s.Builder, storePath, storePath, &llb.CopyInfo{CreateDestPath: true}),
		llb.WithCustomName("nix: the builder's "+storePath),
		llb.ProgressGroup("laingfile-builder-tools", "nix: the builder's own tools", false))
}

// substituterOptions pass the Laingfile's binary caches to build.sh: URLs and keys as
// LAINGFILE_SUBSTITUTERS and LAINGFILE_TRUSTED_PUBLIC_KEYS, and for caches with a secret,
// the secret as a file and LAINGFILE_NETRC ("host,login,file" entries) to write a netrc from.
func (s NixStep) substituterOptions() []llb.RunOption {
	var urls, keys, netrc []string
	var opts []llb.RunOption
	for i, sub := range s.Substituters {
		urls = append(urls, sub.URL)
		keys = append(keys, sub.PublicKeys...)
		if sub.Secret == "" {
			continue
		}
		file := fmt.Sprintf("%s/%d", secretDir, i)
		opts = append(opts, llb.AddSecret(file, llb.SecretID(sub.Secret)))
		host := sub.URL
		if u, err := url.Parse(sub.URL); err == nil {
			host = u.Hostname() // netrc matches the host name, without the port
		}
		netrc = append(netrc, host+","+sub.Login+","+file)
	}
	if len(urls) > 0 {
		opts = append(opts,
			llb.AddEnv("LAINGFILE_SUBSTITUTERS", strings.Join(urls, " ")),
			llb.AddEnv("LAINGFILE_TRUSTED_PUBLIC_KEYS", strings.Join(keys, " ")))
	}
	if len(netrc) > 0 {
		opts = append(opts, llb.AddEnv("LAINGFILE_NETRC", strings.Join(netrc, " ")))
	}
	return opts
}
