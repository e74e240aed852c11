package frontend

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/moby/buildkit/client/llb"
	gwclient "github.com/moby/buildkit/frontend/gateway/client"

	"github.com/laingville/laingfile"
	"github.com/laingville/laingfile/nixsets"
)

// packageProblemsError reports requested packages that cannot be used, each at the Laingfile
// line that asked for it (the package, or the set that contains it): a missing attribute with
// the nearest name, or why nixpkgs refuses the package, with what Nix said about it (readLog
// reads the build step's nixsets.ProblemLog files).
func packageProblemsError(problems []nixsets.Problem, readLog func(name string) ([]byte, error), t *laingfile.Target, sm *llb.SourceMap) error {
	var errs []error
	var ranges []laingfile.Range
	for _, p := range problems {
		nixSays := ""
		if p.ID != "" {
			if log, err := readLog(nixsets.ProblemLog(p)); err == nil {
				nixSays = nixErrorMessage(string(log))
			}
		}
		r, where, spelled := requestedBy(t, p.Attr)
		p.Attr = spelled
		msg := problemMessage(p, nixSays)
		if where != "" {
			msg += " (from " + where + ")"
		}
		errs = append(errs, errors.New(msg))
		ranges = append(ranges, r)
	}
	return located(errors.Join(errs...), sm, ranges...)
}

// problemMessage says what is wrong with a requested package and what to write instead.
func problemMessage(p nixsets.Problem, nixSays string) string {
	switch p.Problem {
	case nixsets.ProblemNotPackage:
		return fmt.Sprintf("%q is a set of packages, not a package%s", p.Attr, listHint(" (it contains %s)", p.Candidates))
	case nixsets.ProblemMissing:
		if len(p.Prefix) == 0 {
			return fmt.Sprintf("unknown package %q%s", p.Attr, laingfile.DidYouMean(p.Name, p.Candidates))
		}
		return fmt.Sprintf("unknown package %q: %s has no attribute %q%s", p.Attr, strings.Join(p.Prefix, "."), p.Name, laingfile.DidYouMean(p.Name, p.Candidates))
	case nixsets.ProblemUnfree:
		return fmt.Sprintf("%q has an unfree license (%s): to use it, set `allowUnfree: true` under `nixpkgs: config:`",
			p.Attr, strings.Join(p.Details, ", "))
	case nixsets.ProblemBroken:
		return fmt.Sprintf("%q is marked as broken in this nixpkgs: pin a nixpkgs where it builds, or set `allowBroken: true` under `nixpkgs: config:` to try anyway", p.Attr)
	case nixsets.ProblemUnsupported:
		return fmt.Sprintf("%q is not available on %s%s: leave it out of this platform's image or build for a platform it supports",
			p.Attr, p.System, listHint(" (it supports %s)", p.Details))
	case nixsets.ProblemInsecure:
		name, vulns := p.Attr, []string(nil)
		if len(p.Details) > 0 {
			name = p.Details[0]
			// nixpkgs writes paragraphs here; shortened copies leave the report as it was.
			for _, v := range p.Details[1:] {
				vulns = append(vulns, shorten(v, 160))
			}
		}
		return fmt.Sprintf("%q is marked as insecure%s: to use it anyway, list %q under `nixpkgs: config: permittedInsecurePackages:`",
			p.Attr, listHint(" (%s)", vulns), name)
	}
	if nixSays == "" {
		nixSays = "evaluating it fails"
	}
	return fmt.Sprintf("%q cannot be used on %s: %s", p.Attr, p.System, nixSays)
}

// listHint formats up to five names into format, or nothing for none.
func listHint(format string, names []string) string {
	if len(names) == 0 {
		return ""
	}
	if len(names) > 5 {
		names = append(names[:5:5], "…")
	}
	return fmt.Sprintf(format, strings.Join(names, ", "))
}

// nixErrorMessage is the innermost error in Nix's output: the text after its last "error:",
// without the trace hint, on one line and at most a few hundred characters long.
func nixErrorMessage(log string) string {
	i := strings.LastIndex(log, "error:")
	if i < 0 {
		return ""
	}
	msg := log[i+len("error:"):]
	if j := strings.Index(msg, "(use '--show-trace'"); j >= 0 {
		msg = msg[:j]
	}
	return shorten(msg, 400)
}

