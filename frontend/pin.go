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
	"github.com/laingville/laingfile/internal/nar"
	"github.com/laingville/laingfile/nixsets"
)

// pinChoice is the nixpkgs a build fetches and where the Laingfile says so. The `nixpkgs` named
// context still replaces it (see targetBuild.nixStep), but the choice is made, and a broken
// flake.lock reported, either way.
type pinChoice struct {
	Pin nixsets.Pin
	// From says where the pin comes from, for messages: "the release's pin", "nixpkgs.rev",
	// "nixpkgs.url" or `flake.lock input "nixpkgs"`.
	From string
	// HashRanges are the Laingfile ranges a wrong hash is reported at: the sha256 and the rev
	// or url, or the flakeLock (and input) line; none for the release's pin.
	HashRanges []laingfile.Range
	// lock is set when the pin follows a flake.lock.
	lock bool
}

// choosePin decides the nixpkgs pin: the Laingfile's rev or url with its sha256, else the input
// of its flake.lock (readLock reads a file of the build context), else the release's pin. A
// `nixpkgs:` with only config keeps the release's pin.
func choosePin(ctx context.Context, n *laingfile.Nixpkgs, readLock func(context.Context, string) ([]byte, error)) (pinChoice, error) {
	switch {
	case n == nil || (n.Rev == "" && n.URL == "" && n.FlakeLock == ""):
		return pinChoice{Pin: nixsets.DefaultPin(), From: "the release's pin"}, nil
	case n.Rev != "":
		return pinChoice{Pin: nixsets.Pin{Rev: n.Rev, SHA256: n.SHA256}, From: "nixpkgs.rev", HashRanges: []laingfile.Range{n.SHA256Range, n.RevRange}}, nil
	case n.URL != "":
		return pinChoice{Pin: nixsets.Pin{URL: n.URL, SHA256: n.SHA256}, From: "nixpkgs.url", HashRanges: []laingfile.Range{n.SHA256Range, n.URLRange}}, nil
	}
	ranges := []laingfile.Range{n.FlakeLockRange}
	if n.InputRange.Start.Line > 0 {
		ranges = append(ranges, n.InputRange)
	}
	data, err := readLock(ctx, n.FlakeLock)
	if err != nil {
		return pinChoice{}, pinError{fmt.Errorf("nixpkgs.flakeLock: %w", err), []laingfile.Range{n.FlakeLockRange}}
	}
	pin, err := nixsets.PinFromFlakeLockContext(ctx, data, n.Input)
	if err != nil {
		var unknown *nixsets.UnknownInputError
		if errors.As(err, &unknown) {
			msg := fmt.Sprintf("nixpkgs.input: %s has no input %q%s", n.FlakeLock, unknown.Input, laingfile.DidYouMean(unknown.Input, unknown.Inputs))
			if len(unknown.Inputs) > 0 {
				msg += "; its inputs are: " + strings.Join(unknown.Inputs, ", ")
			}
			at := n.InputRange
			if at.Start.Line == 0 {
				at = n.FlakeLockRange // the default input, "nixpkgs"
				msg = strings.Replace(msg, "nixpkgs.input:", "nixpkgs.flakeLock:", 1) + " (name one with input:)"
			}
			return pinChoice{}, pinError{errors.New(msg), []laingfile.Range{at}}
		}
		return pinChoice{}, pinError{fmt.Errorf("nixpkgs.flakeLock: %s: %w", n.FlakeLock, err), []laingfile.Range{n.FlakeLockRange}}
	}
	return pinChoice{Pin: pin, From: fmt.Sprintf("%s input %q", strings.TrimPrefix(n.FlakeLock, "./"), n.Input), HashRanges: ranges, lock: true}, nil
}

// pinError is a problem with the pin and the Laingfile ranges it is about.
type pinError struct {
	err    error
	ranges []laingfile.Range
}

func (e pinError) Error() string { return e.err.Error() }
func (e pinError) Unwrap() error { return e.err }

// readContextFile reads one file of the build context, transferring only that file.
func (b *targetBuild) readContextFile(ctx context.Context, rel string) ([]byte, error) {
	name := path.Clean("/" + rel)[1:]
	st, err := b.bc.MainContext(ctx,
		llb.FollowPaths([]string{name}),
		// A key of its own, so that this one-file transfer and the whole context's do not
		// share (and resync) one snapshot.
		llb.SharedKeyHint("laingfile:"+name),
		llb.WithCustomName("load "+rel))
	if err != nil {
		return nil, err
	}
	ref, err := b.solve(ctx, *st)
	if err != nil {
		return nil, err
	}
	return readLockFile(ctx, ref, rel)
}

// readLockFile reads rel from a solved build context, refusing a file larger than a flake.lock
// may be before it is transferred.
func readLockFile(ctx context.Context, ref gwclient.Reference, rel string) ([]byte, error) {
	name := path.Clean("/" + rel)[1:]
	info, err := ref.StatFile(ctx, gwclient.StatRequest{Path: name})
	if err != nil {
		return nil, fmt.Errorf("%s is not in the build context", rel)
	}
	if info.Size > nixsets.MaxFlakeLockSize {
		return nil, fmt.Errorf("%s is %d bytes; expected a lock file of at most %d bytes (1 MiB)", rel, info.Size, nixsets.MaxFlakeLockSize)
	}
	// At most one byte more than the limit, however the file grew since.
	return ref.ReadFile(ctx, gwclient.ReadRequest{Filename: name, Range: &gwclient.FileRange{Length: nixsets.MaxFlakeLockSize + 1}})
}

// hashMismatchError turns the build step's report of a fetch with the wrong NAR hash into an
// error at the Laingfile lines responsible: the pin when it is the nixpkgs source (unless the
// `nixpkgs` named context replaced it), else the overlays and packages (a fetch of theirs).
func hashMismatchError(m *nixsets.HashMismatch, pin pinChoice, pinReplaced bool, f *laingfile.File, t *laingfile.Target, sm *llb.SourceMap) error {
	got := m.Got
	if sum, ok := nar.ParseSHA256(m.Got); ok {
		got = nar.SRI(sum)
	}
	specified := m.Specified
	if sum, ok := nar.ParseSHA256(m.Specified); ok {
		specified = nar.SRI(sum)
	}
	if !pinReplaced && m.URL == pin.Pin.TarballURL() {
		var msg string
		switch {
		case pin.lock:
			msg = fmt.Sprintf("nixpkgs: the narHash of %s does not match the source: the lock gives %s, but %s has NAR hash %s; check the source and refresh the lock (nix flake lock)", pin.From, specified, m.URL, got)
		case len(pin.HashRanges) == 0:
			return fmt.Errorf("nixpkgs: the release's pin does not match its source: %s has NAR hash %s, not %s; pin nixpkgs in the Laingfile and report this", m.URL, got, specified)
		default:
			msg = fmt.Sprintf("nixpkgs sha256 does not match: got %s for %s, the Laingfile gives %s; if the source is the one you meant, write sha256: %s", got, m.URL, specified, got)
		}
		return located(errors.New(msg), sm, pin.HashRanges...)
	}
	var ranges []laingfile.Range
	for _, o := range f.Overlays {
		if o.Path != "" {
			ranges = append(ranges, o.Range)
		}
	}
	for _, p := range t.Packages {
		if p.Path != "" {
			ranges = append(ranges, p.Range)
		}
	}
	return located(fmt.Errorf("a source fetched while evaluating the overlays or package files does not have the hash it is given: %s has NAR hash %s, not %s", m.URL, got, specified), sm, ranges...)
}
