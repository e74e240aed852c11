package laingfile

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"
)

// This file rewrites a Laingfile's nixpkgs pin in place for `laing pin update`: the new rev and
// sha256 replace the old values where they are written, so comments, quoting, key order and
// everything else in the file stay as they are.

// WrittenPin is the nixpkgs pin as a Laingfile writes it, before any validation: what a pin
// update starts from.
type WrittenPin struct {
	// Present is set when the file has a `nixpkgs:` key.
	Present bool
	// Rev, SHA256, URL and FlakeLock are the values as written ("" when absent).
	Rev, SHA256, URL, FlakeLock string
}

// pinSite is where the pin is in the source.
type pinSite struct {
	text  string // the source without a byte-order mark
	bom   bool
	lines []string
	key   *entry // the nixpkgs entry; nil when there is none
	rev   *entry
	hash  *entry
	url   *entry
	lock  *entry
	first *entry // the mapping's first entry
}

// ReadPin returns the nixpkgs pin of a Laingfile as written. Only the YAML has to be valid; the
// rest of the file is not checked.
func ReadPin(filename string, data []byte) (WrittenPin, error) {
	site, err := locatePin(filename, data)
	if err != nil {
		return WrittenPin{}, err
	}
	var p WrittenPin
	if site.key == nil {
		return p, nil
	}
	p.Present = true
	text := func(e *entry) string {
		if e == nil || !e.val.isScalar() {
			return ""
		}
		return e.val.text
	}
	p.Rev, p.SHA256, p.URL, p.FlakeLock = text(site.rev), text(site.hash), text(site.url), text(site.lock)
	return p, nil
}

// SetPin returns data with its nixpkgs pin set to rev and sha256 and nothing else changed. The
// values of `rev:` and `sha256:` are replaced where they are written (quoted values stay
// quoted); missing keys are added before the first key of `nixpkgs:` (e.g. a config-only
// `nixpkgs:`); a Laingfile without `nixpkgs:` gets one after its leading comments. A pin by
// url or flakeLock, and values given by build args, are errors: there is no rev to rewrite.
func SetPin(filename string, data []byte, rev, sha256 string) ([]byte, error) {
	site, err := locatePin(filename, data)
	if err != nil {
		return nil, err
	}
	fail := func(e *entry, format string, args ...any) error {
		return &Error{Filename: filename, Range: e.keyRange, Msg: fmt.Sprintf(format, args...)}
	}
	type edit struct {
		at, end int // byte offsets in site.text
		with    string
	}
	var edits []edit
	switch {
	case site.key == nil:
		at := site.insertionPoint()
		block := "nixpkgs:\n  rev: " + rev + "\n  sha256: " + sha256 + "\n"
		if at == len(site.text) && at > 0 && !strings.HasSuffix(site.text, "\n") {
			block = "\n" + block
		}
		edits = append(edits, edit{at, at, block})
	case site.lock != nil:
		return nil, fail(site.lock, "nixpkgs follows %s: update the flake's lock instead (nix flake update)", site.lock.val.text)
	case site.url != nil:
		return nil, fail(site.url, "nixpkgs is pinned by url; pin updates rewrite a rev pin (replace url with rev to use them)")
	case site.key.val.kind == kindNull:
		// `nixpkgs:` with nothing after it.
		at := site.offset(site.key.keyRange.End)
		at += strings.IndexByte(site.text[at:], ':') + 1
		edits = append(edits, edit{at, at, " {rev: " + rev + ", sha256: " + sha256 + "}"})
	case site.key.val.kind != kindMap:
		return nil, fail(site.key, "nixpkgs: expected a mapping, got %s", site.key.val.kind.describe())
	default:
		for _, e := range []*entry{site.rev, site.hash} {
			if e != nil && (e.merged || !e.val.isScalar()) {
				return nil, fail(e, "nixpkgs.%s is not a plain value here (a merge key, a build arg or a collection); edit it by hand", e.key)
			}
		}
		var insert []string
		for _, e := range []*entry{site.rev, site.hash} {
			if e != nil && site.offset(e.val.rng.End) <= site.offset(e.val.rng.Start) {
				return nil, fail(e, "cannot tell where the value of nixpkgs.%s ends; edit it by hand", e.key)
			}
		}
		replace := func(e *entry, key, value string) {
			if e == nil {
				insert = append(insert, key+": "+value)
				return
			}
			start, end := site.offset(e.val.rng.Start), site.offset(e.val.rng.End)
			old := site.text[start:end]
			if q := old[:1]; (q == `"` || q == `'`) && strings.HasSuffix(old, q) && len(old) > 1 {
				value = q + value + q
			}
			edits = append(edits, edit{start, end, value})
		}
		replace(site.rev, "rev", rev)
		replace(site.hash, "sha256", sha256)
		if len(insert) > 0 {
			if site.first == nil {
				// `nixpkgs: {}`: fill the braces.
				open := site.offset(site.key.val.rng.Start)
				edits = append(edits, edit{open + 1, open + 1, strings.Join(insert, ", ")})
				break
			}
			if start := site.offset(site.key.val.rng.Start); site.text[start] == '{' {
				edits = append(edits, edit{start + 1, start + 1, strings.Join(insert, ", ") + ", "})
				break
			}
			// A block mapping: new lines at the first key's indentation.
			at := site.offset(site.first.keyRange.Start)
			indent := strings.Repeat(" ", site.first.keyRange.Start.Column-1)
			edits = append(edits, edit{at, at, strings.Join(insert, "\n"+indent) + "\n" + indent})
		}
	}

	// Apply from the end, so that earlier offsets stay valid.
	sort.Slice(edits, func(i, j int) bool { return edits[i].at < edits[j].at })
	out := site.text
	for i := len(edits) - 1; i >= 0; i-- {
		e := edits[i]
		out = out[:e.at] + e.with + out[e.end:]
	}
	if site.bom {
		out = "\uFEFF" + out
	}
	// The result must read back as the pin that was asked for.
	got, err := ReadPin(filename, []byte(out))
	if err != nil || got.Rev != rev || got.SHA256 != sha256 {
		return nil, fmt.Errorf("%s: rewriting the pin did not give rev %s and sha256 %s (got %+v, %v); edit it by hand", filename, rev, sha256, got, err)
	}
	return []byte(out), nil
}

