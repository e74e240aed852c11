package laingfile

import (
	"errors"
	"fmt"
	"hash/fnv"
	"sort"
	"strings"
	"unicode/utf8"

	yaml "github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/lexer"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"
)

// This file turns YAML text into a small tree of nodes that carry their source ranges. Aliases
// and merge keys are resolved here, and build args are substituted into string values, so that
// the schema code (parse.go and the parse_*.go files) only sees mappings, lists and scalars.

// maxSourceSize bounds the input. A Laingfile is a few kilobytes; the YAML parser's time grows
// faster than linearly with the number of keys in a mapping, and 128 KiB keeps the worst case
// around a second.
const maxSourceSize = 128 << 10

// maxFlowDepth bounds the nesting of flow lists and mappings (see tooDeep).
const maxFlowDepth = 64

// maxExpansion bounds the values that alias uses add to the tree: every time an alias is
// followed, the number of values it stands for counts (its nested aliases included), so that a
// file of nested or much reused aliases (a "billion laughs") fails instead of making the checks,
// the errors and the image config grow without bound. Merged entries count too.
const maxExpansion = 100000

// maxAliasText bounds the text (keys and string values) that alias uses add, for the same
// reason: a long string aliased a thousand times is a small file but a huge image config.
const maxAliasText = 1 << 20

// maxArgExpansion bounds the bytes that build-arg substitution adds to a Laingfile's strings.
const maxArgExpansion = 1 << 20

// maxErrors is the most problems Parse lists; one more line says how many it left out.
const maxErrors = 50

// kind is the YAML type of a node, as the schema sees it.
type kind uint8

const (
	kindNull kind = iota
	kindString
	kindInt
	kindFloat
	kindBool
	kindMap
	kindSeq
	// kindInvalid marks a value that already has an error (e.g. an undefined build arg); the schema
	// skips it silently so that one mistake is reported once.
	kindInvalid
)

// describe names a kind for messages like "expected a list, got a mapping".
func (k kind) describe() string {
	switch k {
	case kindNull:
		return "nothing (null)"
	case kindString:
		return "a string"
	case kindInt, kindFloat:
		return "a number"
	case kindBool:
		return "a boolean"
	case kindMap:
		return "a mapping"
	case kindSeq:
		return "a list"
	}
	return "an invalid value"
}

// node is one YAML value with its position.
type node struct {
	kind kind
	// text is the value of a string (escapes resolved, build args substituted) or the source text of
	// any other scalar (so that `1.10` stays "1.10" when a string is wanted).
	text string
	// infinite is set for .inf and .nan floats, which have no JSON form.
	infinite bool
	entries  []*entry // kindMap, in file order (merged entries after explicit ones)
	items    []*node  // kindSeq
	rng      Range
	// size is the number of values in the node, and textSize the bytes of its keys and strings,
	// counting what its aliases stand for: the cost of following an alias to it.
	size, textSize int
}

// weigh sets n's size and textSize from its children and returns n.
func weigh(n *node) *node {
	n.size, n.textSize = 1, len(n.text)
	for _, e := range n.entries {
		n.size += e.val.size
		n.textSize += len(e.key) + e.val.textSize
	}
	for _, it := range n.items {
		n.size += it.size
		n.textSize += it.textSize
	}
	return n
}

// entry is one key/value pair of a mapping.
type entry struct {
	key      string
	keyRange Range
	val      *node
	// merged is set for entries that came from a `<<` merge key; they are never duplicates.
	merged bool
}

// isScalar reports whether n is a string, number or boolean.
func (n *node) isScalar() bool {
	switch n.kind {
	case kindString, kindInt, kindFloat, kindBool:
		return true
	}
	return false
}

// reader converts one goccy AST into nodes, collecting errors.
type reader struct {
	filename string
	lines    []string
	errs     *errorList
	args     map[string]string
	argNames []string
	// anchors maps an anchor name to its converted value; nil while the anchored value is being
	// converted (an alias to it then would be recursive).
	anchors map[string]*node
	// expanded and expandedText are what alias uses and merges have added (see maxExpansion);
	// argText is what build args have added (see maxArgExpansion).
	expanded, expandedText int
	argText                int
	// overBudget is set once an expansion budget is exhausted and reported: later aliases and
	// substitutions are then invalid values without errors of their own.
	overBudget bool
	// runeOffsets caches, per non-ASCII line, the byte offset of each character.
	runeOffsets map[int][]int
}

