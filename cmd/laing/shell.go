package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/laingville/laingfile"
	"github.com/laingville/laingfile/devshell"
	"github.com/laingville/laingfile/frontend"
	"github.com/laingville/laingfile/laingfile2llb"
	"github.com/laingville/laingfile/nixsets"
)

// `laing shell` gives a Laingfile target's packages on a host with Nix, without a container:
// it writes the files devshell generates from the frontend's own request for the target,
// with the pin decided as the frontend decides it.

// shellOptions are the command line of `laing shell`.
type shellOptions struct {
	file, target string
	check        bool
	// nixpkgsDir replaces the pin, as the `nixpkgs` named context does for a build.
	nixpkgsDir string
	buildArgs  buildArgs
}

func shellCommand(args []string, stdout, stderr io.Writer) int {
	flags := flag.NewFlagSet("shell", flag.ContinueOnError)
	flags.SetOutput(stderr)
	var o shellOptions
	flags.StringVar(&o.target, "target", "", "the target (default: the first devcontainer, else the first target)")
	flags.BoolVar(&o.check, "check", false, "write nothing; exit 1 when the generated files are not what the Laingfile gives")
	flags.StringVar(&o.nixpkgsDir, "nixpkgs", "", "a nixpkgs directory to use instead of the pin (as --build-context nixpkgs=DIR does for a build)")
	o.buildArgs = buildArgs{}
	flags.Var(o.buildArgs, "build-arg", "NAME=VALUE, for ${NAME} in the Laingfile (repeatable)")
	if err := flags.Parse(args); err != nil {
		return 2
	}
	if flags.NArg() > 1 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	o.file = "Laingfile"
	if flags.NArg() == 1 {
		o.file = flags.Arg(0)
	}
	if err := shell(context.Background(), o, stdout); err != nil {
		printShellError(stderr, err)
		return 1
	}
	return 0
}

// printShellError prints a Laingfile's problems as they are, each line starting with
// file:line:col, and anything else after the command's name.
func printShellError(w io.Writer, err error) {
	var problems laingfile.Errors
	var problem *laingfile.Error
	if errors.As(err, &problems) || errors.As(err, &problem) {
		fmt.Fprintln(w, err)
		return
	}
	fmt.Fprintln(w, "laing shell:", err)
}

// shell writes the files, or with check compares them with the project's.
func shell(ctx context.Context, o shellOptions, stdout io.Writer) error {
	project := filepath.Dir(o.file)
	spec, err := shellSpec(ctx, o, project)
	if err != nil {
		return err
	}
	files, err := devshell.Generate(spec)
	if err != nil {
		return err
	}
	existing, err := projectFiles(project, files)
	if err != nil {
		return err
	}
	changes := devshell.Plan(files, existing)
	where := fmt.Sprintf("%s target %q", o.file, spec.Target)
	switch {
	case len(changes) == 0:
		fmt.Fprintf(stdout, "%s: its shell files are current\n", where)
		return nil
	case o.check:
		var stale []string
		for _, c := range changes {
			stale = append(stale, filepath.Join(project, c.Path)+" "+c.Why())
		}
		return fmt.Errorf("the shell files are not what %s gives; run laing shell%s\n%s", where, shellFlags(o), strings.Join(stale, "\n"))
	}
	if err := applyChanges(project, files, changes); err != nil {
		return err
	}
	for _, c := range changes {
		fmt.Fprintf(stdout, "%s %s\n", c.Done(), filepath.Join(project, c.Path))
	}
	enter := "enter its environment with nix develop, nix-shell or direnv allow"
	if project != "." {
		enter += " in " + project
	}
	fmt.Fprintf(stdout, "%s: %s\n", where, enter)
	return nil
}

// shellFlags repeats the options that change the files, for the hint that regenerates them.
func shellFlags(o shellOptions) string {
	var b strings.Builder
	if o.target != "" {
		fmt.Fprintf(&b, " --target %s", o.target)
	}
	if o.nixpkgsDir != "" {
		fmt.Fprintf(&b, " --nixpkgs %s", o.nixpkgsDir)
	}
	for _, name := range o.buildArgs.names() {
		fmt.Fprintf(&b, " --build-arg %s=…", name)
	}
	if o.file != "Laingfile" {
		fmt.Fprintf(&b, " %s", o.file)
	}
	return b.String()
}