func locatePin(filename string, data []byte) (*pinSite, error) {
	errs := &errorList{filename: filename}
	r := &reader{filename: filename, errs: errs}
	root := r.readYAML(data)
	if root == nil {
		if len(errs.errs) == 0 {
			return nil, errors.New(filename + ": not a Laingfile")
		}
		return nil, errs.result()
	}
	if root.kind != kindMap {
		return nil, &Error{Filename: filename, Range: root.rng, Msg: "expected a mapping at the top level, got " + root.kind.describe()}
	}
	text := string(data)
	site := &pinSite{text: strings.TrimPrefix(text, "\uFEFF"), bom: strings.HasPrefix(text, "\uFEFF"), lines: r.lines}
	for _, e := range root.entries {
		if e.key == "nixpkgs" && !e.merged {
			site.key = e
		}
	}
	if site.key == nil {
		return site, nil
	}
	if site.key.val.kind == kindInvalid {
		return nil, &Error{Filename: filename, Range: site.key.keyRange, Msg: "nixpkgs: the value is not valid here; edit it by hand"}
	}
	for _, e := range site.key.val.entries {
		if site.first == nil && !e.merged {
			site.first = e
		}
		switch e.key {
		case "rev":
			site.rev = e
		case "sha256":
			site.hash = e
		case "url":
			site.url = e
		case "flakeLock":
			site.lock = e
		}
	}
	for _, e := range []*entry{site.rev, site.hash, site.url, site.lock} {
		if e != nil && e.val.kind == kindInvalid {
			return nil, &Error{Filename: filename, Range: e.val.rng, Msg: fmt.Sprintf("nixpkgs.%s is set by a build arg; edit it by hand", e.key)}
		}
	}
	return site, nil
}

// offset is the byte offset of a position in the source.
func (s *pinSite) offset(p Pos) int {
	off := 0
	rest := s.text
	for line := 1; line < p.Line; line++ {
		i := strings.IndexAny(rest, "\r\n")
		if i < 0 {
			return len(s.text)
		}
		n := i + 1
		if rest[i] == '\r' && i+1 < len(rest) && rest[i+1] == '\n' {
			n++
		}
		off += n
		rest = rest[n:]
	}
	for col := 1; col < p.Column && len(rest) > 0; col++ {
		_, size := utf8.DecodeRuneInString(rest)
		off += size
		rest = rest[size:]
	}
	return off
}

// insertionPoint is where a new top-level `nixpkgs:` goes: after the leading comment and blank
// lines (the `# syntax=` line first of all), at the start of the first line with content.
func (s *pinSite) insertionPoint() int {
	for i, line := range s.lines {
		t := strings.TrimSpace(line)
		if t == "" || strings.HasPrefix(t, "#") || t == "---" || strings.HasPrefix(t, "%") {
			continue
		}
		return s.offset(Pos{Line: i + 1, Column: 1})
	}
	return len(s.text)
}