// shorten puts text on one line of at most max characters.
func shorten(text string, max int) string {
	text = strings.Join(strings.Fields(text), " ")
	if r := []rune(text); len(r) > max {
		text = string(r[:max]) + "…"
	}
	return text
}

// requestedBy finds where an attribute came from: a package entry, a set, or the image kind;
// and how the Laingfile spells it (a package file as written, not as the build step sees it).
func requestedBy(t *laingfile.Target, attr string) (laingfile.Range, string, string) {
	for _, p := range t.Packages {
		if p.Attr == attr {
			return p.Range, "", attr
		}
		if p.Path != "" && strings.HasSuffix(attr, path.Clean("/"+p.Path)) {
			return p.Range, "", p.Path
		}
	}
	for _, s := range t.Sets {
		set, _ := nixsets.Lookup(s.Name)
		for _, a := range set.Attrs {
			if a == attr {
				return s.Range, fmt.Sprintf("set %q", s.Name), attr
			}
		}
	}
	return t.KindRange, fmt.Sprintf("every %s image", t.Kind), attr
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

// checkedFiles are the files of the build context whose absence the gateway reports before
// any work: what the target reads but the pin's flake.lock (the pin says when that is
// missing) and copy sources with wildcards (the copy matches them).
func checkedFiles(f *laingfile.File, t *laingfile.Target) []laingfile.ContextRead {
	var files []laingfile.ContextRead
	for _, r := range f.ContextReads(t) {
		if r.Use != laingfile.UseFlakeLock && !r.Pattern {
			files = append(files, r)
		}
	}
	return files
}

// checkContextFiles reports the files the build context lacks, each at its line with the names
// that do exist, once for all platforms and before Nix or a copy would fail on them (Nix with a
// path inside the build step that the user never wrote).
func (b *targetBuild) checkContextFiles(ctx context.Context) error {
	files := checkedFiles(b.file, b.target)
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
	return missingContextFilesError(func(rel string) (string, bool) { return missingFile(ctx, ref, rel) }, files, b.source)
}

// missingContextFilesError reports the files (checkedFiles) that missing says the build context
// lacks (with its "did you mean" hint), each at its Laingfile line; nil when none is missing.
func missingContextFilesError(missing func(rel string) (hint string, missing bool), files []laingfile.ContextRead, sm *llb.SourceMap) error {
	var errs []error
	var ranges []laingfile.Range
	for _, file := range files {
		if hint, absent := missing(file.Path); absent {
			errs = append(errs, fmt.Errorf("%s %q not found in the build context%s", file.Use, file.Path, hint))
			ranges = append(ranges, file.Range)
		}
	}
	if len(errs) > 0 {
		return located(errors.Join(errs...), sm, ranges...)
	}
	return nil
}

// missingSecret is missingSecretError for the build's binary caches.
func (b *targetBuild) missingSecret(err error) error {
	return missingSecretError(err, b.file.Substituters, b.source)
}

// missingSecretError explains BuildKit's "secret <id>: not found" for a binary cache's secret at
// its Laingfile entry; other errors pass unchanged. The new error does not wrap BuildKit's:
// BuildKit would report the wrapped error's own message instead.
func missingSecretError(err error, subs []laingfile.Substituter, sm *llb.SourceMap) error {
	for _, s := range subs {
		if s.Secret != "" && strings.Contains(err.Error(), "secret "+s.Secret+": not found") {
			return located(fmt.Errorf("the binary cache %s needs the build secret %q: pass it with --secret id=%s,src=FILE (or env=VARIABLE)", s.URL, s.Secret, s.Secret), sm, s.Range)
		}
		if s.Push != nil && strings.Contains(err.Error(), "secret "+s.Push.SigningKey+": not found") {
			return located(fmt.Errorf("pushing to the binary cache %s needs the build secret %q with the cache's signing key: pass it with --secret id=%s,src=FILE (or env=VARIABLE)", s.URL, s.Push.SigningKey, s.Push.SigningKey), sm, s.Push.Range)
		}
	}
	return err
}
