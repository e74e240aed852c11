package main

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/laingville/laingfile"
	"github.com/laingville/laingfile/laingfile2llb"
	"github.com/laingville/laingfile/nixsets"
)

// make.sh runs in the Nix builder: it realises the requests and copies the closures into the
// two caches.
//
//go:embed make.sh
var makeScript []byte

// Systems are the Nix systems the caches hold, as the test environment builds for them.
var Systems = []string{"x86_64-linux", "aarch64-linux"}

// cacheKeyName is the name of the signing key, the part of the public key before the colon.
const cacheKeyName = "laingfile-test-cache-1"

// inputFile is a file the exec finds under /laingfile, the directory the frontend's build step
// also reads its inputs from (the requests name the overlays there).
type inputFile struct {
	Path string // relative to /laingfile
	Data []byte
}

// stepInputs are the files of the exec's /laingfile: the script, the build expression, the
// built-in overlays and one request per Laingfile target and system, at
// requests/<system>/<example>-<target>.json.
func stepInputs(laingfiles []string) ([]inputFile, error) {
	files := []inputFile{
		{Path: "make.sh", Data: makeScript},
		{Path: "build.nix", Data: nixsets.BuildExpression()},
	}
	for _, o := range nixsets.Overlays() {
		files = append(files, inputFile{Path: "overlays/" + o.Name + ".nix", Data: o.Source})
	}
	reqs, err := requests(laingfiles, Systems)
	if err != nil {
		return nil, err
	}
	return append(files, reqs...), nil
}

// requests parses each Laingfile as the frontend does and writes, for each of its targets and
// each system, the request the frontend's build step gets with the nixpkgs named context (the
// source at /nixpkgs). A Laingfile is named after its directory (examples/python/Laingfile is
// "python").
func requests(laingfiles []string, systems []string) ([]inputFile, error) {
	var out []inputFile
	seen := map[string]string{}
	for _, path := range laingfiles {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		f, err := laingfile.Parse(filepath.Base(path), data, nixsets.ParseOptions(nil))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		example := filepath.Base(filepath.Dir(path))
		if other, ok := seen[example]; ok {
			return nil, fmt.Errorf("%s and %s are both named %q after their directory", other, path, example)
		}
		seen[example] = path
		for _, t := range f.Targets {
			for _, system := range systems {
				if f.NixReadsContext(t) {
					return nil, fmt.Errorf("%s: target %s reads Nix files from its build context, which the binary cache build does not mount", path, t.Name)
				}
				req := laingfile2llb.WithNixpkgsDir(laingfile2llb.NixRequest(f, t, system, nixsets.DefaultPin()))
				js, err := json.MarshalIndent(req, "", "  ")
				if err != nil {
					return nil, err
				}
				out = append(out, inputFile{Path: "requests/" + system + "/" + example + "-" + t.Name + ".json", Data: append(js, '\n')})
			}
		}
	}
	return out, nil
}

// inputsDigest is what the caches are made of: the exec's inputs, the builder image (by
// digest) and the nixpkgs tree. Equal digests give equal caches, but for the keys, which are
// new on every build.
func inputsDigest(files []inputFile, builderDigest, nixpkgsDigest string) string {
	sorted := append([]inputFile(nil), files...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Path < sorted[j].Path })
	h := sha256.New()
	fmt.Fprintf(h, "binarycache v1\nbuilder %s\nnixpkgs %s\n", builderDigest, nixpkgsDigest)
	for _, f := range sorted {
		sum := sha256.Sum256(f.Data)
		fmt.Fprintf(h, "file %q %x\n", f.Path, sum)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// treeDigest hashes a directory tree: every entry's path, type and mode, a symlink's target
// and a file's contents, in lexical order. It is the nixpkgs source's identity here (the
// fixture's store paths follow its contents, not its location).
func treeDigest(root string) (string, error) {
	h := sha256.New()
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.Type()&os.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			fmt.Fprintf(h, "link %q %q\n", rel, target)
		case d.IsDir():
			fmt.Fprintf(h, "dir %q\n", rel)
		case d.Type().IsRegular():
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			fmt.Fprintf(h, "file %q %o %x\n", rel, info.Mode().Perm(), sha256.Sum256(data))
		default:
			return fmt.Errorf("%s: not a file, directory or symlink", p)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// narinfo is what the summary reads from a cache's <hash>.narinfo.
type narinfo struct {
	StorePath  string
	URL        string
	FileSize   int64
	NarSize    int64
	References []string
	Sigs       []string
}

// parseNarinfo reads the fields of a narinfo that the summary and the checks use.
func parseNarinfo(data string) (narinfo, error) {
	var n narinfo
	for _, line := range strings.Split(data, "\n") {
		if line == "" {
			continue
		}
		key, value, ok := strings.Cut(line, ": ")
		if !ok {
			key, value, ok = strings.Cut(line, ":")
			if !ok {
				return narinfo{}, fmt.Errorf("narinfo line %q has no colon", line)
			}
		}
		var err error
		switch key {
		case "StorePath":
			n.StorePath = value
		case "URL":
			n.URL = value
		case "FileSize":
			_, err = fmt.Sscan(value, &n.FileSize)
		case "NarSize":
			_, err = fmt.Sscan(value, &n.NarSize)
		case "References":
			n.References = strings.Fields(value)
		case "Sig":
			n.Sigs = append(n.Sigs, value)
		}
		if err != nil {
			return narinfo{}, fmt.Errorf("narinfo %s %q: %w", key, value, err)
		}
	}
	if n.StorePath == "" || n.URL == "" {
		return narinfo{}, fmt.Errorf("narinfo without StorePath or URL")
	}
	return n, nil
}

// narinfoName is the file name of a store path's narinfo: its hash part.
func narinfoName(storePath string) string {
	base := filepath.Base(storePath)
	hash, _, _ := strings.Cut(base, "-")
	return hash + ".narinfo"
}