// errorList collects errors. It drops exact repeats (same place, same message), which aliases
// produce, and keeps only the first maxErrors in file order, counting the rest.
type errorList struct {
	filename string
	errs     Errors
	seen     map[uint64]bool
	// seq orders errors at the same position by when they were found.
	seq     map[*Error]int
	next    int
	dropped int
	// firstDropped is the earliest position among the dropped errors.
	firstDropped Range
	// pinned errors are never dropped: they say why the checks stopped (an expansion budget).
	pinned map[*Error]bool
}

// addPinned adds an error that the cap never drops.
func (l *errorList) addPinned(r Range, format string, args ...any) {
	if e := l.record(r, fmt.Sprintf(format, args...)); e != nil {
		if l.pinned == nil {
			l.pinned = map[*Error]bool{}
		}
		l.pinned[e] = true
	}
}

func (l *errorList) add(r Range, format string, args ...any) {
	l.record(r, fmt.Sprintf(format, args...))
}

// record adds an error unless it is a repeat; it returns the new error, or nil.
func (l *errorList) record(r Range, msg string) *Error {
	h := fnv.New64a()
	fmt.Fprintf(h, "%d:%d:%d:%d:%s", r.Start.Line, r.Start.Column, r.End.Line, r.End.Column, msg)
	k := h.Sum64()
	if l.seen == nil {
		l.seen = map[uint64]bool{}
		l.seq = map[*Error]int{}
	}
	if l.seen[k] {
		return nil
	}
	l.seen[k] = true
	e := &Error{Filename: l.filename, Range: r, Msg: msg}
	l.seq[e] = l.next
	l.next++
	l.errs = append(l.errs, e)
	if len(l.errs) >= 4*maxErrors {
		l.trim()
	}
	return e
}

// trim sorts the errors into file order and keeps the first maxErrors. Trimming as errors
// arrive keeps memory bounded; the first maxErrors of a superset are never among those dropped.
func (l *errorList) trim() {
	sort.SliceStable(l.errs, func(i, j int) bool {
		a, b := l.errs[i].Range.Start, l.errs[j].Range.Start
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		if a.Column != b.Column {
			return a.Column < b.Column
		}
		return l.seq[l.errs[i]] < l.seq[l.errs[j]]
	})
	if len(l.errs) <= maxErrors {
		return
	}
	kept := make(Errors, 0, maxErrors+len(l.pinned))
	for i, e := range l.errs {
		if i < maxErrors || l.pinned[e] {
			kept = append(kept, e)
			continue
		}
		if l.dropped == 0 || before(e.Range.Start, l.firstDropped.Start) {
			l.firstDropped = e.Range
		}
		l.dropped++
		delete(l.seq, e)
	}
	l.errs = kept
}

// result is every error kept, in file order, and when some were dropped a last one that says how
// many, at the first of them.
func (l *errorList) result() Errors {
	l.trim()
	if l.dropped == 0 {
		return append(Errors{}, l.errs...)
	}
	// The note goes after the errors at or before the first dropped one, in file order.
	at := l.firstDropped.Start
	i := sort.Search(len(l.errs), func(i int) bool { return before(at, l.errs[i].Range.Start) })
	note := &Error{Filename: l.filename, Range: Range{Start: at, End: at},
		Msg: fmt.Sprintf("… and %d more problems (fix these and build again to see the rest)", l.dropped)}
	out := append(Errors{}, l.errs[:i]...)
	out = append(out, note)
	return append(out, l.errs[i:]...)
}

func before(a, b Pos) bool {
	return a.Line < b.Line || (a.Line == b.Line && a.Column < b.Column)
}

