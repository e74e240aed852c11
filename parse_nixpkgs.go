package laingfile

// This file reads `nixpkgs:`, the pin of the package set, and `overlays:`, which change it.

// nixpkgsReader is the state of `nixpkgs:` being read: the entries of the pin's keys, for the
// rules between them and for their ranges.
type nixpkgsReader struct {
	*checker
	out  *Nixpkgs
	pins map[string]*entry
}

var nixpkgsFields = table[*nixpkgsReader]{
	{key: "rev", read: func(r *nixpkgsReader, e *entry) { r.out.Rev = r.pin(e, "a 40-character commit hash", normaliseRev) }},
	{key: "url", read: func(r *nixpkgsReader, e *entry) { r.out.URL = r.pin(e, "the URL of a nixpkgs tarball", asIs(checkURL)) }},
	{key: "sha256", read: func(r *nixpkgsReader, e *entry) {
		r.out.SHA256 = r.pin(e, "the NAR hash (e.g. "+exampleHash+")", normaliseSHA256)
	}},
	{key: "flakeLock", read: func(r *nixpkgsReader, e *entry) {
		r.out.FlakeLock = r.pin(e, "the path of a flake.lock in the build context (e.g. ./flake.lock)", contextFile)
	}},
	{key: "input", read: func(r *nixpkgsReader, e *entry) {
		r.out.Input = r.pin(e, "the name of a flake input (e.g. nixpkgs)", asIs(checkInputName))
	}},
	{key: "config", read: func(r *nixpkgsReader, e *entry) {
		r.out.Config = r.fragment(e.val, "nixpkgs.config", "a mapping of nixpkgs config options (e.g. allowUnfree: true)")
	}},
}

// pin reads the value of one of the pin's keys, keeping its entry.
func (r *nixpkgsReader) pin(e *entry, expected string, check valueCheck) string {
	r.pins[e.key] = e
	s, _ := r.scalar(e.val, "nixpkgs."+e.key, expected, check)
	return s
}

// valueRange is the range of e's value, zero when there is no e.
func valueRange(e *entry) Range {
	if e == nil {
		return Range{}
	}
	return e.val.rng
}

func (c *checker) nixpkgs(n *node) *Nixpkgs {
	if n.kind == kindNull || n.kind == kindInvalid {
		return nil
	}
	if n.kind != kindMap {
		c.typeError(n, "nixpkgs", "a mapping {rev, sha256}, {url, sha256} or {flakeLock}")
		return nil
	}
	out := &Nixpkgs{Range: n.rng}
	r := &nixpkgsReader{checker: c, out: out, pins: map[string]*entry{}}
	nixpkgsFields.readMapping(c, r, n, "nixpkgs")
	rev, url, hash, lock, input := r.pins["rev"], r.pins["url"], r.pins["sha256"], r.pins["flakeLock"], r.pins["input"]
	out.RevRange, out.URLRange, out.SHA256Range = valueRange(rev), valueRange(url), valueRange(hash)
	out.FlakeLockRange, out.InputRange = valueRange(lock), valueRange(input)
	if lock != nil {
		// The lock file is the whole pin: rev, url and sha256 would contradict it.
		for _, e := range []*entry{rev, url, hash} {
			if e != nil {
				c.errorf(e.keyRange, "nixpkgs: %q cannot be given with \"flakeLock\", which takes the pin from the lock file", e.key)
			}
		}
		if out.Input == "" && input == nil {
			out.Input = DefaultFlakeInput
		}
		return out
	}
	if input != nil {
		c.errorf(input.keyRange, "nixpkgs: \"input\" names an input of a flake.lock; add \"flakeLock\" (e.g. flakeLock: ./flake.lock)")
	}
	switch {
	case rev != nil && url != nil:
		c.errorf(url.keyRange, "nixpkgs: give either \"rev\" or \"url\", not both")
	case rev == nil && url == nil && hash != nil:
		c.errorf(hash.keyRange, "nixpkgs: \"sha256\" needs the \"rev\" (a nixpkgs commit) or \"url\" (a tarball URL) it is the hash of")
	case rev == nil && url == nil && out.Config == nil && input == nil:
		c.errorf(n.rng, "nixpkgs: missing \"rev\" (a nixpkgs commit), \"url\" (a tarball URL) or \"flakeLock\" (a flake.lock in the build context)")
	}
	// Only config: the release's pin with that config.
	if hash == nil && (rev != nil || url != nil) {
		c.errorf(n.rng, "nixpkgs: missing \"sha256\", the NAR hash of the source (e.g. %s)", exampleHash)
	}
	return out
}

func (c *checker) overlays(n *node) []Overlay {
	overlays := stringItems(c, n, "overlays", "a list of overlay names or \"./file.nix\" paths", func(s string, it *node) (Overlay, bool) {
		if isNixPath(s) {
			file, problem := contextFile(s)
			if problem != "" {
				c.errorf(it.rng, "overlays: %s", problem)
			}
			return Overlay{Path: file, Range: it.rng}, problem == ""
		}
		if !contains(c.opts.KnownOverlays, s) {
			hint := nameHint(s, c.opts.KnownOverlays,
				" (there are no built-in overlays; use a file in the build context such as \"./overlay.nix\")",
				" (built-in overlays: %s; or a file in the build context such as \"./overlay.nix\")")
			c.errorf(it.rng, "unknown overlay %q%s", s, hint)
			return Overlay{}, false
		}
		return Overlay{Name: s, Range: it.rng}, true
	})
	if len(overlays) == 0 {
		return nil // none, as without the key
	}
	return overlays
}
