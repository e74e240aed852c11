package frontend

import (
	"context"
	"errors"

	"github.com/laingville/laingfile"
	"github.com/laingville/laingfile/nixsets"
)

// ChoosePin decides a Laingfile's nixpkgs pin as a build does (the Laingfile's rev or url, its
// flake.lock's input, or the release's pin), for tools that run outside BuildKit: readLock reads
// a file of the project. A problem with the pin is a *laingfile.Error at the line it is about.
func ChoosePin(ctx context.Context, f *laingfile.File, readLock func(context.Context, string) ([]byte, error)) (nixsets.Pin, error) {
	choice, err := choosePin(ctx, f.Nixpkgs, readLock)
	var pe pinError
	if errors.As(err, &pe) {
		e := &laingfile.Error{Filename: f.Filename, Msg: pe.err.Error()}
		if len(pe.ranges) > 0 {
			e.Range = pe.ranges[0]
		}
		return nixsets.Pin{}, e
	}
	return choice.Pin, err
}
