package laingfile

import (
	"fmt"
	"strconv"
	"strings"
)

// This file reads values by their YAML type: each reader reports a value of the wrong type at
// the value, naming it by its path (what: "copy[1].dst") and saying what was expected, and
// scalar passes a string on to a check from values.go.

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
func (c *checker) str(n *node, what, expected string) (string, bool) {
	if n.isScalar() {
		return n.text, true
	}
	c.typeError(n, what, expected)
	return "", false
}

// A valueCheck normalises a string value: it returns the value to keep, and what is wrong with
// the value or "" (values.go has most of them).
type valueCheck func(s string) (value, problem string)

// asIs makes a valueCheck of a check that only finds problems: the value is kept as written.
func asIs(problem func(string) string) valueCheck {
	return func(s string) (string, string) { return s, problem(s) }
}

// scalar reads a string (see str) and passes it through check, reporting its problem at n as
// "what: problem". It returns the value check gave (or "" when n is no scalar), and whether
// there was no problem.
func (c *checker) scalar(n *node, what, expected string, check valueCheck) (string, bool) {
	return c.named(n, what, expected, func(s string) (string, string) {
		v, problem := check(s)
		if problem != "" {
			problem = what + ": " + problem
		}
		return v, problem
	})
}

// named is scalar for a value that names something (a kind, a signal): its problems are
// reported as check words them, `unknown kind "x" …`, without the path, as wrong names are.
func (c *checker) named(n *node, what, expected string, check valueCheck) (string, bool) {
	s, ok := c.str(n, what, expected)
	if !ok {
		return "", false
	}
	v, problem := check(s)
	if problem != "" {
		c.errorf(n.rng, "%s", problem)
		return v, false
	}
	return v, true
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

// stringItems reads a list of strings (see strList) and makes each into a T with read, which
// reports what is wrong with it and says whether to keep it. It returns nil when n is not a list.
func stringItems[T any](c *checker, n *node, what, expected string, read func(s string, it *node) (T, bool)) []T {
	list, nodes, ok := c.strList(n, what, expected)
	if !ok {
		return nil
	}
	out := []T{}
	for i, s := range list {
		if v, keep := read(s, nodes[i]); keep {
			out = append(out, v)
		}
	}
	return out
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

// mappings calls read with each item of the list of mappings n and the item's path ("copy[1]"),
// and reports the items that are not mappings. It reports false when n is not a list.
func (c *checker) mappings(n *node, what, expected, itemExpected string, read func(it *node, what string)) bool {
	items, ok := c.list(n, what, expected)
	for i, it := range items {
		itemWhat := fmt.Sprintf("%s[%d]", what, i)
		if it.kind != kindMap {
			c.typeError(it, itemWhat, itemExpected)
			continue
		}
		read(it, itemWhat)
	}
	return ok
}

// An item is a mapping, such as an entry of a list of mappings, that the File leaves out when
// any of its values is wrong.
type item struct {
	*checker
	what  string // the path of the mapping: "copy[1]"
	valid bool
}

// value reads the value of e with scalar, naming it what.key; a problem makes the item invalid.
func (it *item) value(e *entry, expected string, check valueCheck) string {
	s, ok := it.scalar(e.val, it.what+"."+e.key, expected, check)
	it.valid = it.valid && ok
	return s
}

// integer returns an integer value, checked by check, whose problem is reported as "what:
// problem". A string of decimal digits is accepted so that a build arg (`${UID}`) can supply it.
func (c *checker) integer(n *node, what, expected string, check func(int64) string) (int, bool) {
	switch n.kind {
	case kindInt, kindString:
		s := strings.ReplaceAll(n.text, "_", "")
		v, err := strconv.ParseInt(s, 0, 64)
		if err == nil && (n.kind == kindInt || strings.Trim(s, "0123456789") == "") && s != "" {
			if problem := check(v); problem != "" {
				c.errorf(n.rng, "%s: %s", what, problem)
				return 0, false
			}
			return int(v), true
		}
		if n.kind == kindInt {
			c.errorf(n.rng, "%s: %s is out of range; expected %s", what, n.text, expected)
			return 0, false
		}
	}
	c.typeError(n, what, expected)
	return 0, false
}

// boolean returns a boolean value.
func (c *checker) boolean(n *node, what string) (bool, bool) {
	if n.kind != kindBool {
		c.typeError(n, what, "true or false")
		return false, false
	}
	return strings.EqualFold(n.text, "true"), true
}

// isMapping reports whether n is a mapping or a null (an empty mapping), and reports it when
// it is neither.
func (c *checker) isMapping(n *node, what, expected string) bool {
	if n.kind != kindMap && n.kind != kindNull {
		c.typeError(n, what, expected)
		return false
	}
	return true
}

// fragment reads a mapping that goes into JSON as it is (nixpkgs config, devcontainer metadata,
// parts of the image config); it returns nil for a null or a value of another type.
func (c *checker) fragment(n *node, what, expected string) map[string]any {
	if !c.isMapping(n, what, expected) {
		return nil
	}
	m, _ := c.toAny(n, what).(map[string]any)
	return m
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