// readYAML parses data into a single document's root node. It returns nil (with errors recorded)
// when the text is not valid YAML or holds no document.
func (r *reader) readYAML(data []byte) *node {
	if len(data) > maxSourceSize {
		r.errs.add(pointRange(1, 1), "the Laingfile is too large: %d bytes, more than the limit of %d KiB", len(data), maxSourceSize>>10)
		return nil
	}
	if !utf8.Valid(data) {
		line, col := invalidUTF8Pos(data)
		r.errs.add(pointRange(line, col), "the Laingfile is not valid UTF-8 text")
		return nil
	}
	if strings.IndexByte(string(data), 0) >= 0 {
		line, col := bytePos(data, strings.IndexByte(string(data), 0))
		r.errs.add(pointRange(line, col), "the Laingfile contains a NUL character")
		return nil
	}
	text := strings.TrimPrefix(string(data), "\uFEFF")
	r.lines = splitLines(text)
	// The YAML parser counts the "\r\n" after a comment as two line breaks; YAML reads every
	// "\r\n" as one "\n", so giving it "\n" keeps its lines those of the file.
	text = strings.ReplaceAll(text, "\r\n", "\n")

	file, err := r.safeParse(text)
	if err != nil {
		r.syntaxError(err)
		return nil
	}
	if file == nil {
		return nil // refused before parsing, with an error
	}
	var bodies []*ast.DocumentNode
	for _, doc := range file.Docs {
		if doc == nil || isEmptyBody(doc.Body) {
			continue
		}
		bodies = append(bodies, doc)
	}
	if len(bodies) == 0 {
		r.errs.add(pointRange(1, 1), "the Laingfile is empty: expected \"targets:\" or a target's keys (\"kind:\", \"sets:\", …)")
		return nil
	}
	if len(bodies) > 1 {
		rng := r.tokenRange(bodies[1].Start)
		if rng.Start.Line == 0 {
			rng = r.astRange(bodies[1].Body)
		}
		if rng.Start.Line == 0 {
			rng = pointRange(1, 1)
		}
		r.errs.add(rng, "a Laingfile holds one YAML document; remove this \"---\" and what follows it, or merge it into the first document")
		return nil
	}
	r.anchors = map[string]*node{}
	root := r.convert(bodies[0].Body, false)
	if root.rng.Start.Line == 0 {
		root.rng = pointRange(1, 1) // e.g. a document that is only "~"
	}
	return root
}

// safeParse runs the YAML parser, turning a panic inside it into a syntax error: the input is
// untrusted and a user must get a message, not a stack trace.
func (r *reader) safeParse(text string) (f *ast.File, err error) {
	defer func() {
		if p := recover(); p != nil {
			f, err = nil, errors.New("the YAML parser could not read this file")
		}
	}()
	tokens := lexer.Tokenize(text)
	if tk := tooDeep(tokens); tk != nil {
		r.errs.add(r.tokenRange(tk), "the Laingfile nests lists and mappings more than %d levels deep", maxFlowDepth)
		return nil, nil
	}
	return parser.Parse(tokens, 0, parser.AllowDuplicateMapKey())
}

// tooDeep returns the first token that opens a flow list or mapping ("[" or "{") nested more than
// maxFlowDepth levels deep. The parser's time grows with the square of the nesting depth, so deep
// nesting is refused before parsing. (Block nesting needs indentation, which bounds it by the
// file size.)
func tooDeep(tokens token.Tokens) *token.Token {
	depth := 0
	for _, tk := range tokens {
		switch tk.Type {
		case token.SequenceStartType, token.MappingStartType:
			depth++
			if depth > maxFlowDepth {
				return tk
			}
		case token.SequenceEndType, token.MappingEndType:
			depth = max(depth-1, 0)
		}
	}
	return nil
}

func isEmptyBody(n ast.Node) bool {
	switch n.(type) {
	case nil, *ast.CommentNode, *ast.CommentGroupNode, *ast.DirectiveNode:
		return true
	}
	return false
}

// syntaxError rewords a YAML parser error as "invalid YAML: …" at the parser's position.
func (r *reader) syntaxError(err error) {
	rng := pointRange(1, 1)
	msg := "the YAML parser could not read this file"
	var ye yaml.Error
	if errors.As(err, &ye) {
		if tk := ye.GetToken(); tk != nil && tk.Position != nil && tk.Position.Line > 0 {
			rng = r.tokenRange(tk)
		}
		if m := strings.TrimSpace(ye.GetMessage()); m != "" {
			msg = rewordSyntax(m)
			if strings.Contains(m, "tab character") || strings.Contains(m, "'\t'") {
				rng = r.tabRange(rng)
			}
		}
	}
	r.errs.add(rng, "invalid YAML: %s", msg)
}

