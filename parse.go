package laingfile

import (
	"fmt"
	"path"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The keys of each mapping, in the order the documentation lists them (also the order of the
// "expected one of" hints).
var (
	topKeys     = []string{"nixpkgs", "overlays", "substituters", "targets"}
	targetKeys  = []string{"kind", "sets", "packages", "user", "workdir", "env", "entrypoint", "cmd", "labels", "expose", "volumes", "stopsignal", "copy", "metadata", "config", "maxLayers"}
	nixpkgsKeys = []string{"rev", "url", "sha256", "flakeLock", "input", "config"}
	userKeys    = []string{"name", "uid", "gid", "home"}
	copyKeys    = []string{"src", "dst", "chown", "chmod"}
	// substituterKeys are the keys of a `substituters:` entry.
	substituterKeys = []string{"url", "publicKey", "secret", "login", "push"}
	// pushKeys are the keys of a substituter's `push:`.
	pushKeys = []string{"signingKey", "bestEffort"}
	kinds    = []string{string(KindDevcontainer), string(KindRuntime)}
	// ociConfigKeys are the fields of the OCI image config ("config" in the image JSON).
	ociConfigKeys = []string{"User", "ExposedPorts", "Env", "Entrypoint", "Cmd", "Volumes", "WorkingDir", "Labels", "StopSignal", "ArgsEscaped", "Healthcheck", "OnBuild", "Shell"}
)

// MaxLayersLimit is the most layers a target may ask for: Docker refuses to run images with more
// than about 125 layers.
const MaxLayersLimit = 125

// MinMaxLayers is the fewest layers a target may ask for: the store needs one layer and the
// customisation layer another.
const MinMaxLayers = 2

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

func (c *checker) file(root *node, f *File) {
	if root.kind == kindInvalid {
		return
	}
	if root.kind != kindMap {
		c.errorf(root.rng, "expected a mapping at the top level (\"targets:\", or a single target's keys such as \"kind:\"), got %s", root.kind.describe())
		return
	}
	entries := c.mapping(root, "")
	var targets *entry
	var shorthand []*entry
	for _, e := range entries {
		switch {
		case e.key == "nixpkgs":
			f.Nixpkgs = c.nixpkgs(e.val)
		case e.key == "overlays":
			f.Overlays = c.overlays(e.val)
		case e.key == "substituters":
			f.Substituters = c.substituters(e.val)
		case e.key == "targets":
			targets = e
		case contains(targetKeys, e.key):
			shorthand = append(shorthand, e)
		case strings.HasPrefix(e.key, "x-"):
			// Extension keys are ignored, as in Compose files: a place for YAML anchors.
		default:
			c.unknownKey(e, "at the top level", append(append([]string{}, topKeys...), targetKeys...))
		}
	}
	switch {
	case targets != nil:
		for _, e := range shorthand {
			c.errorf(e.keyRange, "%q is a target key, but this file has \"targets:\"; move it into a target", e.key)
		}
		f.Targets = c.targets(targets)
	case len(shorthand) > 0:
		t := c.target("", Range{}, shorthand, root.rng)
		if t != nil {
			f.Targets = []*Target{t}
		}
	default:
		c.errorf(startOf(root.rng), "no targets: expected \"targets:\", or a single target's keys (\"kind:\", \"sets:\", …) at the top level")
	}
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

// typeError reports a value of the wrong YAML type. For a string where a list is expected it
// shows the list form.
func (c *checker) typeError(n *node, what, expected string) {
	if n.kind == kindInvalid {
		return
	}
	msg := fmt.Sprintf("%s: expected %s, got %s", what, expected, n.kind.describe())
	if n.isScalar() && strings.HasPrefix(expected, "a list") {
		items := []string{n.text}
		if what == "cmd" || what == "entrypoint" {
			items = strings.Fields(n.text)
		}
		msg += " (write it as a list: " + flowList(items) + ")"
	}
	c.errorf(n.rng, "%s", msg)
}

// str returns a scalar value as a string: strings as they are, numbers and booleans as written.
// checkedStr is str, then check, whose non-empty answer is a located error about what.
func (c *checker) checkedStr(n *node, what, expected string, check func(string) string) (string, bool) {
	s, ok := c.str(n, what, expected)
	if !ok {
		return s, false
	}
	if problem := check(s); problem != "" {
		c.errorf(n.rng, "%s: %s", what, problem)
		return s, false
	}
	return s, true
}

func (c *checker) str(n *node, what, expected string) (string, bool) {
	if n.isScalar() {
		return n.text, true
	}
	c.typeError(n, what, expected)
	return "", false
}

// list returns the items of a list node; a null is an empty list.
func (c *checker) list(n *node, what, expected string) ([]*node, bool) {
	switch n.kind {
	case kindSeq:
		return n.items, true
	case kindNull:
		return nil, true
	}
	c.typeError(n, what, expected)
	return nil, false
}

// strList returns a list of strings; numbers and booleans are taken as written.
func (c *checker) strList(n *node, what, expected string) ([]string, []*node, bool) {
	items, ok := c.list(n, what, expected)
	if !ok {
		return nil, nil, false
	}
	out := []string{}
	var nodes []*node
	for i, it := range items {
		s, ok := c.str(it, fmt.Sprintf("%s[%d]", what, i), "a string")
		if ok {
			out = append(out, s)
			nodes = append(nodes, it)
		}
	}
	return out, nodes, true
}

// integer returns an integer value; a string of decimal digits is accepted so that a build arg
// (`${UID}`) can supply it.
func (c *checker) integer(n *node, what, expected string) (int64, bool) {
	switch n.kind {
	case kindInt, kindString:
		s := strings.ReplaceAll(n.text, "_", "")
		v, err := strconv.ParseInt(s, 0, 64)
		if err == nil && (n.kind == kindInt || strings.Trim(s, "0123456789") == "") && s != "" {
			return v, true
		}
		if n.kind == kindInt {
			c.errorf(n.rng, "%s: %s is out of range; expected %s", what, n.text, expected)
			return 0, false
		}
	}
	c.typeError(n, what, expected)
	return 0, false
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
	var revEntry, urlEntry, hashEntry, lockEntry, inputEntry *entry
	for _, e := range c.mapping(n, "nixpkgs") {
		switch e.key {
		case "rev":
			revEntry = e
			out.RevRange = e.val.rng
			if s, ok := c.str(e.val, "nixpkgs.rev", "a 40-character commit hash"); ok {
				rev, problem := normaliseRev(s)
				if problem != "" {
					c.errorf(e.val.rng, "%s", problem)
				}
				out.Rev = rev
			}
		case "url":
			urlEntry = e
			out.URLRange = e.val.rng
			if s, ok := c.str(e.val, "nixpkgs.url", "the URL of a nixpkgs tarball"); ok {
				if problem := checkURL(s); problem != "" {
					c.errorf(e.val.rng, "%s", problem)
				}
				out.URL = s
			}
		case "sha256":
			hashEntry = e
			out.SHA256Range = e.val.rng
			if s, ok := c.str(e.val, "nixpkgs.sha256", "the NAR hash (e.g. "+exampleHash+")"); ok {
				sri, problem := normaliseSHA256(s)
				if problem != "" {
					c.errorf(e.val.rng, "nixpkgs.sha256: %s", problem)
				}
				out.SHA256 = sri
			}
		case "flakeLock":
			lockEntry = e
			out.FlakeLockRange = e.val.rng
			if s, ok := c.str(e.val, "nixpkgs.flakeLock", "the path of a flake.lock in the build context (e.g. ./flake.lock)"); ok {
				if problem := contextPath(s); problem != "" {
					c.errorf(e.val.rng, "nixpkgs.flakeLock: %s", problem)
				} else {
					out.FlakeLock = cleanNixPath(s)
				}
			}
		case "input":
			inputEntry = e
			out.InputRange = e.val.rng
			if s, ok := c.str(e.val, "nixpkgs.input", "the name of a flake input (e.g. nixpkgs)"); ok {
				if !inputNameRe.MatchString(s) {
					c.errorf(e.val.rng, "nixpkgs.input: invalid input name %q: expected a flake input name such as nixpkgs", s)
				}
				out.Input = s
			}
		case "config":
			if e.val.kind != kindMap && e.val.kind != kindNull {
				c.typeError(e.val, "nixpkgs.config", "a mapping of nixpkgs config options (e.g. allowUnfree: true)")
				continue
			}
			if m, ok := c.toAny(e.val, "nixpkgs.config").(map[string]any); ok {
				out.Config = m
			}
		default:
			c.unknownKey(e, "in nixpkgs", nixpkgsKeys)
		}
	}
	if lockEntry != nil {
		// The lock file is the whole pin: rev, url and sha256 would contradict it.
		for _, e := range []*entry{revEntry, urlEntry, hashEntry} {
			if e != nil {
				c.errorf(e.keyRange, "nixpkgs: %q cannot be given with \"flakeLock\", which takes the pin from the lock file", e.key)
			}
		}
		if out.Input == "" && inputEntry == nil {
			out.Input = DefaultFlakeInput
		}
		return out
	}
	if inputEntry != nil {
		c.errorf(inputEntry.keyRange, "nixpkgs: \"input\" names an input of a flake.lock; add \"flakeLock\" (e.g. flakeLock: ./flake.lock)")
	}
	switch {
	case revEntry != nil && urlEntry != nil:
		c.errorf(urlEntry.keyRange, "nixpkgs: give either \"rev\" or \"url\", not both")
	case revEntry == nil && urlEntry == nil && hashEntry != nil:
		c.errorf(hashEntry.keyRange, "nixpkgs: \"sha256\" needs the \"rev\" (a nixpkgs commit) or \"url\" (a tarball URL) it is the hash of")
	case revEntry == nil && urlEntry == nil && out.Config == nil && inputEntry == nil:
		c.errorf(n.rng, "nixpkgs: missing \"rev\" (a nixpkgs commit), \"url\" (a tarball URL) or \"flakeLock\" (a flake.lock in the build context)")
	}
	// Only config: the release's pin with that config.
	if hashEntry == nil && (revEntry != nil || urlEntry != nil) {
		c.errorf(n.rng, "nixpkgs: missing \"sha256\", the NAR hash of the source (e.g. %s)", exampleHash)
	}
	return out
}

func (c *checker) overlays(n *node) []Overlay {
	names, nodes, ok := c.strList(n, "overlays", "a list of overlay names or \"./file.nix\" paths")
	if !ok {
		return nil
	}
	var out []Overlay
	for i, s := range names {
		it := nodes[i]
		if isNixPath(s) {
			if problem := contextPath(s); problem != "" {
				c.errorf(it.rng, "overlays: %s", problem)
				continue
			}
			out = append(out, Overlay{Path: cleanNixPath(s), Range: it.rng})
			continue
		}
		if !contains(c.opts.KnownOverlays, s) {
			hint := DidYouMean(s, c.opts.KnownOverlays)
			switch {
			case hint != "":
			case len(c.opts.KnownOverlays) == 0:
				hint = " (there are no built-in overlays; use a file in the build context such as \"./overlay.nix\")"
			default:
				hint = fmt.Sprintf(" (built-in overlays: %s; or a file in the build context such as \"./overlay.nix\")", strings.Join(c.opts.KnownOverlays, ", "))
			}
			c.errorf(it.rng, "unknown overlay %q%s", s, hint)
			continue
		}
		out = append(out, Overlay{Name: s, Range: it.rng})
	}
	return out
}

func (c *checker) substituters(n *node) []Substituter {
	items, ok := c.list(n, "substituters", "a list of {url, publicKey} mappings")
	if !ok {
		return nil
	}
	out := []Substituter{}
	for i, it := range items {
		what := fmt.Sprintf("substituters[%d]", i)
		if it.kind != kindMap {
			c.typeError(it, what, "a mapping {url, publicKey}")
			continue
		}
		sub := Substituter{Range: it.rng}
		var hasURL, hasKey, valid = false, false, true
		var loginEntry *entry
		for _, e := range c.mapping(it, what) {
			v := e.val
			switch e.key {
			case "url":
				hasURL = true
				s, ok := c.checkedStr(v, what+".url", "the URL of a binary cache", checkSubstituterURL)
				sub.URL, valid = s, valid && ok
			case "publicKey":
				hasKey = true
				var keys []string
				var nodes []*node
				if v.kind == kindSeq {
					for j, it := range v.items {
						if it.kind == kindMap {
							// [name:key] in a flow list reads as a mapping.
							c.errorf(it.rng, "%s.publicKey[%d]: expected a string, got a mapping (quote the key: \"name:base64\")", what, j)
							it.kind = kindInvalid
						}
					}
					keys, nodes, ok = c.strList(v, what+".publicKey", "a public key or a list of them")
				} else {
					var s string
					s, ok = c.str(v, what+".publicKey", "a public key or a list of them")
					keys, nodes = []string{s}, []*node{v}
				}
				if !ok {
					valid = false
					continue
				}
				if len(v.items) == 0 && v.kind == kindSeq {
					c.errorf(v.rng, "%s.publicKey: expected at least one public key", what)
					valid = false
				}
				for j, k := range keys {
					if problem := checkPublicKey(k); problem != "" {
						c.errorf(nodes[j].rng, "%s.publicKey: %s", what, problem)
						valid = false
					}
				}
				sub.PublicKeys = keys
			case "secret":
				s, ok := c.checkedStr(v, what+".secret", "the id of a build secret", checkSecretID)
				sub.Secret, valid = s, valid && ok
			case "push":
				push, ok := c.push(v, what+".push")
				sub.Push, valid = push, valid && ok
			case "login":
				loginEntry = e
				s, ok := c.checkedStr(v, what+".login", "a user name", checkLogin)
				sub.Login, valid = s, valid && ok
			default:
				c.unknownKey(e, "in "+what, substituterKeys)
			}
		}
		if !hasURL {
			c.errorf(it.rng, "%s: missing \"url\" (the URL of the binary cache)", what)
		}
		if !hasKey {
			c.errorf(it.rng, "%s: missing \"publicKey\" (the key the cache signs with, e.g. %s); Nix ignores unsigned paths", what, examplePublicKey)
		}
		if loginEntry != nil && sub.Secret == "" {
			c.errorf(loginEntry.keyRange, "%s: \"login\" needs \"secret\", the build secret with the password or token", what)
			valid = false
		}
		if hasURL && hasKey && valid {
			out = append(out, sub)
		}
	}
	return out
}

// push reads a substituter's `push:` mapping: the build secret with the signing key, and
// whether a failed push only warns.
func (c *checker) push(n *node, what string) (*Push, bool) {
	if n.kind != kindMap {
		c.typeError(n, what, "a mapping {signingKey, bestEffort}")
		return nil, false
	}
	p := &Push{Range: n.rng}
	valid, hasKey := true, false
	for _, e := range c.mapping(n, what) {
		v := e.val
		switch e.key {
		case "signingKey":
			hasKey = true
			s, ok := c.checkedStr(v, what+".signingKey", "the id of a build secret holding the cache's signing key", checkSecretID)
			p.SigningKey, valid = s, valid && ok
		case "bestEffort":
			if v.kind != kindBool {
				c.typeError(v, what+".bestEffort", "true or false")
				valid = false
				continue
			}
			p.BestEffort = strings.EqualFold(v.text, "true")
		default:
			c.unknownKey(e, "in "+what, pushKeys)
		}
	}
	if !hasKey {
		c.errorf(n.rng, "%s: missing \"signingKey\" (the id of a build secret holding the key paths are signed with, as nix-store --generate-binary-cache-key writes it)", what)
		valid = false
	}
	return p, valid
}

func (c *checker) targets(e *entry) []*Target {
	n := e.val
	if n.kind == kindInvalid {
		return nil
	}
	if n.kind != kindMap && n.kind != kindNull {
		c.typeError(n, "targets", "a mapping of target names to targets")
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
		if te.val.kind != kindMap && te.val.kind != kindNull {
			c.typeError(te.val, "target "+strconv.Quote(te.key), "a mapping of target settings (kind, sets, …)")
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

// userSpec is what a Laingfile says about the user, before defaults.
type userSpec struct {
	name, home string
	uid, gid   *int
	rng        Range
}

// isRoot reports whether the user is root: named so, or given uid 0 without a name.
func (u userSpec) isRoot() bool {
	return u.name == "root" || (u.name == "" && u.uid != nil && *u.uid == 0)
}

// target builds one target from its entries; name is "" for the single-target shorthand, whose
// name is then its kind.
func (c *checker) target(name string, nameRange Range, entries []*entry, rng Range) *Target {
	t := &Target{Name: name, NameRange: nameRange, Range: rng}
	where := "in target " + strconv.Quote(name)
	if name == "" {
		where = "at the top level"
	}
	var (
		kindSeen  bool
		user      userSpec
		metadata  *entry
		maxLayers *entry
		chowns    []Range // the range of each Copy's chown
	)
	for _, e := range entries {
		v := e.val
		switch e.key {
		case "kind":
			kindSeen = true
			t.KindRange = v.rng
			if s, ok := c.str(v, "kind", "devcontainer or runtime"); ok {
				if !contains(kinds, s) {
					c.errorf(v.rng, "unknown kind %q: expected devcontainer or runtime%s", s, DidYouMean(s, kinds))
				} else {
					t.Kind = Kind(s)
				}
			}
		case "sets":
			t.Sets = c.sets(v)
		case "packages":
			t.Packages = c.packages(v)
		case "user":
			user = c.user(v)
		case "workdir":
			if s, ok := c.str(v, "workdir", "an absolute path"); ok {
				if problem := absPath(s); problem != "" {
					c.errorf(v.rng, "workdir: %s", problem)
				} else {
					t.Workdir = path.Clean(s)
				}
			}
		case "env":
			t.Env = c.keyValues(v, "env", "a mapping of variable names to values", true)
		case "labels":
			t.Labels = c.keyValues(v, "labels", "a mapping of label names to values", false)
		case "entrypoint":
			if list, ok := c.textList(v, "entrypoint"); ok && v.kind != kindNull {
				t.Entrypoint = list
			}
		case "cmd":
			if list, ok := c.textList(v, "cmd"); ok && v.kind != kindNull {
				t.Cmd = list
			}
		case "expose":
			t.Expose = c.ports(v)
		case "volumes":
			t.Volumes = c.volumes(v)
		case "stopsignal":
			if s, ok := c.str(v, "stopsignal", "a signal name such as SIGTERM"); ok {
				sig, problem := normaliseSignal(s)
				if problem != "" {
					c.errorf(v.rng, "%s", problem)
				}
				t.StopSignal = sig
			}
		case "copy":
			t.Copy, chowns = c.copies(v)
		case "metadata":
			metadata = e
			if v.kind != kindMap && v.kind != kindNull {
				c.typeError(v, "metadata", "a mapping of devcontainer metadata (e.g. customizations)")
				continue
			}
			if m, ok := c.toAny(v, "metadata").(map[string]any); ok {
				t.Metadata = m
			}
		case "config":
			t.Config = c.ociConfig(v)
		case "maxLayers":
			maxLayers = e
			if n, ok := c.integer(v, "maxLayers", fmt.Sprintf("an integer from %d to %d", MinMaxLayers, MaxLayersLimit)); ok {
				switch {
				case n > MaxLayersLimit:
					c.errorf(v.rng, "maxLayers: %d is more than Docker's limit of %d layers per image", n, MaxLayersLimit)
				case n < MinMaxLayers:
					c.errorf(v.rng, "maxLayers: %d is too few; an image needs at least %d layers (the store and the customisation layer)", n, MinMaxLayers)
				default:
					t.MaxLayers = int(n)
				}
			}
		case "nixpkgs", "overlays", "substituters", "targets":
			c.errorf(e.keyRange, "%q is a top-level key, not a target key; move it to the top level", e.key)
		default:
			c.unknownKey(e, where, targetKeys)
		}
	}
	if !kindSeen {
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
	if metadata != nil && t.Kind != KindDevcontainer {
		c.errorf(metadata.keyRange, "\"metadata\" is only valid for kind devcontainer (it becomes the devcontainer.metadata label)")
	}
	if maxLayers == nil {
		t.MaxLayers = DefaultMaxLayers
	}
	applyDefaults(t, user)
	for i := range t.Copy {
		cp := &t.Copy[i]
		cp.UID, cp.GID = t.User.UID, t.User.GID
		if cp.Chown == "" {
			continue
		}
		var problem string
		if cp.UID, cp.GID, problem = chownIDs(cp.Chown, t); problem != "" {
			c.errorf(chowns[i], "copy[%d].chown: %s", i, problem)
		}
	}
	return t
}

// chownIDs resolves a copy's owner to a uid and gid: numbers stay, the image user's name is its
// uid (and, as a group, its gid), root is 0, and wheel (devcontainers) is 10; a user alone gives
// its own group. Any other name is a problem: the image has no other accounts to look it up in.
func chownIDs(s string, t *Target) (uid, gid int, problem string) {
	u := t.User
	userPart, groupPart, hasGroup := strings.Cut(s, ":")
	names := []string{u.Name, "root"}
	groups := []string{u.Name, "root"}
	if t.Kind == KindDevcontainer {
		groups = append(groups, "wheel")
	}
	id := func(name string, known []string, byName func(string) int, what string) (int, string) {
		if name != "" && strings.Trim(name, "0123456789") == "" {
			n, err := strconv.Atoi(name)
			if err != nil || n > 2147483647 {
				return 0, fmt.Sprintf("%s %s is out of range; expected 0 to 2147483647", what, name)
			}
			return n, ""
		}
		if !contains(known, name) {
			return 0, fmt.Sprintf("unknown %s %q%s; the image knows %s, or give a number", what, name, DidYouMean(name, known), strings.Join(known, ", "))
		}
		return byName(name), ""
	}
	uid, problem = id(userPart, names, func(n string) int {
		if n == "root" {
			return 0
		}
		return u.UID
	}, "user")
	if problem != "" {
		return 0, 0, problem
	}
	switch {
	case hasGroup:
		gid, problem = id(groupPart, groups, func(n string) int {
			switch n {
			case "root":
				return 0
			case "wheel":
				return 10
			}
			return u.GID
		}, "group")
	case userPart == u.Name:
		gid = u.GID
	default:
		gid = uid
	}
	return uid, gid, problem
}

// textList reads a list of strings that go into the image config as they are (cmd,
// entrypoint), checking each with checkText.
func (c *checker) textList(n *node, what string) ([]string, bool) {
	list, nodes, ok := c.strList(n, what, "a list of strings")
	if !ok {
		return nil, false
	}
	for i, s := range list {
		if problem := checkText(s); problem != "" {
			c.errorf(nodes[i].rng, "%s[%d]: %s", what, i, problem)
			ok = false
		}
	}
	return list, ok
}

// applyDefaults fills in the user and workdir from the kind's defaults; see Target and User.
func applyDefaults(t *Target, u userSpec) {
	name := u.name
	if name == "" {
		name = "vscode"
		if t.Kind == KindRuntime {
			name = "app"
		}
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
		t.Workdir = "/workspace"
		if t.Kind == KindRuntime {
			t.Workdir = "/app"
		}
	}
	home := u.home
	switch {
	case home != "":
	case name == "root":
		home = "/root"
	case t.Kind == KindRuntime:
		home = t.Workdir
	default:
		home = "/home/" + name
	}
	t.User = User{Name: name, UID: uid, GID: gid, Home: home, Range: u.rng}
}

func (c *checker) sets(n *node) []SetRef {
	names, nodes, ok := c.strList(n, "sets", "a list of set names")
	if !ok {
		return nil
	}
	out := []SetRef{}
	seen := map[string]bool{}
	for i, s := range names {
		if !contains(c.opts.KnownSets, s) {
			hint := DidYouMean(s, c.opts.KnownSets)
			switch {
			case hint != "":
			case len(c.opts.KnownSets) == 0:
				hint = " (no package sets are defined)"
			default:
				hint = " (known sets: " + strings.Join(c.opts.KnownSets, ", ") + ")"
			}
			c.errorf(nodes[i].rng, "unknown set %q%s", s, hint)
			continue
		}
		if !seen[s] {
			seen[s] = true
			out = append(out, SetRef{Name: s, Range: nodes[i].rng})
		}
	}
	return out
}

func (c *checker) packages(n *node) []Package {
	names, nodes, ok := c.strList(n, "packages", "a list of nixpkgs attribute paths or \"./file.nix\" paths")
	if !ok {
		return nil
	}
	out := []Package{}
	seen := map[string]bool{}
	for i, s := range names {
		rng := nodes[i].rng
		var p Package
		switch {
		case isNixPath(s):
			if problem := contextPath(s); problem != "" {
				c.errorf(rng, "packages: %s", problem)
				continue
			}
			p = Package{Path: cleanNixPath(s), Range: rng}
		case attrPathRe.MatchString(s):
			p = Package{Attr: s, Range: rng}
		default:
			msg := fmt.Sprintf("invalid package %q: expected a nixpkgs attribute path (e.g. python312Packages.pip) or a file in the build context starting with \"./\"", s)
			if strings.Contains(s, "/") && contextPath(s) == "" {
				msg += fmt.Sprintf(" (did you mean %q?)", cleanNixPath(s))
			}
			c.errorf(rng, "%s", msg)
			continue
		}
		key := p.Attr + "\x00" + p.Path
		if !seen[key] {
			seen[key] = true
			out = append(out, p)
		}
	}
	return out
}

func (c *checker) user(n *node) userSpec {
	u := userSpec{rng: n.rng}
	var uidRange, gidRange, homeRange Range
	checkName := func(s string, rng Range, what string) string {
		if !userNameRe.MatchString(s) || len(s) > 32 {
			c.errorf(rng, "%s: invalid user name %q: use lower-case letters, digits, \"_\" and \"-\", starting with a letter or \"_\" (at most 32 characters)", what, s)
			return ""
		}
		return s
	}
	switch n.kind {
	case kindInvalid, kindNull:
		return userSpec{}
	case kindString:
		u.name = checkName(n.text, n.rng, "user")
		return u
	case kindMap:
	default:
		c.typeError(n, "user", "a user name or a mapping {name, uid, gid, home}")
		return userSpec{}
	}
	for _, e := range c.mapping(n, "user") {
		v := e.val
		switch e.key {
		case "name":
			if s, ok := c.str(v, "user.name", "a user name"); ok {
				u.name = checkName(s, v.rng, "user.name")
			}
		case "uid", "gid":
			what := "user." + e.key
			if e.key == "uid" {
				uidRange = v.rng
			} else {
				gidRange = v.rng
			}
			if id, ok := c.integer(v, what, "an integer from 0 to 2147483647"); ok {
				if id < 0 || id > 2147483647 {
					c.errorf(v.rng, "%s: %d is out of range; expected 0 to 2147483647", what, id)
					continue
				}
				i := int(id)
				if e.key == "uid" {
					u.uid = &i
				} else {
					u.gid = &i
				}
			}
		case "home":
			homeRange = v.rng
			if s, ok := c.str(v, "user.home", "an absolute path"); ok {
				if problem := absPath(s); problem != "" {
					c.errorf(v.rng, "user.home: %s", problem)
				} else {
					u.home = path.Clean(s)
				}
			}
		default:
			c.unknownKey(e, "in user", userKeys)
		}
	}
	// The name root means uid and gid 0 and home /root; uid 0 means the name root. The image's
	// /etc/passwd has one root line, so anything else would be lost or make a second root.
	if u.isRoot() {
		if u.uid != nil && *u.uid != 0 {
			c.errorf(uidRange, "user.uid: the user root has uid 0, not %d; leave out uid, or give the user another name (e.g. app)", *u.uid)
		}
		if u.gid != nil && *u.gid != 0 {
			c.errorf(gidRange, "user.gid: the user root has gid 0, not %d; leave out gid, or give the user another name (e.g. app)", *u.gid)
		}
		if u.home != "" && u.home != "/root" {
			c.errorf(homeRange, "user.home: the user root has home /root; leave out home (set env HOME to use another directory)")
		}
	} else if u.uid != nil && *u.uid == 0 && u.name != "" {
		c.errorf(uidRange, "user.uid: uid 0 is root; write name: root for a root image, or give %s another uid (e.g. 1000)", u.name)
	}
	return u
}

// keyValues reads env or labels: a mapping to scalars, kept in file order.
func (c *checker) keyValues(n *node, what, expected string, env bool) []KeyValue {
	if n.kind != kindMap && n.kind != kindNull {
		c.typeError(n, what, expected)
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
		if s, ok := c.str(e.val, what+"."+e.key, "a string, number or boolean"); ok {
			if problem := checkText(s); problem != "" {
				c.errorf(e.val.rng, "%s.%s: %s", what, e.key, problem)
				continue
			}
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
	seen := map[string]bool{}
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
		if !seen[p] {
			seen[p] = true
			out = append(out, Port{Port: p, Range: it.rng})
		}
	}
	return out
}

func (c *checker) volumes(n *node) []string {
	list, nodes, ok := c.strList(n, "volumes", "a list of absolute paths")
	if !ok {
		return nil
	}
	out := []string{}
	for i, s := range list {
		if problem := absPath(s); problem != "" {
			c.errorf(nodes[i].rng, "volumes: %s", problem)
			continue
		}
		out = append(out, path.Clean(s))
	}
	return out
}

func (c *checker) copies(n *node) ([]Copy, []Range) {
	items, ok := c.list(n, "copy", "a list of {src, dst} mappings")
	if !ok {
		return nil, nil
	}
	out := []Copy{}
	var chowns []Range
	for i, it := range items {
		what := fmt.Sprintf("copy[%d]", i)
		if it.kind != kindMap {
			c.typeError(it, what, "a mapping {src, dst}")
			continue
		}
		cp := Copy{Range: it.rng}
		var chownRange Range
		var hasSrc, hasDst, valid = false, false, true
		for _, e := range c.mapping(it, what) {
			v := e.val
			switch e.key {
			case "src":
				hasSrc = true
				s, ok := c.checkedStr(v, what+".src", "a path in the build context", contextPath)
				cp.Src, valid = s, valid && ok
			case "dst":
				hasDst = true
				s, ok := c.checkedStr(v, what+".dst", "an absolute path in the image", absPath)
				cp.Dst, valid = s, valid && ok
			case "chown":
				chownRange = v.rng
				s, ok := c.str(v, what+".chown", "\"user\", \"user:group\" or \"uid:gid\"")
				if !ok {
					valid = false
				} else if !chownRe.MatchString(s) {
					c.errorf(v.rng, "%s.chown: invalid owner %q: expected \"user\", \"user:group\" or \"uid:gid\"", what, s)
					valid = false
				}
				cp.Chown = s
			case "chmod":
				s, ok := c.checkedStr(v, what+".chmod", modeExpected, checkMode)
				cp.Chmod, valid = s, valid && ok
			default:
				c.unknownKey(e, "in "+what, copyKeys)
			}
		}
		if !hasSrc {
			c.errorf(it.rng, "%s: missing \"src\" (a path in the build context)", what)
		}
		if !hasDst {
			c.errorf(it.rng, "%s: missing \"dst\" (an absolute path in the image)", what)
		}
		if hasSrc && hasDst && valid {
			out = append(out, cp)
			chowns = append(chowns, chownRange)
		}
	}
	return out, chowns
}

// modeExpected is what a copy's chmod may be, for messages.
const modeExpected = `an octal mode such as "0755" (at most 07777) or a symbolic mode such as "u+x,go-w"`

// checkMode checks a copy's chmod (see Copy.Chmod): octal when it starts with a digit, as
// BuildKit reads it, else symbolic, clauses of [ugoa]*[-+=][rwxXst]* separated by ",". This is
// stricter than BuildKit, which also takes several operators in a clause ("u+r-w") and copies
// of another class's bits ("u=g"). It returns what is wrong, with a suggestion when there is
// one, and what was expected; "" when s is valid.
func checkMode(s string) string {
	bad := func(why, hint string) string {
		return fmt.Sprintf("invalid mode %q: %s%s; expected %s", s, why, hint, modeExpected)
	}
	noHint := func(string) string { return "" }
	didYouMean := func(fix string) string {
		if fix == s || fix == "" {
			return ""
		}
		if why, _ := modeProblem(fix, noHint); why != "" {
			return ""
		}
		return " (did you mean " + strconv.Quote(fix) + "?)"
	}
	if s == "" {
		return bad("empty", "")
	}
	if i := strings.IndexFunc(s, unicode.IsSpace); i >= 0 {
		at := utf8.RuneCountInString(s[:i]) + 1
		return bad(fmt.Sprintf("whitespace at character %d", at), didYouMean(strings.Join(strings.Fields(s), "")))
	}
	// Before the symbolic form: "-rwxrwxrwx" is also the symbolic a-rwx, which makes the files
	// mode 0000, surely not what was meant.
	if m, ok := lsMode(s); ok {
		return bad("this is how ls shows a mode", didYouMean(fmt.Sprintf("%04o", m)))
	}
	why, hint := modeProblem(s, didYouMean)
	if why == "" {
		return ""
	}
	if hint == "" {
		hint = didYouMean(strings.ToLower(s))
	}
	return bad(why, hint)
}

// modeProblem says what is wrong with a non-empty chmod without blanks, with a suggestion when
// didYouMean finds one, or "" when it is valid.
func modeProblem(s string, didYouMean func(string) string) (why, hint string) {
	rs := []rune(s)
	if '0' <= rs[0] && rs[0] <= '9' {
		if _, ok := (Copy{Chmod: s}).OctalMode(); ok {
			return "", ""
		}
		for i, r := range rs {
			if r < '0' || r > '7' {
				hint := ""
				if i == 1 && (r == 'o' || r == 'O') {
					hint = didYouMean("0" + string(rs[2:]))
				}
				return fmt.Sprintf("%q at character %d is not an octal digit (0 to 7)", string(r), i+1), hint
			}
		}
		return "more than 07777", ""
	}
	in := func(r rune, set string) bool { return strings.ContainsRune(set, r) }
	for pos := 0; ; {
		start := pos
		for pos < len(rs) && in(rs[pos], "ugoa") {
			pos++
		}
		who := string(rs[start:pos])
		switch {
		case pos == len(rs) && start == pos:
			return `it ends with ","`, didYouMean(string(rs[:pos-1]))
		case pos == len(rs):
			return fmt.Sprintf("%q is not followed by an operator (+, - or =)", who), ""
		case rs[pos] == ',' && start == pos:
			return fmt.Sprintf(`an empty clause at character %d`, pos+1), ""
		case !in(rs[pos], "+-="):
			return fmt.Sprintf("%q at character %d is neither u, g, o, a nor an operator (+, - or =)", string(rs[pos]), pos+1), ""
		}
		pos++ // the operator
		for pos < len(rs) && in(rs[pos], "rwxXst") {
			pos++
		}
		if pos == len(rs) {
			return "", ""
		}
		r := rs[pos]
		switch {
		case r == ',':
			pos++
			continue
		case in(r, "+-="):
			fix := string(rs[:pos]) + "," + who + string(rs[pos:])
			return fmt.Sprintf(`a second operator %q at character %d: start a new clause with ","`, string(r), pos+1), didYouMean(fix)
		case in(r, "ugo"):
			return fmt.Sprintf(`%q at character %d: copying another class's permissions (as in "u=g") is not supported, name them (r, w, x, X, s, t)`, string(r), pos+1), ""
		}
		return fmt.Sprintf(`%q at character %d is not a permission (r, w, x, X, s, t) or ","`, string(r), pos+1), ""
	}
}

// lsMode reads a mode in the notation ls -l shows ("rwxr-xr-x", "-rwsr-xr-x", "drwxrwxrwt"),
// which users copy into chmod, and returns it as an octal mode.
func lsMode(s string) (uint32, bool) {
	if len(s) == 10 && strings.ContainsRune("-dlbcps", rune(s[0])) {
		s = s[1:]
	}
	if len(s) != 9 {
		return 0, false
	}
	var m uint32
	for class := range 3 {
		t := s[class*3 : class*3+3]
		shift := uint(6 - 3*class)
		special := map[int]byte{0: 's', 1: 's', 2: 't'}[class]
		setBit := uint32(0o4000) >> uint(class)
		for i, want := range []byte("rw") {
			switch t[i] {
			case want:
				m |= uint32(4>>i) << shift
			case '-':
			default:
				return 0, false
			}
		}
		switch t[2] {
		case 'x':
			m |= 1 << shift
		case special:
			m |= 1<<shift | setBit
		case special - 'a' + 'A':
			m |= setBit
		case '-':
		default:
			return 0, false
		}
	}
	return m, true
}

// ociConfig reads a raw OCI image-config fragment, checking its field names and their types.
func (c *checker) ociConfig(n *node) map[string]any {
	if n.kind != kindMap && n.kind != kindNull {
		c.typeError(n, "config", "a mapping of OCI image config fields (e.g. Healthcheck)")
		return nil
	}
	out := map[string]any{}
	for _, e := range c.mapping(n, "config") {
		what := "config." + e.key
		v := e.val
		switch e.key {
		case "User", "WorkingDir", "StopSignal":
			if s, ok := c.str(v, what, "a string"); ok {
				if problem := checkText(s); problem != "" {
					c.errorf(v.rng, "%s: %s", what, problem)
					continue
				}
				out[e.key] = s
			}
		case "Env", "Entrypoint", "Cmd", "Shell", "OnBuild":
			if list, ok := c.textList(v, what); ok {
				out[e.key] = list
			}
		case "ExposedPorts", "Volumes", "Labels", "Healthcheck":
			if v.kind != kindMap && v.kind != kindNull {
				c.typeError(v, what, "a mapping")
				continue
			}
			if e.key == "Labels" {
				labels := map[string]any{}
				for _, kv := range c.keyValues(v, what, "a mapping", false) {
					labels[kv.Key] = kv.Value
				}
				out[e.key] = labels
				continue
			}
			if m, ok := c.toAny(v, what).(map[string]any); ok {
				out[e.key] = m
			}
		case "ArgsEscaped":
			if v.kind != kindBool {
				c.typeError(v, what, "true or false")
				continue
			}
			out[e.key] = v.text == "true" || v.text == "True" || v.text == "TRUE"
		default:
			c.unknownKey(e, "in config", ociConfigKeys)
		}
	}
	return out
}

// toAny converts a node to JSON-compatible Go values (map[string]any, []any, string, int64,
// float64, bool, nil), for config and metadata fragments.
func (c *checker) toAny(n *node, what string) any {
	switch n.kind {
	case kindNull, kindInvalid:
		return nil
	case kindString:
		return n.text
	case kindBool:
		return strings.EqualFold(n.text, "true")
	case kindInt:
		s := strings.ReplaceAll(n.text, "_", "")
		if v, err := strconv.ParseInt(s, 0, 64); err == nil {
			return v
		}
		if v, err := strconv.ParseUint(s, 0, 64); err == nil {
			return v
		}
		c.errorf(n.rng, "%s: the number %s is too large", what, n.text)
		return nil
	case kindFloat:
		v, err := strconv.ParseFloat(strings.ReplaceAll(n.text, "_", ""), 64)
		if n.infinite || err != nil {
			c.errorf(n.rng, "%s: %s is not a number that JSON can represent", what, n.text)
			return nil
		}
		return v
	case kindSeq:
		out := make([]any, 0, len(n.items))
		for i, it := range n.items {
			out = append(out, c.toAny(it, fmt.Sprintf("%s[%d]", what, i)))
		}
		return out
	case kindMap:
		out := make(map[string]any, len(n.entries))
		for _, e := range c.mapping(n, what) {
			out[e.key] = c.toAny(e.val, what+"."+e.key)
		}
		return out
	}
	return nil
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

// flowList writes items as a YAML flow list, quoting items that need it.
func flowList(items []string) string {
	quoted := make([]string, len(items))
	for i, s := range items {
		if s == "" || strings.ContainsAny(s, ",[]{}:#\"'&*!|>%@`") || s != strings.TrimSpace(s) {
			s = strconv.Quote(s)
		}
		quoted[i] = s
	}
	return "[" + strings.Join(quoted, ", ") + "]"
}
