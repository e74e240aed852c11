package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/laingville/laingfile"
	"github.com/laingville/laingfile/nixsets"
)

// laingfiles makes the Laingfiles of the cases from the example's: the fixture's tarball and
// profile in `nixpkgs:` and the binary cache in `substituters:`, then the added package. Each is
// parsed, as the frontend parses it, to check that the edit says what it should.
func (b *bench) laingfiles() (laingfiles, error) {
	src, err := os.ReadFile(filepath.Join(b.root, "examples", b.example, "Laingfile"))
	if err != nil {
		return laingfiles{}, err
	}
	if regexp.MustCompile(`(?m)^(nixpkgs|substituters):`).Match(src) {
		return laingfiles{}, fmt.Errorf("examples/%s/Laingfile has nixpkgs: or substituters: of its own; incrbench writes those", b.example)
	}
	// The binary cache stands in for cache.nixos.org, which every build has: every case names
	// it, so that cases 3 and 4 build the same Laingfile.
	var files laingfiles
	files.old = insertTop(src, fmt.Sprintf("nixpkgs:\n  url: %s\n  sha256: %s\n  config: {fixtureProfile: %s}\nsubstituters:\n  - url: %s\n    publicKey: %s\n    secret: %s\n",
		b.nixpkgs.url, b.nixpkgs.sha256, b.profile, b.cache.url(), b.cache.publicKey, secretID))
	if files.grown, err = withPackage(files.old, b.target, b.add); err != nil {
		return laingfiles{}, err
	}
	for _, c := range []struct {
		data  []byte
		added bool
	}{{files.old, false}, {files.grown, true}} {
		f, t, err := b.parse(c.data)
		if err != nil {
			return laingfiles{}, err
		}
		added := slices.ContainsFunc(t.Packages, func(p laingfile.Package) bool { return p.Attr == b.add })
		if f.Nixpkgs == nil || f.Nixpkgs.URL != b.nixpkgs.url || f.Nixpkgs.Config["fixtureProfile"] != b.profile || added != c.added || len(f.Substituters) != 1 {
			return laingfiles{}, fmt.Errorf("editing the Laingfile went wrong (profile %s, %s added: %v, the binary cache):\n%s",
				b.profile, b.add, c.added, c.data)
		}
	}
	return files, nil
}

// parse parses a Laingfile and finds the benchmark's target.
func (b *bench) parse(data []byte) (*laingfile.File, *laingfile.Target, error) {
	f, err := laingfile.Parse("Laingfile", data, nixsets.ParseOptions(nil))
	if err != nil {
		return nil, nil, fmt.Errorf("the edited Laingfile: %v\n%s", err, data)
	}
	t := f.Target(b.target)
	if t == nil {
		return nil, nil, fmt.Errorf("examples/%s/Laingfile has no target %s (it has %s)", b.example, b.target, strings.Join(f.TargetNames(), ", "))
	}
	return f, t, nil
}

// insertTop puts top-level keys right after the `# syntax=` line, which must stay the first.
func insertTop(src []byte, block string) []byte {
	head, rest := "", string(src)
	if strings.HasPrefix(rest, "# syntax=") {
		i := strings.IndexByte(rest, '\n') + 1
		head, rest = rest[:i], rest[i:]
	}
	return []byte(head + block + rest)
}

var (
	indentRe = regexp.MustCompile(`^( *)\S`)
	flowRe   = regexp.MustCompile(`^( *)packages:\s*\[\s*(.*)$`)
	blockRe  = regexp.MustCompile(`^( *)packages:\s*(#.*)?$`)
)

// withPackage adds pkg to the packages of the target: to its `packages: [...]` or
// `packages:` list, or as a new `packages: [pkg]` line. The target is the block under
// `targets: NAME:`, or the whole file in the single-target shorthand.
func withPackage(src []byte, target, pkg string) ([]byte, error) {
	lines := strings.Split(string(src), "\n")
	indent := func(l string) int {
		if m := indentRe.FindStringSubmatch(l); m != nil && !strings.HasPrefix(strings.TrimSpace(l), "#") {
			return len(m[1])
		}
		return -1 // blank or comment
	}
	// The target's block: lines [from, to) whose keys are at keyIndent; a new packages: line
	// goes at at.
	from, to, keyIndent := 0, len(lines), 0
	at := len(lines)
	if lines[at-1] == "" {
		at-- // before the final newline
	}
	if i := slices.Index(lines, "targets:"); i >= 0 {
		nameRe := regexp.MustCompile(`^( +)` + regexp.QuoteMeta(target) + `:\s*(#.*)?$`)
		found := -1
		for j := i + 1; j < len(lines); j++ {
			if indent(lines[j]) == 0 {
				break
			}
			if nameRe.MatchString(lines[j]) {
				found = j
				break
			}
		}
		if found < 0 {
			return nil, fmt.Errorf("no target %s under targets: (a `  %s:` line)", target, target)
		}
		own := indent(lines[found])
		from, keyIndent = found+1, -1
		for j := from; j < len(lines); j++ {
			n := indent(lines[j])
			if n >= 0 && n <= own {
				to = j
				break
			}
			if n > own && keyIndent < 0 {
				keyIndent = n
			}
		}
		if keyIndent < 0 {
			return nil, fmt.Errorf("target %s has no keys", target)
		}
		at = from
	}
	pad := strings.Repeat(" ", keyIndent)
	for j := from; j < to; j++ {
		if indent(lines[j]) != keyIndent {
			continue
		}
		if m := flowRe.FindStringSubmatch(lines[j]); m != nil {
			sep := ", "
			if strings.HasPrefix(m[2], "]") {
				sep = ""
			}
			lines[j] = pad + "packages: [" + pkg + sep + m[2]
			return []byte(strings.Join(lines, "\n")), nil
		}
		if blockRe.MatchString(lines[j]) && j+1 < to {
			item := regexp.MustCompile(`^( *- )`).FindString(lines[j+1])
			if item == "" {
				return nil, fmt.Errorf("cannot read the packages: list of %s", target)
			}
			lines = slices.Insert(lines, j+1, item+pkg)
			return []byte(strings.Join(lines, "\n")), nil
		}
	}
	lines = slices.Insert(lines, at, pad+"packages: ["+pkg+"]")
	return []byte(strings.Join(lines, "\n")), nil
}