// tabRange points a complaint about tabs at the first tab on its line; the parser's own column
// is past the tab.
func (r *reader) tabRange(rng Range) Range {
	if l := rng.Start.Line; l >= 1 && l <= len(r.lines) {
		if i := strings.IndexByte(r.lines[l-1], '\t'); i >= 0 {
			col := utf8.RuneCountInString(r.lines[l-1][:i]) + 1
			return Range{Start: Pos{Line: l, Column: col}, End: Pos{Line: l, Column: col + 1}}
		}
	}
	return rng
}

// rewordSyntax fixes the wording of the parser messages that users meet most often.
func rewordSyntax(m string) string {
	switch {
	case strings.HasPrefix(m, "tab character cannot use as"), strings.Contains(m, "'\t'"):
		return "tabs cannot be used for indentation; use spaces"
	case m == "mapping value is not allowed in this context":
		return "unexpected \":\" (quote values that contain \": \", or check the indentation)"
	case m == "value is not allowed in this context":
		return "unexpected value here (check the indentation)"
	case m == "found an invalid key for this map":
		return "invalid mapping key (keys must be plain strings)"
	}
	return m
}

// convert turns an AST node into a node. asKey is set for mapping keys, which are never
// substituted. Every node it returns is weighed (see node.size); an alias returns the node of
// its anchor, shared.
func (r *reader) convert(an ast.Node, asKey bool) *node {
	if _, isAlias := an.(*ast.AliasNode); isAlias {
		return r.convertOne(an, asKey)
	}
	if _, isAnchor := an.(*ast.AnchorNode); isAnchor {
		return r.convertOne(an, asKey)
	}
	return weigh(r.convertOne(an, asKey))
}

func (r *reader) convertOne(an ast.Node, asKey bool) *node {
	switch n := an.(type) {
	case nil:
		return &node{kind: kindNull}
	case *ast.NullNode:
		out := &node{kind: kindNull, text: tokenValue(n.Token)}
		// A written null or ~ has its own range. The null of `key:` is made up by the parser (its
		// text is not in the source, so tokenRange gives an empty range); it gets the position
		// after the ":" or at the "-" instead (see convertMapping and the list case).
		if rng := r.tokenRange(n.Token); rng.End != rng.Start {
			out.rng = rng
		}
		return out
	case *ast.StringNode:
		out := &node{kind: kindString, text: n.Value, rng: r.tokenRange(n.Token)}
		if !asKey {
			r.substitute(out)
		}
		return out
	case *ast.LiteralNode:
		out := &node{kind: kindString, rng: r.tokenRange(n.Start)}
		if n.Value != nil {
			out.text = n.Value.Value
			// The content starts on the line after the "|" or ">" header; the parser's own
			// position for it is not reliable at the end of the file.
			if tk := n.Value.Token; tk != nil && out.rng.Start.Line > 0 {
				if text := strings.TrimRight(tk.Origin, " \t\r\n"); text != "" {
					out.rng.End = endOf(out.rng.Start.Line+1, 1, text)
				}
			}
		}
		if !asKey {
			r.substitute(out)
		}
		return out
	case *ast.IntegerNode:
		return &node{kind: kindInt, text: tokenValue(n.Token), rng: r.tokenRange(n.Token)}
	case *ast.FloatNode:
		return &node{kind: kindFloat, text: tokenValue(n.Token), rng: r.tokenRange(n.Token)}
	case *ast.InfinityNode:
		return &node{kind: kindFloat, text: tokenValue(n.Token), infinite: true, rng: r.tokenRange(n.Token)}
	case *ast.NanNode:
		return &node{kind: kindFloat, text: tokenValue(n.Token), infinite: true, rng: r.tokenRange(n.Token)}
	case *ast.BoolNode:
		return &node{kind: kindBool, text: tokenValue(n.Token), rng: r.tokenRange(n.Token)}
	case *ast.TagNode:
		return r.convertTag(n, asKey)
	case *ast.AnchorNode:
		name := anchorName(n.Name)
		if name == "" {
			return r.convert(n.Value, asKey)
		}
		r.anchors[name] = nil // in progress: an alias to it from inside is recursive
		out := r.convert(n.Value, asKey)
		if out.kind == kindNull && out.rng == (Range{}) {
			out.rng = r.tokenRange(n.Start)
		}
		r.anchors[name] = out
		return out
	case *ast.AliasNode:
		name := anchorName(n.Value)
		rng := r.astRange(n)
		target, ok := r.anchors[name]
		switch {
		case !ok:
			r.errs.add(rng, "unknown alias \"*%s\": no anchor \"&%s\" comes before it", name, name)
			return weigh(&node{kind: kindInvalid, rng: rng})
		case target == nil:
			r.errs.add(rng, "alias \"*%s\" is inside the value it refers to", name)
			return weigh(&node{kind: kindInvalid, rng: rng})
		}
		if !r.spendAlias(target, rng, "alias \"*"+name+"\"") {
			return weigh(&node{kind: kindInvalid, rng: rng})
		}
		return target
	case *ast.MappingKeyNode:
		return r.convert(n.Value, asKey)
	case *ast.MappingNode:
		return r.convertMapping(n.Values, n.IsFlowStyle, n.Start, n.End)
	case *ast.MappingValueNode:
		// A single-entry mapping can be represented by its only entry.
		return r.convertMapping([]*ast.MappingValueNode{n}, false, nil, nil)
	case *ast.SequenceNode:
		out := &node{kind: kindSeq}
		for i, v := range n.Values {
			item := r.convert(v, false)
			if item.rng == (Range{}) && i < len(n.Entries) && n.Entries[i] != nil {
				// An empty list entry ("- " alone) is located at its "-".
				item = weigh(&node{kind: item.kind, text: item.text, rng: r.tokenRange(n.Entries[i].Start)})
			}
			out.items = append(out.items, item)
		}
		out.rng = r.collectionRange(n.IsFlowStyle, n.Start, n.End, func() (Range, Range, bool) {
			if len(out.items) == 0 {
				return Range{}, Range{}, false
			}
			return out.items[0].rng, out.items[len(out.items)-1].rng, true
		})
		return out
	case *ast.DocumentNode:
		return r.convert(n.Body, asKey)
	}
	rng := r.astRange(an)
	if rng.Start.Line == 0 {
		rng = pointRange(1, 1)
	}
	r.errs.add(rng, "unsupported YAML value here")
	return &node{kind: kindInvalid, rng: rng}
}

