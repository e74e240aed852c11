// Package laingfile parses and validates Laingfiles: the YAML spec that declares images built from
// a pinned nixpkgs. It keeps the position of every value so that each error can point at the
// line and column that caused it. It has no BuildKit dependencies.
package laingfile

import (
	"fmt"
	"strings"
)

// Kind is the kind of image a target builds; it decides the defaults and the customisation layer.
type Kind string

const (
	KindDevcontainer Kind = "devcontainer"
	KindRuntime      Kind = "runtime"
)

// DefaultMaxLayers is Docker-safe (its hard limit is about 125) and matches nixpkgs' dockerTools.
const DefaultMaxLayers = 100

// Pos is a 1-based line and column in the Laingfile.
type Pos struct {
	Line   int
	Column int
}

// Range is the span of a value in the Laingfile; End is exclusive and may equal Start when the
// parser does not know the end. Columns count characters (Unicode code points), not bytes. A zero
// Range (Start.Line == 0) means the value is a default and appears nowhere in the file.
type Range struct {
	Start Pos
	End   Pos
}

// File is a parsed, validated Laingfile with defaults applied.
type File struct {
	Filename string
	Source   []byte

	// Nixpkgs is nil when the Laingfile has no `nixpkgs:` key (the release's pin applies).
	Nixpkgs  *Nixpkgs
	Overlays []Overlay
	// Substituters are binary caches for the Nix build step, in file order.
	Substituters []Substituter
	// Targets are in file order; the first is the default target.
	Targets []*Target
}

// Nixpkgs pins the package set: by rev (github NixOS/nixpkgs) or by URL, with its NAR hash, or
// by the input of a flake.lock in the build context. At most one of Rev, URL and FlakeLock is
// set; none when the Laingfile sets only Config (the release's pin applies with that config).
type Nixpkgs struct {
	Rev string // 40 lower-case hex digits
	URL string // https://, http:// or file:// URL of a tarball
	// SHA256 is always in SRI form "sha256-…" as in flake.lock; the Laingfile may also give Nix's
	// base-32 form or hex, which Parse converts.
	SHA256 string
	// FlakeLock is a flake.lock in the build context ("./flake.lock" form, like Overlay.Path)
	// whose Input's locked source is the pin; the frontend reads it when it builds.
	FlakeLock string
	// Input is the flake input FlakeLock is followed for: DefaultFlakeInput unless given.
	Input string
	// Config is the nixpkgs `config` attrset (allowUnfree and the like), JSON-compatible values.
	Config map[string]any
	Range  Range
	// The ranges of the values, zero for keys the Laingfile does not have: errors about the pin
	// point at them, and `laing pin update` rewrites them.
	RevRange, URLRange, SHA256Range, FlakeLockRange, InputRange Range
}

// DefaultFlakeInput is the flake input `flakeLock:` follows when `input:` is not given.
const DefaultFlakeInput = "nixpkgs"

// Substituter is a binary cache the Nix build step may fetch store paths from instead of
// building them, besides the builder's own (`extra-substituters`).
type Substituter struct {
	URL string // https:// or http://
	// PublicKeys are the keys whose signatures Nix trusts for this cache, "name:base64" as
	// caches publish them (`extra-trusted-public-keys`).
	PublicKeys []string
	// Secret is the id of a BuildKit secret (`--secret id=…`) holding the cache's token or
	// password; "" for a public cache. Only the id is in the Laingfile; the value reaches the
	// build step as a file and never a layer or the cache.
	Secret string
	// Login is the user name sent with the secret, for caches that want one.
	Login string
	// Push, when set, makes the build push what it built to this cache.
	Push  *Push
	Range Range
}

// Push is a substituter's `push:`: the build uploads the store paths it built (not those it
// fetched) that the cache lacks, signed with the key in the build secret SigningKey, with the
// cache's Secret as its token. A failed push fails the build unless BestEffort.
type Push struct {
	SigningKey string
	BestEffort bool
	Range      Range
}

// Overlay is a built-in overlay name (Name set) or a file in the build context (Path set, cleaned
// to "./dir/file.nix" form, never absolute and never outside the context).
type Overlay struct {
	Name  string
	Path  string
	Range Range
}

// Target is one image: a kind, package sets, packages and image settings. Parse applies the
// kind's defaults, so User, Workdir and MaxLayers are always set.
type Target struct {
	// Name is the key under `targets:`, or the kind for the single-target shorthand (whose
	// NameRange is then KindRange).
	Name      string
	NameRange Range
	Kind      Kind
	KindRange Range

	// Sets and Packages are in file order without repeats.
	Sets     []SetRef
	Packages []Package

	User User
	// Workdir is an absolute, cleaned path: /workspace (devcontainer) or /app (runtime) by default.
	Workdir string
	// Env keeps file order; later entries with the same key win when the image config is made.
	Env []KeyValue
	// Entrypoint and Cmd are nil when the Laingfile does not set them (the kind's default
	// applies) and empty, not nil, for an explicit `[]`.
	Entrypoint []string
	Cmd        []string
	Labels     []KeyValue
	Expose     []Port
	// Volumes are absolute, cleaned paths.
	Volumes []string
	// StopSignal is "SIGTERM" form (upper case, with SIG), "SIGRTMIN+3" form, or a number
	// "1"…"64"; empty when unset.
	StopSignal string
	// Copy entries are in file order; their sources are checked to exist by the frontend.
	Copy []Copy
	// Metadata is merged into the devcontainer.metadata label (devcontainer targets only).
	Metadata map[string]any
	// Config is a raw OCI image-config fragment merged last (the upstream `extraConfig`).
	Config map[string]any
	// MaxLayers caps the number of layers in the image (store paths are grouped to fit):
	// MinMaxLayers…MaxLayersLimit, DefaultMaxLayers when unset.
	MaxLayers int

	Range Range
}

