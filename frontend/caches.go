package frontend

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/moby/buildkit/client/llb"
	gwclient "github.com/moby/buildkit/frontend/gateway/client"
	"github.com/moby/buildkit/solver/pb"

	"github.com/laingville/laingfile"
	"github.com/laingville/laingfile/laingfile2llb"
)

// cacheReport is what the build step says one of the Laingfile's binary caches gave it
// (substituters.tsv, see nixsets/build.sh).
type cacheReport struct {
	URL       string
	Fetched   int
	Untrusted int    // substitutes Nix ignored: no signature by a trusted key
	Failure   string // Nix's first complaint about the cache, "" if none
}

// parseCacheReports reads substituters.tsv: URL, fetched, untrusted, failure, tab-separated.
func parseCacheReports(data []byte) ([]cacheReport, error) {
	var out []cacheReport
	for i, line := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
		if line == "" {
			continue
		}
		f := strings.SplitN(line, "\t", 4)
		if len(f) != 4 {
			return nil, fmt.Errorf("substituters.tsv line %d: %d fields, want 4", i+1, len(f))
		}
		fetched, err1 := strconv.Atoi(f[1])
		untrusted, err2 := strconv.Atoi(f[2])
		if err1 != nil || err2 != nil || fetched < 0 || untrusted < 0 {
			return nil, fmt.Errorf("substituters.tsv line %d: counts %q, %q", i+1, f[1], f[2])
		}
		out = append(out, cacheReport{URL: f[0], Fetched: fetched, Untrusted: untrusted, Failure: f[3]})
	}
	return out, nil
}

// cacheWarnings are the warnings about the Laingfile's caches, each at its `substituters:`
// entry: substitutes no key of the entry trusts, and caches Nix could not use.
func cacheWarnings(subs []laingfile.Substituter, reports []cacheReport) []locatedWarning {
	var out []locatedWarning
	for _, r := range reports {
		for i, s := range subs {
			if s.URL != r.URL {
				continue
			}
			what := fmt.Sprintf("substituters[%d]: the binary cache %s", i, s.URL)
			if r.Untrusted > 0 {
				out = append(out, locatedWarning{Range: s.Range, Message: fmt.Sprintf(
					"%s offered %d paths signed by no key in its publicKey (%s): Nix ignored them (untrusted signature) and built or fetched them elsewhere; give the key the cache signs with",
					what, r.Untrusted, strings.Join(s.PublicKeys, ", "))})
			}
			if r.Failure != "" {
				why := strings.TrimSpace(r.Failure)
				why = strings.TrimPrefix(strings.TrimPrefix(why, "warning: "), "error: ")
				why, _, _ = strings.Cut(why, "; retrying")
				if strings.Contains(why, "does not appear to be a binary cache") {
					// Nix says so of a cache whose nix-cache-info it could not read, whatever
					// the reason: not a cache, or a refused token.
					why += ": its nix-cache-info could not be read"
					if s.Secret != "" {
						why += fmt.Sprintf(" (does the cache accept the token in the build secret %q?)", s.Secret)
					}
				}
				out = append(out, locatedWarning{Range: s.Range, Message: fmt.Sprintf("%s could not be used: %s", what, why)})
			}
		}
	}
	return out
}

// locatedWarning is a warning at a Laingfile range.
type locatedWarning struct {
	Range   laingfile.Range
	Message string
}

// warn shows a warning at its Laingfile lines.
func (b *targetBuild) warn(ctx context.Context, w locatedWarning) {
	if b.warnAt != nil {
		b.warnAt(ctx, w.Message, gwclient.WarnOpts{Range: []*pb.Range{pbRange(w.Range)}})
	}
}

// pushToCaches runs the push step for each of the Laingfile's caches that has `push:`, after
// the build step: a failure fails the build at the cache's entry, unless it asks for a best
// effort, when it is a warning there.
func (b *targetBuild) pushToCaches(ctx context.Context, step laingfile2llb.NixStep, nixOut llb.State) error {
	for _, sub := range b.file.Substituters {
		if sub.Push == nil {
			continue
		}
		ref, err := b.solve(ctx, step.PushState(nixOut, sub, location(b.source, sub.Push.Range)))
		if err != nil {
			return b.missingSecret(err)
		}
		// The step runs when its output is first read; it always leaves a warning file, empty
		// unless a best-effort push failed.
		data, err := ref.ReadFile(ctx, gwclient.ReadRequest{Filename: laingfile2llb.OutputDir + "/push-warning"})
		if err != nil {
			return b.missingSecret(err)
		}
		if msg := strings.TrimSpace(string(data)); msg != "" {
			b.warn(ctx, locatedWarning{Range: sub.Push.Range, Message: msg})
		}
	}
	return nil
}
