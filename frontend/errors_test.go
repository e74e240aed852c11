package frontend

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/solver/errdefs"
	"github.com/moby/buildkit/solver/pb"

	"github.com/laingville/laingfile"
)

// parseWithSource parses a Laingfile and gives the source map a build locates its errors in.
func parseWithSource(t *testing.T, src string) (*laingfile.File, *llb.SourceMap) {
	t.Helper()
	return parse(t, src), llb.NewSourceMap(nil, "Laingfile", "yaml", []byte(src))
}

// checkLocated checks an error's message and the Laingfile ranges it points at (errorRanges).
func checkLocated(t *testing.T, err error, want string, wantRanges []string) {
	t.Helper()
	if err == nil || err.Error() != want {
		t.Errorf("error:\n %v\nwant:\n %s", err, want)
	}
	if ranges := errorRanges(t, err); !reflect.DeepEqual(ranges, wantRanges) {
		t.Errorf("ranges %q, want %q", ranges, wantRanges)
	}
}

// errorRanges are the Laingfile ranges err points at, each as "line:col-line:col text" with the
// text the range covers, so that a case shows what it points at; nil when err has no location.
func errorRanges(t *testing.T, err error) []string {
	t.Helper()
	sources := errdefs.Sources(err)
	if len(sources) > 1 {
		t.Errorf("the error has %d sources, want one", len(sources))
	}
	var out []string
	for _, src := range sources {
		if src.Info.GetFilename() != "Laingfile" || src.Info.GetLanguage() != "yaml" {
			t.Errorf("the error is located in %q (%s), want Laingfile (yaml)", src.Info.GetFilename(), src.Info.GetLanguage())
		}
		for _, r := range src.Ranges {
			out = append(out, pbRangeText(src.Info.GetData(), r))
		}
	}
	return out
}

// pbRangeText is rangeText for a range as BuildKit carries it.
func pbRangeText(data []byte, r *pb.Range) string {
	return rangeText(data, laingfile.Range{
		Start: laingfile.Pos{Line: int(r.GetStart().GetLine()), Column: int(r.GetStart().GetCharacter())},
		End:   laingfile.Pos{Line: int(r.GetEnd().GetLine()), Column: int(r.GetEnd().GetCharacter())},
	})
}

// rangeText is a range as "line:col-line:col text", text being what it covers in data
// (lines 1-based, columns 1-based in code points, the end exclusive).
func rangeText(data []byte, r laingfile.Range) string {
	lines := strings.Split(string(data), "\n")
	var text []string
	for l := r.Start.Line; l <= r.End.Line && l >= 1 && l <= len(lines); l++ {
		line := []rune(lines[l-1])
		from, to := 0, len(line)
		if l == r.Start.Line {
			from = min(max(r.Start.Column-1, 0), len(line))
		}
		if l == r.End.Line {
			to = min(max(r.End.Column-1, from), len(line))
		}
		text = append(text, string(line[from:to]))
	}
	return fmt.Sprintf("%d:%d-%d:%d %s", r.Start.Line, r.Start.Column, r.End.Line, r.End.Column, strings.Join(text, "\n"))
}

func TestLocated(t *testing.T) {
	const src = "nixpkgs:\n  url: https://ci:TOKEN@x.org/n.tar.gz\nkind: runtime\n"
	sm := llb.NewSourceMap(nil, "Laingfile", "yaml", []byte(src))
	cause := errors.New("cause")
	tests := []struct {
		name       string
		err        error
		sm         *llb.SourceMap
		ranges     []laingfile.Range
		wantRanges []string
	}{
		{"a range", cause, sm, []laingfile.Range{{Start: laingfile.Pos{Line: 3, Column: 7}, End: laingfile.Pos{Line: 3, Column: 14}}},
			[]string{"3:7-3:14 runtime"}},
		// The parser does not always know where a value ends.
		{"a range without an end", cause, sm, []laingfile.Range{{Start: laingfile.Pos{Line: 3, Column: 1}}},
			[]string{"3:1-3:1 "}},
		{"several ranges, in order", cause, sm, []laingfile.Range{
			{Start: laingfile.Pos{Line: 3, Column: 1}, End: laingfile.Pos{Line: 3, Column: 5}},
			{Start: laingfile.Pos{Line: 1, Column: 1}, End: laingfile.Pos{Line: 1, Column: 8}},
		}, []string{"3:1-3:5 kind", "1:1-1:8 nixpkgs"}},
		{"no ranges: the source alone", cause, sm, nil, nil},
		{"no source map", cause, nil, []laingfile.Range{{Start: laingfile.Pos{Line: 3, Column: 1}}}, nil},
		{"no error", nil, sm, []laingfile.Range{{Start: laingfile.Pos{Line: 3, Column: 1}}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := located(tt.err, tt.sm, tt.ranges...)
			if !errors.Is(err, tt.err) || (err == nil) != (tt.err == nil) {
				t.Fatalf("located(%v) = %v, want it to wrap the error", tt.err, err)
			}
			if err != nil && err.Error() != tt.err.Error() {
				t.Errorf("message %q, want %q", err, tt.err)
			}
			if got := errorRanges(t, err); !reflect.DeepEqual(got, tt.wantRanges) {
				t.Errorf("ranges %q, want %q", got, tt.wantRanges)
			}
		})
	}
}

