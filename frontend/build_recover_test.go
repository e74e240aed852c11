package frontend

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerui"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// TestRecoverBuild: a per-platform build that panics, as dockerui runs it (a goroutine of its
// own), ends with an error that says what happened, no stack trace; others pass through.
func TestRecoverBuild(t *testing.T) {
	want := &dockerui.BuildResult{}
	tests := []struct {
		name    string
		fn      dockerui.BuildFunc
		res     *dockerui.BuildResult
		wantErr string
	}{
		{"a nil dereference", func(context.Context, *ocispecs.Platform, int) (*dockerui.BuildResult, error) {
			var p *ocispecs.Platform
			_ = p.OS
			return nil, nil
		}, nil, "laingfile frontend: internal error: runtime error: invalid memory address or nil pointer dereference; please report it with your Laingfile"},
		{"an index out of range", func(_ context.Context, _ *ocispecs.Platform, i int) (*dockerui.BuildResult, error) {
			return nil, errors.New([]string{}[i+1])
		}, nil, "internal error: runtime error: index out of range [1] with length 0"},
		{"a panic with an error", func(context.Context, *ocispecs.Platform, int) (*dockerui.BuildResult, error) {
			panic(errors.New("boom"))
		}, nil, "internal error: boom;"},
		{"an error", func(context.Context, *ocispecs.Platform, int) (*dockerui.BuildResult, error) {
			return nil, errors.New("no such package")
		}, nil, "no such package"},
		{"a result", func(context.Context, *ocispecs.Platform, int) (*dockerui.BuildResult, error) {
			return want, nil
		}, want, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			type out struct {
				res *dockerui.BuildResult
				err error
			}
			done := make(chan out)
			// In a goroutine of its own, as dockerui runs it: an unrecovered panic ends the test binary.
			go func() {
				res, err := recoverBuild(tt.fn)(context.Background(), nil, 0)
				done <- out{res, err}
			}()
			got := <-done
			if got.res != tt.res {
				t.Errorf("result = %v, want %v", got.res, tt.res)
			}
			if tt.wantErr == "" {
				if got.err != nil {
					t.Fatal(got.err)
				}
				return
			}
			if got.err == nil || !strings.Contains(got.err.Error(), tt.wantErr) {
				t.Errorf("error = %v, want one containing %q", got.err, tt.wantErr)
			}
			if strings.Contains(got.err.Error(), "goroutine ") || strings.Contains(got.err.Error(), ".go:") {
				t.Errorf("error carries a stack trace: %v", got.err)
			}
		})
	}
}
