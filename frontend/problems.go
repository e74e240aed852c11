package frontend

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"

	gwclient "github.com/moby/buildkit/frontend/gateway/client"

	"github.com/laingville/laingfile/frontend/laingfile"
	"github.com/laingville/laingfile/nixsets"
)

// packageProblems reports attributes that nixpkgs does not have, each at the Laingfile line
// that asked for it (the package, or the set that contains it), with the nearest name.
func (b *targetBuild) packageProblems(problems []nixsets.Problem) error {
	var errs []error
	var ranges []laingfile.Range
	for _, p := range problems {
		msg := problemMessage(p)
		r, where := b.requestedBy(p.Attr)
		if where != "" {
			msg += " (from " + where + ")"
		}
		errs = append(errs, errors.New(msg))
		ranges = append(ranges, r)
	}
	return located(errors.Join(errs...), b.source, ranges...)
}

func problemMessage(p nixsets.Problem) string {
	if p.Problem == "notPackage" {
		hint := ""
		if len(p.Candidates) > 0 {
			shown := p.Candidates
			if len(shown) > 5 {
				shown = shown[:5]
			}
			hint = fmt.Sprintf(" (it contains %s)", strings.Join(shown, ", "))
		}
		return fmt.Sprintf("%q is a set of packages, not a package%s", p.Attr, hint)
	}
	if len(p.Prefix) == 0 {
		return fmt.Sprintf("unknown package %q%s", p.Attr, laingfile.DidYouMean(p.Name, p.Candidates))
	}
	return fmt.Sprintf("unknown package %q: %s has no attribute %q%s", p.Attr, strings.Join(p.Prefix, "."), p.Name, laingfile.DidYouMean(p.Name, p.Candidates))
}

// requestedBy finds where an attribute came from: a package entry, a set, or the image kind.
func (b *targetBuild) requestedBy(attr string) (laingfile.Range, string) {
	for _, p := range b.target.Packages {
		if p.Attr == attr || (p.Path != "" && strings.HasSuffix(attr, path.Clean("/"+p.Path))) {
			return p.Range, ""
		}
	}
	for _, s := range b.target.Sets {
		set, _ := nixsets.Lookup(s.Name)
		for _, a := range set.Attrs {
			if a == attr {
				return s.Range, fmt.Sprintf("set %q", s.Name)
			}
		}
	}
	return b.target.KindRange, fmt.Sprintf("every %s image", b.target.Kind)
}

// missingFile reports whether rel is missing from a build context, with a "did you mean" hint
// from the names in its directory.
func missingFile(ctx context.Context, ref gwclient.Reference, rel string) (string, bool) {
	p := path.Clean("/" + rel)
	if _, err := ref.StatFile(ctx, gwclient.StatRequest{Path: p}); err == nil {
		return "", false
	}
	var names []string
	if entries, err := ref.ReadDir(ctx, gwclient.ReadDirRequest{Path: path.Dir(p)}); err == nil {
		for _, e := range entries {
			names = append(names, e.GetPath())
		}
	}
	return laingfile.DidYouMean(path.Base(p), names), true
}

// readFiles are the files a target reads from the build context: overlay and package files
// for Nix, and `copy:` sources (wildcards are matched by the copy itself).
func readFiles(f *laingfile.File, t *laingfile.Target) (files []string, ranges []laingfile.Range, kinds []string) {
	for _, o := range f.Overlays {
		if o.Path != "" {
			files, ranges, kinds = append(files, o.Path), append(ranges, o.Range), append(kinds, "overlay")
		}
	}
	for _, p := range t.Packages {
		if p.Path != "" {
			files, ranges, kinds = append(files, p.Path), append(ranges, p.Range), append(kinds, "package file")
		}
	}
	for _, c := range t.Copy {
		if !strings.ContainsAny(c.Src, "*?[") {
			files, ranges, kinds = append(files, c.Src), append(ranges, c.Range), append(kinds, "copy source")
		}
	}
	return files, ranges, kinds
}

// checkContextFiles reports the files the build context lacks, each at its line with the names
// that do exist, once for all platforms and before Nix or a copy would fail on them (Nix with a
// path inside the build step that the user never wrote).
func (b *targetBuild) checkContextFiles(ctx context.Context) error {
	files, fileRanges, kinds := readFiles(b.file, b.target)
	if len(files) == 0 {
		return nil
	}
	st, err := b.bc.MainContext(ctx)
	if err != nil {
		return err
	}
	ref, err := b.solve(ctx, *st)
	if err != nil {
		return err
	}
	var errs []error
	var ranges []laingfile.Range
	for i, f := range files {
		if hint, missing := missingFile(ctx, ref, f); missing {
			errs = append(errs, fmt.Errorf("%s %q not found in the build context%s", kinds[i], f, hint))
			ranges = append(ranges, fileRanges[i])
		}
	}
	if len(errs) > 0 {
		return located(errors.Join(errs...), b.source, ranges...)
	}
	return nil
}

// missingSecret explains BuildKit's "secret <id>: not found" for a binary cache's secret at
// its Laingfile entry; other errors pass unchanged. The new error does not wrap BuildKit's:
// BuildKit would report the wrapped error's own message instead.
func (b *targetBuild) missingSecret(err error) error {
	for _, s := range b.file.Substituters {
		if s.Secret != "" && strings.Contains(err.Error(), "secret "+s.Secret+": not found") {
			return located(fmt.Errorf("the binary cache %s needs the build secret %q: pass it with --secret id=%s,src=FILE (or env=VARIABLE)", s.URL, s.Secret, s.Secret), b.source, s.Range)
		}
	}
	return err
}