// The located error carries the Laingfile as dockerui read it, for buildx to print its lines:
// with the definition of the context it came from, and no token written into a URL.
func TestLocatedSource(t *testing.T) {
	sm := llb.NewSourceMap(nil, "Laingfile", "yaml", []byte("nixpkgs:\n  url: https://ci:TOKEN@x.org/n.tar.gz\n"))
	sm.Definition = &llb.Definition{Def: [][]byte{[]byte("op")}}
	err := located(errors.New("cause"), sm, laingfile.Range{Start: laingfile.Pos{Line: 2, Column: 8}})
	sources := errdefs.Sources(err)
	if len(sources) != 1 {
		t.Fatalf("%d sources, want 1", len(sources))
	}
	info := sources[0].Info
	if got, want := string(info.GetData()), "nixpkgs:\n  url: https://xxxxx@x.org/n.tar.gz\n"; got != want {
		t.Errorf("source data %q, want %q", got, want)
	}
	if got := info.GetDefinition().GetDef(); !reflect.DeepEqual(got, sm.Definition.Def) {
		t.Errorf("source definition %q, want %q", got, sm.Definition.Def)
	}
}

func TestParseError(t *testing.T) {
	const src = "kind: runtime\nsets: [pyton]\nworkdri: /srv\n"
	sm := llb.NewSourceMap(nil, "Laingfile", "yaml", []byte(src))
	setErr := &laingfile.Error{Filename: "Laingfile", Range: laingfile.Range{Start: laingfile.Pos{Line: 2, Column: 8}, End: laingfile.Pos{Line: 2, Column: 13}}, Msg: `unknown set "pyton"`}
	keyErr := &laingfile.Error{Filename: "Laingfile", Range: laingfile.Range{Start: laingfile.Pos{Line: 3, Column: 1}, End: laingfile.Pos{Line: 3, Column: 8}}, Msg: `unknown key "workdri"`}
	other := errors.New("cannot read the Laingfile")
	tests := []struct {
		name       string
		err        error
		wantMsg    string
		wantRanges []string
	}{
		{"a list", laingfile.Errors{setErr, keyErr}, laingfile.Errors{setErr, keyErr}.Error(), []string{"2:8-2:13 pyton", "3:1-3:8 workdri"}},
		{"one", setErr, setErr.Error(), []string{"2:8-2:13 pyton"}},
		{"one, wrapped", fmt.Errorf("parsing: %w", setErr), setErr.Error(), []string{"2:8-2:13 pyton"}},
		{"not the parser's", other, other.Error(), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkLocated(t, parseError(tt.err, sm), tt.wantMsg, tt.wantRanges)
		})
	}
}

// An op built with location carries the ranges, so that a failing step points at them.
func TestLocation(t *testing.T) {
	const src = "kind: runtime\nsets: [base]\n"
	sm := llb.NewSourceMap(nil, "Laingfile", "yaml", []byte(src))
	r := laingfile.Range{Start: laingfile.Pos{Line: 2, Column: 8}, End: laingfile.Pos{Line: 2, Column: 12}}
	def, err := llb.Scratch().File(llb.Mkdir("/x", 0o755), location(sm, r)).Marshal(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, locs := range def.Source.GetLocations() {
		for _, loc := range locs.GetLocations() {
			for _, r := range loc.GetRanges() {
				got = append(got, pbRangeText([]byte(src), r))
			}
		}
	}
	if want := []string{"2:8-2:12 base"}; !reflect.DeepEqual(got, want) {
		t.Errorf("the op's locations %q, want %q", got, want)
	}
}