// shellSpec reads the Laingfile as the frontend does and makes the frontend's requests for the
// target on every system a shell is for.
func shellSpec(ctx context.Context, o shellOptions, project string) (devshell.Spec, error) {
	data, err := os.ReadFile(o.file)
	if err != nil {
		return devshell.Spec{}, err
	}
	file, err := laingfile.Parse(o.file, data, nixsets.ParseOptions(o.buildArgs))
	if err != nil {
		return devshell.Spec{}, err
	}
	target := shellTarget(file, o.target)
	if target == nil {
		return devshell.Spec{}, file.UnknownTargetError(o.target)
	}
	if err := missingProjectFiles(file, target, project); err != nil {
		return devshell.Spec{}, err
	}
	// The pin is decided (and a flake.lock read and checked) even when a nixpkgs directory
	// replaces it, as in a build.
	pin, err := frontend.ChoosePin(ctx, file, projectFileReader(project))
	if err != nil {
		return devshell.Spec{}, err
	}
	spec := devshell.Spec{
		Target: target.Name,
		Step:   devshell.StepPaths{Overlays: laingfile2llb.StepOverlaysDir, Context: laingfile2llb.StepContextDir, Nixpkgs: laingfile2llb.StepNixpkgsDir},
	}
	if o.nixpkgsDir != "" {
		if spec.NixpkgsDir, err = nixpkgsDirFrom(project, o.nixpkgsDir); err != nil {
			return devshell.Spec{}, err
		}
	}
	for _, system := range devshell.Systems() {
		req := laingfile2llb.NixRequest(file, target, system, pin)
		if spec.NixpkgsDir != "" {
			req = laingfile2llb.WithNixpkgsDir(req)
		}
		spec.Requests = append(spec.Requests, req)
	}
	return spec, nil
}

// shellTarget is the named target, or without a name the first devcontainer (the environment
// to work in), else the first target.
func shellTarget(f *laingfile.File, name string) *laingfile.Target {
	if name != "" {
		return f.Target(name)
	}
	for _, t := range f.Targets {
		if t.Kind.Traits().Interactive {
			return t
		}
	}
	return f.Target("")
}

// missingProjectFiles reports the overlay and package files the Laingfile's directory (the
// build context) lacks, at their lines, as a build does: Nix would report them far from the
// Laingfile, when the shell is entered.
func missingProjectFiles(f *laingfile.File, t *laingfile.Target, project string) error {
	type projectFile struct {
		kind, rel string
		at        laingfile.Range
	}
	var wanted []projectFile
	for _, o := range f.Overlays {
		if o.Path != "" {
			wanted = append(wanted, projectFile{"overlay", o.Path, o.Range})
		}
	}
	for _, p := range t.Packages {
		if p.Path != "" {
			wanted = append(wanted, projectFile{"package file", p.Path, p.Range})
		}
	}
	var problems laingfile.Errors
	for _, w := range wanted {
		name := filepath.Join(project, filepath.FromSlash(w.rel))
		if info, err := os.Stat(name); err == nil && !info.IsDir() {
			continue
		}
		var names []string
		if entries, err := os.ReadDir(filepath.Dir(name)); err == nil {
			for _, e := range entries {
				names = append(names, e.Name())
			}
		}
		problems = append(problems, &laingfile.Error{
			Filename: f.Filename,
			Range:    w.at,
			Msg:      fmt.Sprintf("%s %q not found in the build context (%s)%s", w.kind, w.rel, project, laingfile.DidYouMean(path.Base(w.rel), names)),
		})
	}
	if len(problems) > 0 {
		return problems
	}
	return nil
}

// projectFileReader reads a file of the Laingfile's directory (a flake.lock), as the frontend
// reads one of the build context.
func projectFileReader(project string) func(context.Context, string) ([]byte, error) {
	return func(_ context.Context, rel string) ([]byte, error) {
		f, err := os.Open(filepath.Join(project, filepath.FromSlash(rel)))
		if err != nil {
			return nil, fmt.Errorf("%s is not in the build context (%s)", rel, project)
		}
		defer f.Close()
		// One byte more than a lock may have, so that a larger one is reported as such.
		return io.ReadAll(io.LimitReader(f, nixsets.MaxFlakeLockSize+1))
	}
}

