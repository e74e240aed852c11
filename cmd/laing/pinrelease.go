package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"go/ast"
	"go/format"
	"go/parser"
	"go/token"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// `laing pin release` and `laing pin builder` move the release's own pins, the literals in
// nixsets/pins.go that every Laingfile without a pin follows: DefaultPin's rev and sha256 (the
// same way `pin update` moves a Laingfile's), and DefaultBuilderImage's digest. They rewrite
// only those string literals and format the file with go/format, so that the weekly workflow
// needs no hand edit.

const (
	defaultPinsFile = "nixsets/pins.go"
	pinFunc         = "DefaultPin"
	builderConst    = "DefaultBuilderImage"
)

// builderPlatforms are the platforms the builder image must have: the builds run Nix on the
// build platform, and builders are amd64 or arm64.
var builderPlatforms = []string{"linux/amd64", "linux/arm64"}

// pinReleaseCommand runs `laing pin release` (args after "release").
func pinReleaseCommand(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("pin release", flag.ContinueOnError)
	fs.SetOutput(stderr)
	branch := fs.String("branch", defaultBranch, "the nixpkgs branch to follow")
	remoteURL := fs.String("remote", defaultRemote, "the nixpkgs git repository")
	if err := fs.Parse(args); err != nil || fs.NArg() > 1 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	if err := pinRelease(stdout, *remoteURL, *branch, pinsFileArg(fs)); err != nil {
		fmt.Fprintln(stderr, "laing pin release:", err)
		return 1
	}
	return 0
}

// pinBuilderCommand runs `laing pin builder` (args after "builder").
func pinBuilderCommand(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("pin builder", flag.ContinueOnError)
	fs.SetOutput(stderr)
	image := fs.String("image", "", "the builder image to pin, REPOSITORY:TAG (default: the tag pinned now)")
	if err := fs.Parse(args); err != nil || fs.NArg() > 1 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	if err := pinBuilder(stdout, *image, pinsFileArg(fs)); err != nil {
		fmt.Fprintln(stderr, "laing pin builder:", err)
		return 1
	}
	return 0
}

func pinsFileArg(fs *flag.FlagSet) string {
	if fs.NArg() == 1 {
		return fs.Arg(0)
	}
	return defaultPinsFile
}

// pinRelease sets DefaultPin in file to the newest commit of branch and its NAR hash.
func pinRelease(stdout io.Writer, remoteURL, branch, file string) error {
	src, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("%w (run it at the repository's root, or name nixsets/pins.go)", err)
	}
	// Find the literals before the download: a wrong file fails at once.
	lits, err := findPinLiterals(file, src)
	if err != nil {
		return err
	}
	rev, err := branchHead(remoteURL, branch)
	if err != nil {
		return err
	}
	if lits.rev.value == rev {
		fmt.Fprintf(stdout, "%s: the release's nixpkgs is at %s, the newest %s\n", file, short(rev), branch)
		return nil
	}
	hash, err := treeNARHash(remoteURL, branch, rev)
	if err != nil {
		return err
	}
	if err := rewriteLiterals(file, src, map[*stringLit]string{lits.rev: rev, lits.sha256: hash}); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: the release's nixpkgs %s -> %s (%s of %s)\n", file, short(lits.rev.value), short(rev), branch, remoteURL)
	return nil
}

// pinBuilder sets DefaultBuilderImage in file to image (REPOSITORY:TAG, default the tag it
// names now) at the digest of the tag's multi-platform index.
func pinBuilder(stdout io.Writer, image, file string) error {
	src, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("%w (run it at the repository's root, or name nixsets/pins.go)", err)
	}
	lit, err := findBuilderLiteral(file, src)
	if err != nil {
		return err
	}
	if image == "" {
		image, _, _ = strings.Cut(lit.value, "@")
	}
	tag, err := name.NewTag(image, name.StrictValidation)
	if err != nil {
		return fmt.Errorf("--image %q: %v; expected REPOSITORY:TAG, e.g. docker.io/nixos/nix:2.28.3", image, err)
	}
	digest, err := indexDigest(tag)
	if err != nil {
		return err
	}
	pinned := qualified(tag) + "@" + digest
	if pinned == lit.value {
		fmt.Fprintf(stdout, "%s: the release's builder is %s, the digest of %s now\n", file, pinned, qualified(tag))
		return nil
	}
	if err := rewriteLiterals(file, src, map[*stringLit]string{lit: pinned}); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: the release's builder %s -> %s\n", file, lit.value, pinned)
	return nil
}

// qualified is a tag as the frontend pins it: with its registry, docker.io for Docker Hub.
func qualified(tag name.Tag) string {
	registry := tag.RegistryStr()
	if registry == name.DefaultRegistry {
		registry = "docker.io"
	}
	return registry + "/" + tag.RepositoryStr() + ":" + tag.TagStr()
}

