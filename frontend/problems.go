package frontend

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/moby/buildkit/client/llb"
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

// checkedContext returns the build context after checking that every `copy:` source exists, so
// that a typo is reported at its line with the names that do exist.
func (b *targetBuild) checkedContext(ctx context.Context) (*llb.State, error) {
	st, err := b.bc.MainContext(ctx)
	if err != nil {
		return nil, err
	}
	def, err := st.Marshal(ctx)
	if err != nil {
		return nil, err
	}
	res, err := b.client.Solve(ctx, gwclient.SolveRequest{Definition: def.ToPB()})
	if err != nil {
		return nil, err
	}
	ref, err := res.SingleRef()
	if err != nil {
		return nil, err
	}
	var errs []error
	var ranges []laingfile.Range
	for _, c := range b.target.Copy {
		src := path.Clean("/" + c.Src)
		if strings.ContainsAny(src, "*?[") {
			continue // wildcards are matched by the copy itself
		}
		if _, err := ref.StatFile(ctx, gwclient.StatRequest{Path: src}); err == nil {
			continue
		}
		var names []string
		if entries, err := ref.ReadDir(ctx, gwclient.ReadDirRequest{Path: path.Dir(src)}); err == nil {
			for _, e := range entries {
				names = append(names, e.GetPath())
			}
		}
		errs = append(errs, fmt.Errorf("copy source %q not found in the build context%s", c.Src, laingfile.DidYouMean(path.Base(src), names)))
		ranges = append(ranges, c.Range)
	}
	if len(errs) > 0 {
		return nil, located(errors.Join(errs...), b.source, ranges...)
	}
	return st, nil
}