// convertTag applies the standard scalar tags and otherwise ignores the tag.
func (r *reader) convertTag(n *ast.TagNode, asKey bool) *node {
	out := r.convert(n.Value, asKey)
	tag := tokenValue(n.Start)
	if out.rng == (Range{}) {
		out.rng = r.tokenRange(n.Start)
	}
	if tag == "!!str" && (out.isScalar() || out.kind == kindNull) {
		// `!!str 8000` is the string "8000". A copy, because aliases may share out.
		str := *out
		str.kind = kindString
		if out.kind == kindNull {
			str.text = ""
		}
		return &str
	}
	return out
}

// convertMapping converts mapping entries, resolving `<<` merge keys: explicit keys win over
// merged ones, and earlier merged mappings win over later ones.
func (r *reader) convertMapping(values []*ast.MappingValueNode, flow bool, start, end *token.Token) *node {
	out := &node{kind: kindMap}
	var merged []*entry
	for _, mv := range values {
		if mv == nil {
			continue
		}
		if _, isMerge := unwrapKey(mv.Key).(*ast.MergeKeyNode); isMerge {
			merged = append(merged, r.mergeEntries(mv)...)
			continue
		}
		key := r.convert(mv.Key, true)
		val := r.convert(mv.Value, false)
		if val.rng == (Range{}) {
			// `key:` with nothing after it: point just past the ":".
			p := key.rng.End
			if colon := r.tokenRange(mv.Start); colon.Start.Line > 0 {
				p = colon.End
			}
			val = weigh(&node{kind: val.kind, text: val.text, rng: Range{Start: p, End: p}})
		}
		e := &entry{key: key.text, keyRange: key.rng, val: val}
		switch key.kind {
		case kindMap, kindSeq:
			r.errs.add(key.rng, "a mapping key must be a string, not %s", key.kind.describe())
			continue
		case kindInvalid:
			continue
		}
		out.entries = append(out.entries, e)
	}
	explicit := map[string]bool{}
	for _, e := range out.entries {
		explicit[e.key] = true
	}
	for _, e := range merged {
		if explicit[e.key] {
			continue
		}
		explicit[e.key] = true
		out.entries = append(out.entries, e)
	}
	out.rng = r.collectionRange(flow, start, end, func() (Range, Range, bool) {
		first, last := Range{}, Range{}
		found := false
		for _, e := range out.entries {
			if e.merged {
				continue
			}
			if !found {
				first = e.keyRange
				found = true
			}
			last = e.val.rng
			if last.End.Line == 0 {
				last = e.keyRange
			}
		}
		return first, last, found
	})
	return out
}