// nixpkgsDirFrom checks that dir is a nixpkgs source tree and returns it as the generated files
// name it: relative to the project when inside it, else absolute (a flake is evaluated from a
// copy of its directory, where a relative path out of it leads nowhere).
func nixpkgsDirFrom(project, dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	if info, err := os.Stat(filepath.Join(abs, "default.nix")); err != nil || info.IsDir() {
		return "", fmt.Errorf("--nixpkgs %s: there is no default.nix; expected a nixpkgs source tree, such as a checkout of https://github.com/NixOS/nixpkgs", dir)
	}
	projectAbs, err := filepath.Abs(project)
	if err != nil {
		return "", err
	}
	if rel, err := filepath.Rel(projectAbs, abs); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return filepath.ToSlash(rel), nil
	}
	return filepath.ToSlash(abs), nil
}

// projectFiles are the project's current versions of the generated files, by path: every file
// under devshell.Dir and the entry points that exist.
func projectFiles(project string, files []devshell.File) (map[string][]byte, error) {
	existing := map[string][]byte{}
	root := filepath.Join(project, devshell.Dir)
	err := filepath.WalkDir(root, func(name string, d fs.DirEntry, err error) error {
		switch {
		case errors.Is(err, fs.ErrNotExist) && name == root:
			return fs.SkipAll
		case err != nil:
			return err
		case name == root && !d.IsDir():
			return fmt.Errorf("%s is not a directory; laing shell writes its files there", name)
		case d.IsDir():
			return nil
		}
		rel, err := filepath.Rel(project, name)
		if err != nil {
			return err
		}
		data, err := os.ReadFile(name)
		if err != nil && d.Type().IsRegular() {
			return err
		}
		existing[filepath.ToSlash(rel)] = data // a link or other file: nil, so rewritten
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		if !f.EntryPoint {
			continue
		}
		if _, err := os.Lstat(filepath.Join(project, f.Path)); err == nil {
			existing[f.Path] = nil // the user's, whatever it holds
		}
	}
	return existing, nil
}

// applyChanges writes and removes files as planned, then removes the directories under
// devshell.Dir that removing files emptied.
func applyChanges(project string, files []devshell.File, changes []devshell.Change) error {
	data := map[string][]byte{}
	for _, f := range files {
		data[f.Path] = f.Data
	}
	for _, c := range changes {
		name := filepath.Join(project, filepath.FromSlash(c.Path))
		if c.Kind == devshell.Remove {
			if err := os.Remove(name); err != nil {
				return err
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
			return err
		}
		// Never write through a link someone put in place of a generated file.
		if info, err := os.Lstat(name); err == nil && !info.Mode().IsRegular() {
			if err := os.Remove(name); err != nil {
				return err
			}
		}
		if err := os.WriteFile(name, data[c.Path], 0o644); err != nil {
			return err
		}
	}
	return removeEmptyDirs(filepath.Join(project, devshell.Dir))
}

// removeEmptyDirs removes the empty directories below root, deepest first.
func removeEmptyDirs(root string) error {
	var dirs []string
	err := filepath.WalkDir(root, func(name string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() && name != root {
			dirs = append(dirs, name)
		}
		return err
	})
	if err != nil {
		return err
	}
	sort.Sort(sort.Reverse(sort.StringSlice(dirs)))
	for _, d := range dirs {
		if entries, err := os.ReadDir(d); err == nil && len(entries) == 0 {
			if err := os.Remove(d); err != nil {
				return err
			}
		}
	}
	return nil
}

// buildArgs are --build-arg NAME=VALUE flags, as `docker buildx build` takes them.
type buildArgs map[string]string

func (b buildArgs) String() string { return strings.Join(b.names(), ",") }

// Set takes NAME=VALUE, or NAME alone for the value of the environment variable NAME (none
// when it is not set), as buildx does.
func (b buildArgs) Set(s string) error {
	name, value, ok := strings.Cut(s, "=")
	if name == "" {
		return fmt.Errorf("expected NAME=VALUE, got %q", s)
	}
	if !ok {
		if value, ok = os.LookupEnv(name); !ok {
			return nil
		}
	}
	b[name] = value
	return nil
}

func (b buildArgs) names() []string {
	names := make([]string, 0, len(b))
	for n := range b {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
