// Package devshell makes the files that give a Laingfile target's packages on a host with Nix,
// without a container: a flake's devShells, a shell.nix and an .envrc. They evaluate the
// frontend's own build expression on the frontend's own request for the target, so that a
// Linux shell has the very store paths of the target's image.
package devshell

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"text/template"

	"github.com/laingville/laingfile/nixsets"
)

// Dir is where the generated files go, next to the Laingfile. Users do not edit it: every run of
// `laing shell` makes it what the Laingfile gives, removing files it no longer gives.
const Dir = ".laingfile"

// Systems are the Nix systems the shells are for.
func Systems() []string {
	return []string{"x86_64-linux", "aarch64-linux", "x86_64-darwin", "aarch64-darwin"}
}

// StepPaths are where the Nix build step finds what a request names (laingfile2llb.StepOverlaysDir and
// friends): the generated files name the same files from where they are.
type StepPaths struct {
	Overlays string // the built-in overlays, as NAME.nix
	Context  string // the build context: the Laingfile's directory
	Nixpkgs  string // a nixpkgs directory replacing the pin
}

// Spec is what the files are made of.
type Spec struct {
	// Target is the name of the Laingfile target the shells give.
	Target string
	// Requests are the frontend's requests for the target (laingfile2llb.NixRequest), one per system,
	// with the build step's paths.
	Requests []nixsets.Request
	Step     StepPaths
	// NixpkgsDir is the nixpkgs directory the requests name as Step.Nixpkgs: relative to the
	// Laingfile's directory (and inside it), or absolute. "" when they fetch a pin.
	NixpkgsDir string
}

// File is one file to write, by its slash-separated path relative to the Laingfile's directory.
type File struct {
	Path string
	Data []byte
	// EntryPoint files (flake.nix, shell.nix, .envrc) are the user's: they are written when
	// missing and left alone otherwise. The others are under Dir and always regenerated.
	EntryPoint bool
}

// The entry points at the Laingfile's directory.
const (
	FlakeFile = "flake.nix"
	ShellFile = "shell.nix"
	EnvrcFile = ".envrc"
)

// Generate returns the files for spec: under Dir the build expression, the built-in overlays the
// requests use, a request per system with paths relative to Dir, the shells that evaluate them
// and their setup script; and the entry points.
func Generate(spec Spec) ([]File, error) {
	if len(spec.Requests) == 0 {
		return nil, fmt.Errorf("no request to make a shell of")
	}
	// The name goes into Nix strings and a store path name, where a Laingfile's target names
	// are safe as they are.
	if !targetName.MatchString(spec.Target) {
		return nil, fmt.Errorf("target name %q: expected lower-case letters, digits, '.', '_' and '-', as a Laingfile's", spec.Target)
	}
	builtin := map[string][]byte{}
	for _, o := range nixsets.Overlays() {
		builtin[o.Name] = o.Source
	}
	files := []File{{Path: Dir + "/build.nix", Data: nixsets.BuildExpression()}}
	overlays := map[string]bool{}
	var systems []string
	for _, req := range spec.Requests {
		if slices.Contains(systems, req.System) {
			return nil, fmt.Errorf("two requests for %s", req.System)
		}
		systems = append(systems, req.System)
		local, used, err := spec.relative(req, builtin)
		if err != nil {
			return nil, fmt.Errorf("the request for %s: %w", req.System, err)
		}
		for _, name := range used {
			if !overlays[name] {
				overlays[name] = true
				files = append(files, File{Path: Dir + "/overlays/" + name + ".nix", Data: builtin[name]})
			}
		}
		data, err := json.MarshalIndent(local, "", "  ")
		if err != nil {
			return nil, fmt.Errorf("encoding the request for %s: %w", req.System, err)
		}
		files = append(files, File{Path: Dir + "/" + requestFile(req.System), Data: append(data, '\n')})
	}
	shells, err := render(shellsTemplate, spec.Target, systems)
	if err != nil {
		return nil, err
	}
	files = append(files,
		File{Path: Dir + "/devshells.nix", Data: shells},
		File{Path: Dir + "/shell/setup", Data: []byte(setupScript)},
		File{Path: FlakeFile, Data: []byte(flakeEntry), EntryPoint: true},
		File{Path: ShellFile, Data: []byte(shellEntry), EntryPoint: true},
		File{Path: EnvrcFile, Data: []byte(envrc(path.IsAbs(spec.NixpkgsDir))), EntryPoint: true},
	)
	slices.SortFunc(files, func(a, b File) int { return strings.Compare(a.Path, b.Path) })
	return files, nil
}

