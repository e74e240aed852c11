package laingfile2llb

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/moby/buildkit/client/llb"

	"github.com/laingville/laingfile"
)

func TestConvert(t *testing.T) {
	runtime := func(maxLayers int, copies ...laingfile.Copy) *laingfile.Target {
		return &laingfile.Target{Name: "runtime", Kind: laingfile.KindRuntime, MaxLayers: maxLayers, Copy: copies,
			User: laingfile.User{Name: "app", UID: 1000, GID: 1000, Home: "/app"}, Workdir: "/app",
			Range: laingfile.Range{Start: laingfile.Pos{Line: 3, Column: 1}}}
	}
	context := llb.Local("context")
	epoch := time.Unix(1700000000, 0).UTC()
	appCopy := laingfile.Copy{Src: "app/", Dst: "/app/app", UID: 1000, GID: 1000}
	tests := []struct {
		name        string
		target      *laingfile.Target
		context     *llb.State
		epoch       *time.Time
		wantLayers  []string // the last layers' history, after the store layers
		wantStore   int      // store layers
		wantCreated time.Time
		wantErr     string
		wantRange   int // the line the error points at, 0 for none
	}{
		{name: "one layer per store path within the budget", target: runtime(10), wantStore: len(testFacts().Closure),
			wantLayers: []string{"laingfile: runtime customisation (user app 1000:1000)"}, wantCreated: LayerTime()},
		{name: "a copy takes a layer of the budget, SOURCE_DATE_EPOCH the time", target: runtime(5, appCopy), context: &context, epoch: &epoch,
			wantStore: 3, wantLayers: []string{"laingfile: runtime customisation (user app 1000:1000)", "laingfile: copy app/ /app/app"}, wantCreated: epoch},
		{name: "no layer left for the store", target: runtime(2, appCopy), context: &context,
			wantErr: "maxLayers 2 leaves no layer for the store paths", wantRange: 3},
		{name: "a copy without the build context", target: runtime(10, appCopy),
			wantErr: "copies from the build context, which the conversion was not given"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Convert(Input{
				Target: tt.target, Facts: testFacts(), BuildStep: llb.Image("example.com/nix-out"),
				Store: fixedStore(llb.Image("example.com/store")), Context: tt.context, Merge: true, Epoch: tt.epoch,
			})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				var re *RangeError
				if got := errors.As(err, &re); got != (tt.wantRange != 0) || got && re.Ranges[0].Start.Line != tt.wantRange {
					t.Errorf("error %#v: want it at line %d", err, tt.wantRange)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var store int
			var rest []string
			for _, l := range res.Layers {
				if len(l.StorePaths) > 0 {
					store++
				} else {
					rest = append(rest, l.CreatedBy)
				}
			}
			if store != tt.wantStore || strings.Join(rest, "|") != strings.Join(tt.wantLayers, "|") {
				t.Errorf("%d store layers then %q, want %d then %q", store, rest, tt.wantStore, tt.wantLayers)
			}
			if len(res.Image.History) != len(res.Layers) {
				t.Errorf("%d history entries for %d layers", len(res.Image.History), len(res.Layers))
			}
			if !res.Created.Equal(tt.wantCreated) || res.Image.Created == nil || !res.Image.Created.Equal(tt.wantCreated) {
				t.Errorf("created %v (image %v), want %v", res.Created, res.Image.Created, tt.wantCreated)
			}
			if _, err := res.State.Marshal(t.Context()); err != nil {
				t.Errorf("the image's state: %v", err)
			}
		})
	}
}
