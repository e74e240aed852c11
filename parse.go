package laingfile

import "strings"

// The checker is split as docs/laingfile.md is: this file has Parse, the top level of the file
// and the key tables that every mapping is read with; parse_nixpkgs.go, parse_substituters.go,
// parse_targets.go, parse_user.go, parse_copy.go and parse_config.go have the sections of the
// same names; parse_types.go reads values of each YAML type.

// Parse parses and validates a Laingfile. filename is used in error messages only. On success
// the File has every default applied. Otherwise the error is an Errors value holding every
// problem found, in file order, each an *Error with the range of the offending key or value.
func Parse(filename string, data []byte, opts Options) (*File, error) {
	errs := &errorList{filename: filename}
	r := &reader{
		filename: filename,
		errs:     errs,
		args:     opts.BuildArgs,
		argNames: sortedKeys(opts.BuildArgs),
	}
	root := r.readYAML(data)
	f := &File{Filename: filename, Source: data}
	if root != nil {
		c := &checker{errs: errs, opts: opts, r: r}
		c.file(root, f)
	}
	if out := errs.result(); len(out) > 0 {
		return nil, out
	}
	return f, nil
}

// checker validates the node tree against the Laingfile schema and fills in a File.
type checker struct {
	errs *errorList
	opts Options
	r    *reader
}

func (c *checker) errorf(r Range, format string, args ...any) {
	c.errs.add(r, format, args...)
}

// A field is one key of a mapping and how its value is read into R, the state of the mapping
// being read.
type field[R any] struct {
	key  string
	read func(r R, e *entry)
	// missing is set for a required key: it ends the message about its absence, after
	// `missing "key"`.
	missing string
}

// A table is the keys of one mapping and what each does: reading goes through it, and so do
// the messages about unknown keys, so that the two cannot differ. Its order is the order in
// docs/laingfile.md, which is also that of the "expected one of" lists and of "did you mean"
// ties (see Nearest).
type table[R any] []field[R]

// keys returns the keys of t in order.
func (t table[R]) keys() []string {
	keys := make([]string, len(t))
	for i, f := range t {
		keys[i] = f.key
	}
	return keys
}

// has reports whether key is one of t's.
func (t table[R]) has(key string) bool {
	return t.field(key) != nil
}

// field returns the field of key, or nil.
func (t table[R]) field(key string) *field[R] {
	for i := range t {
		if t[i].key == key {
			return &t[i]
		}
	}
	return nil
}

// read passes each entry to the field of its key, in file order, and an entry whose key t
// lacks to other.
func (t table[R]) read(r R, entries []*entry, other func(*entry)) {
	for _, e := range entries {
		if f := t.field(e.key); f != nil {
			f.read(r, e)
		} else {
			other(e)
		}
	}
}

// readMapping reads the mapping n, named what in messages, into r: keys t lacks are unknown
// "in what", and then each required key n lacks is reported. It says whether n has them all.
func (t table[R]) readMapping(c *checker, r R, n *node, what string) bool {
	entries := c.mapping(n, what)
	t.read(r, entries, func(e *entry) { c.unknownKey(e, "in "+what, t.keys()) })
	complete := true
	for _, f := range t {
		if f.missing != "" && !hasKey(entries, f.key) {
			c.errorf(n.rng, "%s: missing %q %s", what, f.key, f.missing)
			complete = false
		}
	}
	return complete
}

func hasKey(entries []*entry, key string) bool {
	for _, e := range entries {
		if e.key == key {
			return true
		}
	}
	return false
}

// mapping returns the entries of a mapping node, reporting duplicate keys. A null is an empty
// mapping (`env:` with nothing after it sets nothing). what is the path of the value for
// messages; "" means the top level.
func (c *checker) mapping(n *node, what string) []*entry {
	switch n.kind {
	case kindNull, kindInvalid:
		return nil
	case kindMap:
	default:
		c.errorf(n.rng, "%s: expected a mapping, got %s", what, n.kind.describe())
		return nil
	}
	first := map[string]*entry{}
	var out []*entry
	for _, e := range n.entries {
		if prev, dup := first[e.key]; dup && !e.merged {
			c.errorf(e.keyRange, "duplicate key %q (first defined at line %d)", e.key, prev.keyRange.Start.Line)
			continue
		}
		first[e.key] = e
		out = append(out, e)
	}
	return out
}

// unknownKey reports a key that is not valid where it is, suggesting the nearest valid one.
func (c *checker) unknownKey(e *entry, where string, valid []string) {
	if hint := DidYouMean(e.key, valid); hint != "" {
		c.errorf(e.keyRange, "unknown key %q %s%s", e.key, where, hint)
		return
	}
	c.errorf(e.keyRange, "unknown key %q %s (expected one of: %s)", e.key, where, strings.Join(valid, ", "))
}

// fileReader is the state of the top level being read.
type fileReader struct {
	*checker
	f *File
	// targets is the `targets:` entry, read after the other keys; shorthand are a single
	// target's keys written at the top level instead.
	targets   *entry
	shorthand []*entry
}

// topFields are the top-level keys besides a single target's (see docs "File structure").
var topFields = table[*fileReader]{
	{key: "nixpkgs", read: func(r *fileReader, e *entry) { r.f.Nixpkgs = r.nixpkgs(e.val) }},
	{key: "overlays", read: func(r *fileReader, e *entry) { r.f.Overlays = r.overlays(e.val) }},
	{key: "substituters", read: func(r *fileReader, e *entry) { r.f.Substituters = r.substituters(e.val) }},
	{key: "targets", read: func(r *fileReader, e *entry) { r.targets = e }},
}

func (c *checker) file(root *node, f *File) {
	if root.kind == kindInvalid {
		return
	}
	if root.kind != kindMap {
		c.errorf(root.rng, "expected a mapping at the top level (\"targets:\", or a single target's keys such as \"kind:\"), got %s", root.kind.describe())
		return
	}
	r := &fileReader{checker: c, f: f}
	topFields.read(r, c.mapping(root, ""), func(e *entry) {
		switch {
		case targetFields.has(e.key):
			r.shorthand = append(r.shorthand, e)
		case strings.HasPrefix(e.key, "x-"):
			// Extension keys are ignored, as in Compose files: a place for YAML anchors.
		default:
			c.unknownKey(e, "at the top level", append(topFields.keys(), targetFields.keys()...))
		}
	})
	switch {
	case r.targets != nil:
		for _, e := range r.shorthand {
			c.errorf(e.keyRange, "%q is a target key, but this file has \"targets:\"; move it into a target", e.key)
		}
		f.Targets = c.targets(r.targets)
	case len(r.shorthand) > 0:
		t := c.target("", Range{}, r.shorthand, root.rng)
		if t != nil {
			f.Targets = []*Target{t}
		}
	default:
		c.errorf(startOf(root.rng), "no targets: expected \"targets:\", or a single target's keys (\"kind:\", \"sets:\", …) at the top level")
	}
}

// startOf is the first position of r, as an empty range.
func startOf(r Range) Range {
	return Range{Start: r.Start, End: r.Start}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