// SetRef names a package set (see package nixsets).
type SetRef struct {
	Name  string
	Range Range
}

// Package is a nixpkgs attribute path (Attr, e.g. "python312Packages.pip") or a Nix file in the
// build context built callPackage-style (Path, e.g. "./nix/app.nix", cleaned like Overlay.Path).
// Only the syntax of Attr is checked; whether nixpkgs has it is known only at build time.
type Package struct {
	Attr  string
	Path  string
	Range Range
}

// User is the image's user. Defaults per kind: vscode/1000/1000 home /home/vscode
// (devcontainer), app/1000/1000 home /app (runtime). Each part the Laingfile leaves out keeps its
// default, with these rules: GID follows UID when only UID is given; Home is /home/<name> for a
// devcontainer and the workdir for a runtime; the name root has UID/GID 0 and home /root.
// Range is the `user:` value, or zero when the Laingfile has none.
type User struct {
	Name  string
	UID   int
	GID   int
	Home  string
	Range Range
}

// KeyValue is one ordered mapping entry (env, labels). Numbers and booleans are kept as written
// (`1.10` is "1.10"). Range spans the key and the value.
type KeyValue struct {
	Key   string
	Value string
	Range Range
}

// Port is an exposed port, normalised to "8000/tcp" form.
type Port struct {
	Port  string
	Range Range
}

// Copy copies Src from the build context to Dst in the image. Both are as written (a trailing "/"
// is kept): Src is relative to the context root and does not leave it; Dst is absolute.
type Copy struct {
	Src string
	Dst string
	// Chown is the owner as written: "user", "user:group", names of the image's accounts or
	// numbers; empty means the image user.
	Chown string
	// UID and GID are the owner Chown resolves to (the parser checks it against the image's
	// accounts), the image user's when Chown is empty.
	UID, GID int
	// Chmod is the mode of the copied files as written, checked by the parser: octal ("0755",
	// "4755", "755"; at most 07777; see OctalMode) or symbolic as chmod(1) takes it, clauses of
	// [ugoa]*[-+=][rwxXst]* separated by "," ("u+x,go-w"). It applies as given. Empty means
	// none: the files keep their mode from the build context less the setuid, setgid and
	// write-for-others bits.
	Chmod string
	Range Range
}

// OctalMode returns the value of Chmod when it is an octal mode (permission bits with setuid
// 04000, setgid 02000 and sticky 01000, as chmod(2) takes them). It returns false when Chmod is
// symbolic or empty.
func (c Copy) OctalMode() (uint32, bool) {
	if c.Chmod == "" || c.Chmod[0] < '0' || c.Chmod[0] > '9' {
		return 0, false
	}
	var m uint32
	for _, d := range c.Chmod {
		if d < '0' || d > '7' {
			return 0, false
		}
		m = m<<3 | uint32(d-'0')
		if m > 0o7777 {
			return 0, false
		}
	}
	return m, true
}

// Options are the facts the parser needs from outside: which names are valid, and build args.
type Options struct {
	KnownSets     []string
	KnownOverlays []string
	// BuildArgs are substituted for ${NAME} in string values (not in keys).
	BuildArgs map[string]string
}

// Target returns the target with the given name, or the first one when name is empty.
// It returns nil when no target has that name.
func (f *File) Target(name string) *Target {
	if name == "" {
		if len(f.Targets) == 0 {
			return nil
		}
		return f.Targets[0]
	}
	for _, t := range f.Targets {
		if t.Name == name {
			return t
		}
	}
	return nil
}

// TargetNames returns the names of the targets in file order (the first is the default).
func (f *File) TargetNames() []string {
	names := make([]string, len(f.Targets))
	for i, t := range f.Targets {
		names[i] = t.Name
	}
	return names
}

// UnknownTargetError is the error for a --target that names no target in f. It has no range (the
// name comes from the command line, not the file); its message lists the file's targets and
// suggests the nearest, e.g.
//
//	Laingfile: unknown target "runtme" (did you mean "runtime"?); this Laingfile defines: devcontainer, runtime
func (f *File) UnknownTargetError(name string) *Error {
	names := f.TargetNames()
	return &Error{
		Filename: f.Filename,
		Msg:      fmt.Sprintf("unknown target %q%s; this Laingfile defines: %s", name, DidYouMean(name, names), strings.Join(names, ", ")),
	}
}
