// Package llb turns a validated Laingfile target into BuildKit LLB: the Nix build step, the
// plan of one layer per store path, the layer states, the customisation layer for the image
// kind, the build-context copies, their merge, and the image configuration. Every function is
// pure (no BuildKit client), so the LLB shape is unit-tested without a daemon.
package llb

import (
	"bufio"
	"bytes"
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/laingville/laingfile/internal/nar"
)

// StorePath is one entry of a closure manifest.
type StorePath struct {
	Path string // /nix/store/<hash>-<name>
	// NarHash is in SRI form ("sha256-…").
	NarHash    string
	NarSize    int64
	Deriver    string
	References []string
}

// Name is the store path without its directory and hash ("openssl-3.0.13").
func (p StorePath) Name() string {
	base := path.Base(p.Path)
	if i := strings.IndexByte(base, '-'); i >= 0 {
		return base[i+1:]
	}
	return base
}

// Closure is every store path an image needs, sorted by path.
type Closure []StorePath

// Size is the sum of the NAR sizes.
func (c Closure) Size() int64 {
	var n int64
	for _, p := range c {
		n += p.NarSize
	}
	return n
}

// ParseRegistration reads a closure in Nix's registration format, the output of
// `nix-store --dump-db PATHS` (stable across Nix releases): for each path, lines with the path,
// its NAR hash, NAR size, deriver (may be empty), the number of references and the references.
func ParseRegistration(data []byte) (Closure, error) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	line := 0
	next := func() (string, bool) {
		if !sc.Scan() {
			return "", false
		}
		line++
		return sc.Text(), true
	}
	var out Closure
	for {
		p, ok := next()
		if !ok {
			break
		}
		if p == "" {
			continue
		}
		if !strings.HasPrefix(p, "/") {
			return nil, fmt.Errorf("closure line %d: expected a store path, got %q", line, p)
		}
		hash, ok1 := next()
		size, ok2 := next()
		deriver, ok3 := next()
		count, ok4 := next()
		if !(ok1 && ok2 && ok3 && ok4) {
			return nil, fmt.Errorf("closure line %d: entry for %s is truncated", line, p)
		}
		sri, err := sriHash(hash)
		if err != nil {
			return nil, fmt.Errorf("closure line %d: %s: %w", line-3, p, err)
		}
		narSize, err := strconv.ParseInt(size, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("closure line %d: %s: bad NAR size %q", line-2, p, size)
		}
		n, err := strconv.Atoi(count)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("closure line %d: %s: bad reference count %q", line, p, count)
		}
		sp := StorePath{Path: p, NarHash: sri, NarSize: narSize, Deriver: deriver}
		for i := 0; i < n; i++ {
			ref, ok := next()
			if !ok {
				return nil, fmt.Errorf("closure: %s: expected %d references, got %d", p, n, i)
			}
			sp.References = append(sp.References, ref)
		}
		sort.Strings(sp.References)
		out = append(out, sp)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("closure: %w", err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

// sriHash converts the NAR hash forms Nix prints (bare base16, "sha256:" with base16 or Nix
// base32, or SRI) to SRI.
func sriHash(s string) (string, error) {
	sum, ok := nar.ParseSHA256(s)
	if !ok {
		return "", fmt.Errorf("bad NAR hash %q: expected a sha256 in base16, Nix base32 or SRI form", s)
	}
	return nar.SRI(sum), nil
}
