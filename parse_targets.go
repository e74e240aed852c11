package laingfile

import (
	"fmt"
	"strconv"
	"strings"
)

// This file reads `targets:` and the keys of a target, and applies the defaults per kind; the
// larger keys have files of their own (parse_user.go, parse_copy.go, parse_config.go).

// MaxLayersLimit is the most layers a target may ask for: Docker refuses to run images with more
// than about 125 layers.
const MaxLayersLimit = 125

// MinMaxLayers is the fewest layers a target may ask for: the store needs one layer and the
// customisation layer another.
const MinMaxLayers = 2

func (c *checker) targets(e *entry) []*Target {
	n := e.val
	if !c.isMapping(n, "targets", "a mapping of target names to targets") {
		return nil
	}
	if len(n.entries) == 0 {
		rng := n.rng
		if n.kind == kindNull {
			rng = e.keyRange
		}
		c.errorf(rng, "targets: expected at least one target (e.g. \"runtime:\" with \"kind: runtime\")")
		return nil
	}
	var out []*Target
	first := map[string]*entry{}
	for _, te := range n.entries {
		if prev, dup := first[te.key]; dup && !te.merged {
			c.errorf(te.keyRange, "duplicate target %q (first defined at line %d)", te.key, prev.keyRange.Start.Line)
			continue
		}
		first[te.key] = te
		if !targetNameRe.MatchString(te.key) {
			c.errorf(te.keyRange, "invalid target name %q: use lower-case letters, digits, \".\", \"_\" and \"-\", starting with a letter or digit", te.key)
		}
		if !c.isMapping(te.val, "target "+strconv.Quote(te.key), "a mapping of target settings (kind, sets, …)") {
			continue
		}
		rng := te.val.rng
		if te.val.kind == kindNull {
			rng = te.keyRange
		}
		if t := c.target(te.key, te.keyRange, c.mapping(te.val, te.key), rng); t != nil {
			out = append(out, t)
		}
	}
	return out
}

// targetReader is the state of one target being read: what the defaults and the checks
// between keys need.
type targetReader struct {
	*checker
	t         *Target
	kindSeen  bool
	userSpec  userSpec
	metadata  *entry
	maxLayers *entry
	chowns    []Range // the range of each Copy's chown
}

// targetFields are the keys of a target (docs "Target keys").
var targetFields = table[*targetReader]{
	{key: "kind", read: func(r *targetReader, e *entry) {
		r.kindSeen, r.t.KindRange = true, e.val.rng
		if s, ok := r.named(e.val, "kind", "devcontainer or runtime", checkKind); ok {
			r.t.Kind = Kind(s)
		}
	}},
	{key: "sets", read: func(r *targetReader, e *entry) { r.t.Sets = r.sets(e.val) }},
	{key: "packages", read: func(r *targetReader, e *entry) { r.t.Packages = r.packages(e.val) }},
	{key: "user", read: func(r *targetReader, e *entry) { r.userSpec = r.user(e.val) }},
	{key: "workdir", read: func(r *targetReader, e *entry) {
		r.t.Workdir, _ = r.scalar(e.val, "workdir", "an absolute path", cleanAbsPath)
	}},
	{key: "env", read: func(r *targetReader, e *entry) {
		r.t.Env = r.keyValues(e.val, "env", "a mapping of variable names to values", true)
	}},
	{key: "entrypoint", read: func(r *targetReader, e *entry) { r.t.Entrypoint = r.args(e.val, "entrypoint") }},
	{key: "cmd", read: func(r *targetReader, e *entry) { r.t.Cmd = r.args(e.val, "cmd") }},
	{key: "labels", read: func(r *targetReader, e *entry) {
		r.t.Labels = r.keyValues(e.val, "labels", "a mapping of label names to values", false)
	}},
	{key: "expose", read: func(r *targetReader, e *entry) { r.t.Expose = r.ports(e.val) }},
	{key: "volumes", read: func(r *targetReader, e *entry) { r.t.Volumes = r.volumes(e.val) }},
	{key: "stopsignal", read: func(r *targetReader, e *entry) {
		r.t.StopSignal, _ = r.named(e.val, "stopsignal", "a signal name such as SIGTERM", normaliseSignal)
	}},
	{key: "copy", read: func(r *targetReader, e *entry) { r.t.Copy, r.chowns = r.copies(e.val) }},
	{key: "metadata", read: func(r *targetReader, e *entry) {
		r.metadata = e
		r.t.Metadata = r.fragment(e.val, "metadata", "a mapping of devcontainer metadata (e.g. customizations)")
	}},
	{key: "config", read: func(r *targetReader, e *entry) { r.t.Config = r.ociConfig(e.val) }},
	{key: "maxLayers", read: func(r *targetReader, e *entry) {
		r.maxLayers = e
		expected := fmt.Sprintf("an integer from %d to %d", MinMaxLayers, MaxLayersLimit)
		if n, ok := r.integer(e.val, "maxLayers", expected, checkMaxLayers); ok {
			r.t.MaxLayers = n
		}
	}},
}

