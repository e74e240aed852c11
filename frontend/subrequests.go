package frontend

import (
	"context"
	"fmt"
	"strings"

	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/frontend/dockerui"
	"github.com/moby/buildkit/frontend/subrequests/outline"
	"github.com/moby/buildkit/frontend/subrequests/targets"
	"github.com/moby/buildkit/solver/pb"

	"github.com/laingville/laingfile"
)

// subrequests answers `docker buildx build --call targets` and `--call outline`.
func subrequests(f *laingfile.File, sm *llb.SourceMap) dockerui.RequestHandler {
	return dockerui.RequestHandler{
		ListTargets: func(context.Context) (*targets.List, error) {
			list := &targets.List{Sources: [][]byte{sm.Data}}
			for i, t := range f.Targets {
				list.Targets = append(list.Targets, targets.Target{
					Name:        t.Name,
					Default:     i == 0,
					Description: describeTarget(t),
					Location:    &pb.Location{Ranges: []*pb.Range{pbRange(t.NameRange)}},
				})
			}
			return list, nil
		},
		Outline: func(context.Context) (*outline.Outline, error) {
			t := f.Target("")
			if t == nil {
				return &outline.Outline{}, nil
			}
			return &outline.Outline{
				Name:        t.Name,
				Description: describeTarget(t),
				Args: []outline.Arg{
					{Name: argSourceDateEpoch, Description: "image creation time, seconds since 1970 (default 1)"},
					{Name: argDisableMerge, Description: "chain layers instead of merging them (what builders without MergeOp do)"},
				},
				Secrets: secrets(f),
				Sources: [][]byte{sm.Data},
			}, nil
		},
	}
}

// secrets are the build secrets the Laingfile's binary caches need.
func secrets(f *laingfile.File) []outline.Secret {
	var out []outline.Secret
	for _, s := range f.Substituters {
		if s.Secret != "" {
			out = append(out, outline.Secret{Name: s.Secret, Required: true, Location: &pb.Location{Ranges: []*pb.Range{pbRange(s.Range)}}})
		}
		if s.Push != nil {
			out = append(out, outline.Secret{Name: s.Push.SigningKey, Required: true, Location: &pb.Location{Ranges: []*pb.Range{pbRange(s.Push.Range)}}})
		}
	}
	return out
}

func describeTarget(t *laingfile.Target) string {
	var sets []string
	for _, s := range t.Sets {
		sets = append(sets, s.Name)
	}
	desc := string(t.Kind)
	if len(sets) > 0 {
		desc += ": " + strings.Join(sets, "+")
	}
	if n := len(t.Packages); n > 0 {
		desc += fmt.Sprintf(" and %d package(s)", n)
	}
	return desc
}
