// Package nixstore reads and writes Nix's own formats, for the frontend and the test builder
// image alike: the registration format of a closure (`nix-store --dump-db` and `--load-db`:
// paths, NAR hashes and sizes, references) and Nix's database, an SQLite file whose
// registration times it pins so that a layer holding it depends on the closure alone.
package nixstore

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"path"
	"regexp"
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

// BoundedSize is the sum of the NAR sizes, negative ones as 0, at most MaxNarSize: Size for
// any closure, without overflow.
func (c Closure) BoundedSize() int64 {
	var n int64
	for _, p := range c {
		if p.NarSize > 0 {
			n += min(p.NarSize, MaxNarSize)
			if n >= MaxNarSize {
				return MaxNarSize
			}
		}
	}
	return n
}

// Bounds on a closure from the build step, so that a malformed one is an error, not an
// unbounded allocation: NAR sizes (each and in all) below 2^62 bytes, so that sums and the
// doubling in PlanLayers never overflow; at most maxReferences references per path.
const (
	MaxNarSize    = int64(1) << 62
	maxReferences = 1_000_000
)

// storePathRe is a store path as Nix makes it: the store directory, 32 characters of hash, and
// a name of the characters Nix allows (not starting with a dot).
var storePathRe = regexp.MustCompile(`^` + regexp.QuoteMeta(nar.StoreDir) + `/[0-9a-z]{32}-[A-Za-z0-9+\-_?=][A-Za-z0-9+\-._?=]*$`)

// IsStorePath reports whether p is a store path (/nix/store/<hash>-<name>), nothing below it.
func IsStorePath(p string) bool { return len(p) <= 256 && storePathRe.MatchString(p) }

// ParseRegistration reads a closure in Nix's registration format, the output of
// `nix-store --dump-db PATHS` (stable across Nix releases): for each path, lines with the path,
// its NAR hash, NAR size, deriver (may be empty), the number of references and the references.
// The closure must be closed (every reference is one of its paths) and each path in it once.
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
	seen := map[string]bool{}
	var total int64
	for {
		p, ok := next()
		if !ok {
			break
		}
		if p == "" {
			continue
		}
		if !IsStorePath(p) {
			return nil, fmt.Errorf("closure line %d: expected a store path (%s/<hash>-<name>), got %q", line, nar.StoreDir, p)
		}
		if seen[p] {
			return nil, fmt.Errorf("closure line %d: %s is in the closure twice", line, p)
		}
		seen[p] = true
		hash, ok1 := next()
		size, ok2 := next()
		deriver, ok3 := next()
		count, ok4 := next()
		if !(ok1 && ok2 && ok3 && ok4) {
			if err := sc.Err(); err != nil {
				break // reported below
			}
			return nil, fmt.Errorf("closure line %d: entry for %s is truncated", line, p)
		}
		sri, err := sriHash(hash)
		if err != nil {
			return nil, fmt.Errorf("closure line %d: %s: %w", line-3, p, err)
		}
		narSize, err := strconv.ParseInt(size, 10, 64)
		if err != nil || narSize < 0 || narSize >= MaxNarSize {
			return nil, fmt.Errorf("closure line %d: %s: bad NAR size %q: expected a number of bytes from 0 to 2^62", line-2, p, size)
		}
		if total += narSize; total >= MaxNarSize {
			return nil, fmt.Errorf("closure line %d: the NAR sizes of the closure add up to more than 2^62 bytes", line-2)
		}
		if deriver != "" && !IsStorePath(deriver) {
			return nil, fmt.Errorf("closure line %d: %s: expected a deriver (a store path or nothing), got %q", line-1, p, deriver)
		}
		n, err := strconv.Atoi(count)
		if err != nil || n < 0 || n > maxReferences {
			return nil, fmt.Errorf("closure line %d: %s: bad reference count %q: expected 0 to %d", line, p, count, maxReferences)
		}
		sp := StorePath{Path: p, NarHash: sri, NarSize: narSize, Deriver: deriver}
		for i := 0; i < n; i++ {
			ref, ok := next()
			if !ok {
				if sc.Err() != nil {
					break
				}
				return nil, fmt.Errorf("closure: %s: expected %d references, got %d", p, n, i)
			}
			if !IsStorePath(ref) {
				return nil, fmt.Errorf("closure line %d: %s: expected a reference (a store path), got %q", line, p, ref)
			}
			sp.References = append(sp.References, ref)
		}
		sort.Strings(sp.References)
		out = append(out, sp)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("closure line %d: a line is longer than 1 MiB; expected store paths, hashes and numbers", line+1)
		}
		return nil, fmt.Errorf("closure: %w", err)
	}
	for _, p := range out {
		for _, r := range p.References {
			if !seen[r] {
				return nil, fmt.Errorf("closure: %s refers to %s, which is not in the closure", p.Path, r)
			}
		}
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

// QueryHash is a NAR hash as nix-store --query --hash prints it: "sha256:" and Nix base 32.
func QueryHash(s string) (string, error) {
	sum, ok := nar.ParseSHA256(s)
	if !ok {
		return "", fmt.Errorf("bad NAR hash %q", s)
	}
	return "sha256:" + nar.Base32(sum[:]), nil
}