// checkKind checks a target's kind; its problem names the kind, as messages about names do.
func checkKind(s string) (string, string) {
	if kinds := kindNames(); !contains(kinds, s) {
		return "", fmt.Sprintf("unknown kind %q: expected devcontainer or runtime%s", s, DidYouMean(s, kinds))
	}
	return s, ""
}

func checkMaxLayers(n int64) string {
	switch {
	case n > MaxLayersLimit:
		return fmt.Sprintf("%d is more than Docker's limit of %d layers per image", n, MaxLayersLimit)
	case n < MinMaxLayers:
		return fmt.Sprintf("%d is too few; an image needs at least %d layers (the store and the customisation layer)", n, MinMaxLayers)
	}
	return ""
}

// target builds one target from its entries; name is "" for the single-target shorthand, whose
// name is then its kind.
func (c *checker) target(name string, nameRange Range, entries []*entry, rng Range) *Target {
	r := &targetReader{checker: c, t: &Target{Name: name, NameRange: nameRange, Range: rng}}
	t := r.t
	where := "in target " + strconv.Quote(name)
	if name == "" {
		where = "at the top level"
	}
	targetFields.read(r, entries, func(e *entry) {
		if topFields.has(e.key) {
			c.errorf(e.keyRange, "%q is a top-level key, not a target key; move it to the top level", e.key)
			return
		}
		c.unknownKey(e, where, targetFields.keys())
	})
	if !r.kindSeen {
		if name == "" {
			c.errorf(startOf(rng), "missing \"kind\" (expected devcontainer or runtime)")
		} else {
			c.errorf(nameRange, "target %q has no \"kind\" (expected devcontainer or runtime)", name)
		}
		return nil
	}
	if t.Kind == "" {
		return nil // an unknown kind was reported
	}
	if name == "" {
		t.Name = string(t.Kind)
		t.NameRange = t.KindRange
	}
	if r.metadata != nil && !t.Kind.Traits().Metadata {
		c.errorf(r.metadata.keyRange, "\"metadata\" is only valid for kind devcontainer (it becomes the devcontainer.metadata label)")
	}
	if r.maxLayers == nil {
		t.MaxLayers = DefaultMaxLayers
	}
	applyDefaults(t, r.userSpec)
	for i := range t.Copy {
		cp := &t.Copy[i]
		cp.UID, cp.GID = t.User.UID, t.User.GID
		if cp.Chown == "" {
			continue
		}
		var problem string
		if cp.UID, cp.GID, problem = chownIDs(cp.Chown, t); problem != "" {
			c.errorf(r.chowns[i], "copy[%d].chown: %s", i, problem)
		}
	}
	return t
}

// applyDefaults fills in the user and workdir from the kind's defaults; see Target and User.
func applyDefaults(t *Target, u userSpec) {
	kind := t.Kind.Traits()
	if kind.DefaultUser == "" {
		// An unknown kind, already an error: the first kind's defaults, so that the other
		// messages read as they would for it.
		kind = KindDevcontainer.Traits()
	}
	name := u.name
	if name == "" {
		name = kind.DefaultUser
	}
	if u.name == "" && u.isRoot() {
		name = "root" // uid 0 is root
	}
	uid, gid := 1000, 1000
	if name == "root" {
		uid, gid = 0, 0
	}
	if u.uid != nil {
		uid, gid = *u.uid, *u.uid
	}
	if u.gid != nil {
		gid = *u.gid
	}
	if t.Workdir == "" {
		t.Workdir = kind.DefaultWorkdir
	}
	home := u.home
	switch {
	case home != "":
	case name == "root":
		home = "/root"
	case kind.HomeIsWorkdir:
		home = t.Workdir
	default:
		home = "/home/" + name
	}
	t.User = User{Name: name, UID: uid, GID: gid, Home: home, Range: u.rng}
}

// args reads an entrypoint or cmd: nil when the Laingfile leaves it to the kind's default (or it
// is wrong), so that only an explicit `[]` clears it.
func (c *checker) args(n *node, what string) []string {
	list, ok := c.textList(n, what)
	if !ok || n.kind == kindNull {
		return nil
	}
	return list
}