// mergeEntries returns the entries a `<<: *anchor` or `<<: [*a, *b]` brings in.
func (r *reader) mergeEntries(mv *ast.MappingValueNode) []*entry {
	val := r.convert(mv.Value, false)
	if val.rng == (Range{}) {
		val = weigh(&node{kind: val.kind, rng: r.astRange(mv.Key)})
	}
	var sources []*node
	switch val.kind {
	case kindMap:
		sources = []*node{val}
	case kindSeq:
		sources = val.items
	case kindInvalid:
		return nil
	default:
		r.errs.add(val.rng, "a merge key \"<<\" needs a mapping or a list of mappings, got %s", val.kind.describe())
		return nil
	}
	var out []*entry
	seen := map[string]bool{}
	for _, src := range sources {
		if src.kind == kindInvalid {
			continue
		}
		if src.kind != kindMap {
			r.errs.add(src.rng, "a merge key \"<<\" needs a mapping or a list of mappings, got %s", src.kind.describe())
			continue
		}
		for _, e := range src.entries {
			if seen[e.key] {
				continue
			}
			seen[e.key] = true
			if !r.spendMerge(e, r.astRange(mv.Key)) {
				return out
			}
			c := *e
			c.merged = true
			out = append(out, &c)
		}
	}
	return out
}

// spendAlias accounts for one use of an alias to n (what is "alias \"*name\""), at rng. It
// reports false when the budget is exhausted: the first time with an error there, then silently.
func (r *reader) spendAlias(n *node, rng Range, what string) bool {
	if r.overBudget {
		return false
	}
	r.expanded += n.size
	r.expandedText += n.textSize
	switch {
	case r.expanded > maxExpansion:
		r.errs.addPinned(rng, "%s: aliases expand this Laingfile to more than %d values; use fewer or smaller aliases", what, maxExpansion)
	case r.expandedText > maxAliasText:
		r.errs.addPinned(rng, "%s: aliases expand this Laingfile to more than %d MiB of text; use fewer or smaller aliases", what, maxAliasText>>20)
	default:
		return true
	}
	r.overBudget = true
	return false
}

// spendMerge accounts for one entry a merge key "<<" (at rng) brings in.
func (r *reader) spendMerge(e *entry, rng Range) bool {
	return r.spendAlias(&node{size: 1, textSize: len(e.key)}, rng, `merge key "<<"`)
}

func unwrapKey(n ast.Node) ast.Node {
	if k, ok := n.(*ast.MappingKeyNode); ok {
		return k.Value
	}
	return n
}

func anchorName(n ast.Node) string {
	if n == nil {
		return ""
	}
	if s, ok := n.(*ast.StringNode); ok {
		return s.Value
	}
	if tk := n.GetToken(); tk != nil {
		return tk.Value
	}
	return ""
}

func tokenValue(tk *token.Token) string {
	if tk == nil {
		return ""
	}
	return tk.Value
}

// collectionRange is the range of a mapping or list: from its opening bracket to its closing one
// for flow style, else from its first item to the end of its last.
func (r *reader) collectionRange(flow bool, start, end *token.Token, items func() (first, last Range, ok bool)) Range {
	if flow || (start != nil && (start.Type == token.MappingStartType || start.Type == token.SequenceStartType)) {
		rng := r.tokenRange(start)
		if end != nil && end.Position != nil && end.Position.Line > 0 {
			rng.End = Pos{Line: end.Position.Line, Column: max(end.Position.Column, 1) + 1}
		}
		if rng.Start.Line > 0 {
			return rng
		}
	}
	first, last, ok := items()
	if ok && first.Start.Line > 0 {
		if start != nil && start.Type == token.SequenceEntryType {
			// A block list starts at its first "-".
			first = r.tokenRange(start)
		}
		end := last.End
		if end.Line == 0 {
			end = first.End
		}
		return Range{Start: first.Start, End: end}
	}
	return r.tokenRange(start)
}