var targetName = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*$`)

// requestFile is the name of a system's request under Dir; devshells.nix spells it the same way.
func requestFile(system string) string { return "request-" + system + ".json" }

// relative returns req with the build step's paths made relative to Dir, and the built-in
// overlays it uses.
func (spec Spec) relative(req nixsets.Request, builtin map[string][]byte) (nixsets.Request, []string, error) {
	fromContext := func(p string) (string, bool) {
		rel, ok := strings.CutPrefix(p, spec.Step.Context+"/")
		return "../" + rel, ok
	}
	out := req
	out.Overlays = []string{}
	var used []string
	for _, o := range req.Overlays {
		if name, ok := strings.CutPrefix(o, spec.Step.Overlays+"/"); ok {
			name = strings.TrimSuffix(name, ".nix")
			if _, known := builtin[name]; !known {
				return out, nil, fmt.Errorf("it names the overlay %q, which is no built-in overlay", o)
			}
			used = append(used, name)
			out.Overlays = append(out.Overlays, "overlays/"+name+".nix")
			continue
		}
		rel, ok := fromContext(o)
		if !ok {
			return out, nil, fmt.Errorf("the overlay %q is neither built in nor in the build context", o)
		}
		out.Overlays = append(out.Overlays, rel)
	}
	out.Packages = make([]nixsets.RequestPackage, len(req.Packages))
	for i, p := range req.Packages {
		if p.File != "" {
			rel, ok := fromContext(p.File)
			if !ok {
				return out, nil, fmt.Errorf("the package file %q is not in the build context", p.File)
			}
			p.File = rel
		}
		out.Packages[i] = p
	}
	switch {
	case req.Nixpkgs.Path == "" && spec.NixpkgsDir != "":
		return out, nil, fmt.Errorf("it fetches nixpkgs, but a nixpkgs directory is given; expected a request for the directory (llb.WithNixpkgsDir)")
	case req.Nixpkgs.Path == "":
	case req.Nixpkgs.Path != spec.Step.Nixpkgs || spec.NixpkgsDir == "":
		return out, nil, fmt.Errorf("it reads nixpkgs from %q, and no nixpkgs directory is given for it", req.Nixpkgs.Path)
	case path.IsAbs(spec.NixpkgsDir):
		out.Nixpkgs = nixsets.NixpkgsSource{Path: path.Clean(spec.NixpkgsDir)}
	case !filepath.IsLocal(spec.NixpkgsDir):
		// A flake is evaluated from a copy of its directory: a way out of it leads nowhere.
		return out, nil, fmt.Errorf("the nixpkgs directory %q is neither inside the Laingfile's directory nor absolute", spec.NixpkgsDir)
	default:
		out.Nixpkgs = nixsets.NixpkgsSource{Path: path.Join("..", spec.NixpkgsDir)}
	}
	return out, used, nil
}

func render(t *template.Template, target string, systems []string) ([]byte, error) {
	var b bytes.Buffer
	if err := t.Execute(&b, struct {
		Target  string
		Systems []string
	}{target, systems}); err != nil {
		return nil, fmt.Errorf("writing %s: %w", t.Name(), err)
	}
	return b.Bytes(), nil
}
