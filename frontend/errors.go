package frontend

import (
	"errors"

	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/solver/errdefs"
	"github.com/moby/buildkit/solver/pb"

	"github.com/laingville/laingfile"
	"github.com/laingville/laingfile/internal/redact"
)

// located attaches Laingfile positions to an error, so that buildx prints the offending lines
// under the message, as it does for a Dockerfile.
func located(err error, sm *llb.SourceMap, ranges ...laingfile.Range) error {
	if err == nil || sm == nil {
		return err
	}
	// buildx prints the lines under the message: a token written into a URL is not repeated.
	src := &errdefs.Source{Info: &pb.SourceInfo{
		Data:     []byte(redact.URLs(string(sm.Data))),
		Filename: sm.Filename,
		Language: sm.Language,
	}}
	if sm.Definition != nil {
		src.Info.Definition = sm.Definition.ToPB()
	}
	for _, r := range ranges {
		src.Ranges = append(src.Ranges, pbRange(r))
	}
	return errdefs.WithSource(err, src)
}

// parseError turns the parser's errors into one located error that keeps every message.
func parseError(err error, sm *llb.SourceMap) error {
	var list laingfile.Errors
	if !errors.As(err, &list) {
		var one *laingfile.Error
		if !errors.As(err, &one) {
			return err
		}
		list = laingfile.Errors{one}
	}
	var ranges []laingfile.Range
	for _, e := range list {
		ranges = append(ranges, e.Range)
	}
	return located(list, sm, ranges...)
}

func pbRange(r laingfile.Range) *pb.Range {
	end := r.End
	if end.Line == 0 {
		end = r.Start
	}
	return &pb.Range{
		Start: &pb.Position{Line: int32(r.Start.Line), Character: int32(r.Start.Column)},
		End:   &pb.Position{Line: int32(end.Line), Character: int32(end.Column)},
	}
}

// location is the LLB constraint that ties an op to Laingfile ranges, so that a failing step
// points at the lines that asked for it.
func location(sm *llb.SourceMap, ranges ...laingfile.Range) llb.ConstraintsOpt {
	var pbr []*pb.Range
	for _, r := range ranges {
		pbr = append(pbr, pbRange(r))
	}
	return sm.Location(pbr)
}