// indexDigest is the digest of the multi-platform index a tag points at, which must have an
// image for every builder platform.
func indexDigest(tag name.Tag) (string, error) {
	opts := []remote.Option{remote.WithAuthFromKeychain(authn.DefaultKeychain)}
	desc, err := remote.Get(tag, opts...)
	if err != nil {
		return "", fmt.Errorf("resolving %s: %w", qualified(tag), err)
	}
	if !desc.MediaType.IsIndex() {
		return "", fmt.Errorf("%s is a single-platform image (%s); the builder must be a multi-platform index with %s", qualified(tag), desc.MediaType, strings.Join(builderPlatforms, " and "))
	}
	idx, err := desc.ImageIndex()
	if err != nil {
		return "", err
	}
	manifest, err := idx.IndexManifest()
	if err != nil {
		return "", fmt.Errorf("reading the index of %s: %w", qualified(tag), err)
	}
	var have []string
	for _, m := range manifest.Manifests {
		if m.Platform != nil {
			have = append(have, m.Platform.OS+"/"+m.Platform.Architecture)
		}
	}
	for _, p := range builderPlatforms {
		if !slices.Contains(have, p) {
			return "", fmt.Errorf("%s has no %s image (it has %s); pick a tag built for %s", qualified(tag), p, strings.Join(have, ", "), strings.Join(builderPlatforms, " and "))
		}
	}
	return desc.Digest.String(), nil
}

// stringLit is a string literal of a Go file: where it is and what it says.
type stringLit struct {
	start, end int // byte offsets of the quoted literal
	value      string
}

// pinLiterals are DefaultPin's Rev and SHA256 literals.
type pinLiterals struct {
	rev, sha256 *stringLit
}

// parsePins parses a pins file; every error says which file it is about.
func parsePins(file string, src []byte) (*token.FileSet, *ast.File, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, file, src, parser.ParseComments)
	if err != nil {
		return nil, nil, fmt.Errorf("%s is not Go source: %w", file, err)
	}
	return fset, f, nil
}

// findPinLiterals finds `func DefaultPin() Pin { return Pin{Rev: "…", SHA256: "…"} }`.
func findPinLiterals(file string, src []byte) (pinLiterals, error) {
	fset, f, err := parsePins(file, src)
	if err != nil {
		return pinLiterals{}, err
	}
	var lits pinLiterals
	for _, decl := range f.Decls {
		fn, ok := decl.(*ast.FuncDecl)
		if !ok || fn.Name.Name != pinFunc || fn.Recv != nil || fn.Body == nil {
			continue
		}
		ast.Inspect(fn.Body, func(n ast.Node) bool {
			kv, ok := n.(*ast.KeyValueExpr)
			if !ok {
				return true
			}
			key, ok := kv.Key.(*ast.Ident)
			if !ok {
				return true
			}
			switch key.Name {
			case "Rev":
				lits.rev = literalOf(fset, kv.Value)
			case "SHA256":
				lits.sha256 = literalOf(fset, kv.Value)
			}
			return true
		})
	}
	if lits.rev == nil || lits.sha256 == nil {
		return pinLiterals{}, fmt.Errorf("%s has no func %s returning Pin{Rev: \"…\", SHA256: \"…\"} with string literals; name nixsets/pins.go", file, pinFunc)
	}
	return lits, nil
}

// findBuilderLiteral finds `const DefaultBuilderImage = "…"`.
func findBuilderLiteral(file string, src []byte) (*stringLit, error) {
	fset, f, err := parsePins(file, src)
	if err != nil {
		return nil, err
	}
	for _, decl := range f.Decls {
		gen, ok := decl.(*ast.GenDecl)
		if !ok || gen.Tok != token.CONST {
			continue
		}
		for _, spec := range gen.Specs {
			vs, ok := spec.(*ast.ValueSpec)
			if !ok {
				continue
			}
			for i, id := range vs.Names {
				if id.Name == builderConst && i < len(vs.Values) {
					if lit := literalOf(fset, vs.Values[i]); lit != nil {
						return lit, nil
					}
				}
			}
		}
	}
	return nil, fmt.Errorf("%s has no const %s = \"…\" string literal; name nixsets/pins.go", file, builderConst)
}

// literalOf is an expression that is a string literal, or nil.
func literalOf(fset *token.FileSet, e ast.Expr) *stringLit {
	bl, ok := e.(*ast.BasicLit)
	if !ok || bl.Kind != token.STRING {
		return nil
	}
	value, err := strconv.Unquote(bl.Value)
	if err != nil {
		return nil
	}
	return &stringLit{start: fset.Position(bl.Pos()).Offset, end: fset.Position(bl.End()).Offset, value: value}
}

// rewriteLiterals replaces string literals of src with new values, formats the result with
// go/format and writes it over file, keeping its mode.
func rewriteLiterals(file string, src []byte, values map[*stringLit]string) error {
	lits := make([]*stringLit, 0, len(values))
	for lit := range values {
		lits = append(lits, lit)
	}
	// From the end, so that the offsets of the others stay valid.
	slices.SortFunc(lits, func(a, b *stringLit) int { return b.start - a.start })
	out := bytes.Clone(src)
	for _, lit := range lits {
		out = slices.Concat(out[:lit.start], []byte(strconv.Quote(values[lit])), out[lit.end:])
	}
	formatted, err := format.Source(out)
	if err != nil {
		return errors.Join(fmt.Errorf("%s: the rewritten file does not format", file), err)
	}
	info, err := os.Stat(file)
	if err != nil {
		return err
	}
	return os.WriteFile(file, formatted, info.Mode().Perm())
}