// astRange is the best range for an arbitrary AST node: its token's.
func (r *reader) astRange(n ast.Node) Range {
	if n == nil {
		return Range{}
	}
	return r.tokenRange(n.GetToken())
}

// tokenRange is the source range of a token. goccy's positions are 1-based lines and columns
// counted in characters; its token text (Origin) includes surrounding blanks and, for quoted
// and multi-line scalars, the quotes and line breaks, so the end is found by walking the trimmed
// text from the start. When the text does not match the source (synthetic tokens, such as the
// null of `key:`), the range is the start alone.
func (r *reader) tokenRange(tk *token.Token) Range {
	if tk == nil || tk.Position == nil || tk.Position.Line <= 0 {
		return Range{}
	}
	start := Pos{Line: tk.Position.Line, Column: max(tk.Position.Column, 1)}
	text := strings.Trim(tk.Origin, " \t\r\n")
	if text == "" || !r.sourceHasAt(start, text) {
		return Range{Start: start, End: start}
	}
	return Range{Start: start, End: endOf(start.Line, start.Column, text)}
}

// sourceHasAt reports whether the source at p starts with the first line of text.
func (r *reader) sourceHasAt(p Pos, text string) bool {
	if p.Line > len(r.lines) {
		return false
	}
	line := r.lines[p.Line-1]
	off, ok := r.columnOffset(p.Line, p.Column)
	if !ok {
		return false
	}
	first := text
	if i := strings.IndexAny(text, "\r\n"); i >= 0 {
		first = text[:i]
	}
	return strings.HasPrefix(line[off:], first)
}

// columnOffset is the byte offset of a character column in a line. Offsets of non-ASCII lines
// are computed once, so that long lines with many tokens stay linear.
func (r *reader) columnOffset(line, col int) (int, bool) {
	text := r.lines[line-1]
	if r.runeOffsets == nil {
		r.runeOffsets = map[int][]int{}
	}
	offs, done := r.runeOffsets[line]
	if !done {
		if len(text) == utf8.RuneCountInString(text) {
			offs = nil // ASCII: column c is byte c-1
		} else {
			offs = make([]int, 0, len(text)+1)
			for i := range text {
				offs = append(offs, i)
			}
			offs = append(offs, len(text))
		}
		r.runeOffsets[line] = offs
	}
	if offs == nil {
		return col - 1, col-1 <= len(text)
	}
	if col-1 >= len(offs) {
		return 0, false
	}
	return offs[col-1], true
}

// endOf is the position just past text when it starts at line:col. Line breaks are "\n", "\r\n"
// or a lone "\r", as for the YAML parser.
func endOf(line, col int, text string) Pos {
	prevCR := false
	for _, c := range text {
		switch {
		case c == '\n' && prevCR:
		case c == '\n' || c == '\r':
			line++
			col = 1
		default:
			col++
		}
		prevCR = c == '\r'
	}
	return Pos{Line: line, Column: col}
}

// splitLines splits text into lines the way the YAML parser counts them.
func splitLines(text string) []string {
	var lines []string
	for {
		i := strings.IndexAny(text, "\r\n")
		if i < 0 {
			return append(lines, text)
		}
		lines = append(lines, text[:i])
		if text[i] == '\r' && i+1 < len(text) && text[i+1] == '\n' {
			i++
		}
		text = text[i+1:]
	}
}

func pointRange(line, col int) Range {
	p := Pos{Line: line, Column: col}
	return Range{Start: p, End: p}
}

// bytePos is the 1-based line and character column of byte offset off in data.
func bytePos(data []byte, off int) (int, int) {
	line, col := 1, 1
	for i := 0; i < off && i < len(data); {
		c, size := utf8.DecodeRune(data[i:])
		if c == '\n' {
			line++
			col = 1
		} else {
			col++
		}
		i += size
	}
	return line, col
}

// invalidUTF8Pos is the position of the first byte that is not valid UTF-8.
func invalidUTF8Pos(data []byte) (int, int) {
	for i := 0; i < len(data); {
		c, size := utf8.DecodeRune(data[i:])
		if c == utf8.RuneError && size <= 1 {
			return bytePos(data, i)
		}
		i += size
	}
	return 1, 1
}