func (c *checker) sets(n *node) []SetRef {
	sets := stringItems(c, n, "sets", "a list of set names", func(s string, it *node) (SetRef, bool) {
		if !contains(c.opts.KnownSets, s) {
			hint := nameHint(s, c.opts.KnownSets, " (no package sets are defined)", " (known sets: %s)")
			c.errorf(it.rng, "unknown set %q%s", s, hint)
			return SetRef{}, false
		}
		return SetRef{Name: s, Range: it.rng}, true
	})
	return withoutRepeats(sets, func(s SetRef) string { return s.Name })
}

func (c *checker) packages(n *node) []Package {
	packages := stringItems(c, n, "packages", "a list of nixpkgs attribute paths or \"./file.nix\" paths", func(s string, it *node) (Package, bool) {
		switch {
		case isNixPath(s):
			file, problem := contextFile(s)
			if problem != "" {
				c.errorf(it.rng, "packages: %s", problem)
				return Package{}, false
			}
			return Package{Path: file, Range: it.rng}, true
		case attrPathRe.MatchString(s):
			return Package{Attr: s, Range: it.rng}, true
		}
		msg := fmt.Sprintf("invalid package %q: expected a nixpkgs attribute path (e.g. python312Packages.pip) or a file in the build context starting with \"./\"", s)
		if strings.Contains(s, "/") && contextPath(s) == "" {
			msg += fmt.Sprintf(" (did you mean %q?)", cleanNixPath(s))
		}
		c.errorf(it.rng, "%s", msg)
		return Package{}, false
	})
	return withoutRepeats(packages, func(p Package) string { return p.Attr + "\x00" + p.Path })
}

// keyValues reads env or labels: a mapping to scalars, kept in file order.
func (c *checker) keyValues(n *node, what, expected string, env bool) []KeyValue {
	if !c.isMapping(n, what, expected) {
		return nil
	}
	out := []KeyValue{}
	for _, e := range c.mapping(n, what) {
		switch {
		case env && !envNameRe.MatchString(e.key):
			c.errorf(e.keyRange, "env: invalid variable name %q: use letters, digits and \"_\", not starting with a digit", e.key)
			continue
		case !env && e.key == "":
			c.errorf(e.keyRange, "labels: a label name cannot be empty")
			continue
		case !env:
			if ch, bad := firstControl(e.key, ""); bad {
				c.errorf(e.keyRange, "labels: the label name %q contains %s; expected printable characters (e.g. org.opencontainers.image.version)", e.key, describeChar(ch))
				continue
			}
		}
		if e.val.kind == kindNull {
			c.errorf(e.val.rng, "%s.%s: expected a value, got nothing (write \"\" for an empty string)", what, e.key)
			continue
		}
		if s, ok := c.scalar(e.val, what+"."+e.key, "a string, number or boolean", asIs(checkText)); ok {
			out = append(out, KeyValue{Key: e.key, Value: s, Range: Range{Start: e.keyRange.Start, End: e.val.rng.End}})
		}
	}
	return out
}

func (c *checker) ports(n *node) []Port {
	items, ok := c.list(n, "expose", "a list of ports (e.g. [8000, \"53/udp\"])")
	if !ok {
		return nil
	}
	out := []Port{}
	for i, it := range items {
		if it.kind != kindInt && it.kind != kindString {
			c.typeError(it, fmt.Sprintf("expose[%d]", i), "a port (e.g. 8000 or \"53/udp\")")
			continue
		}
		p, problem := normalisePort(it.text)
		if problem != "" {
			c.errorf(it.rng, "%s", problem)
			continue
		}
		out = append(out, Port{Port: p, Range: it.rng})
	}
	return withoutRepeats(out, func(p Port) string { return p.Port })
}

// withoutRepeats keeps the first of the items with the same key, in order: a set, package or
// port listed twice counts once.
func withoutRepeats[T any](items []T, key func(T) string) []T {
	seen := map[string]bool{}
	kept := items[:0]
	for _, it := range items {
		if k := key(it); !seen[k] {
			seen[k] = true
			kept = append(kept, it)
		}
	}
	return kept
}

func (c *checker) volumes(n *node) []string {
	return stringItems(c, n, "volumes", "a list of absolute paths", func(s string, it *node) (string, bool) {
		p, problem := cleanAbsPath(s)
		if problem != "" {
			c.errorf(it.rng, "volumes: %s", problem)
		}
		return p, problem == ""
	})
}
