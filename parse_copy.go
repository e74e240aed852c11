package laingfile

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// This file reads a target's `copy:`: the entries, their owner (chownIDs) and their mode
// (checkMode).

// copyReader is the state of one entry of `copy:` being read.
type copyReader struct {
	item
	cp    Copy
	chown Range
}

var copyFields = table[*copyReader]{
	{key: "src", missing: "(a path in the build context)", read: func(r *copyReader, e *entry) {
		r.cp.Src = r.value(e, "a path in the build context", asIs(contextPath))
	}},
	{key: "dst", missing: "(an absolute path in the image)", read: func(r *copyReader, e *entry) {
		r.cp.Dst = r.value(e, "an absolute path in the image", asIs(absPath))
	}},
	{key: "chown", read: func(r *copyReader, e *entry) {
		r.chown = e.val.rng
		r.cp.Chown = r.value(e, "\"user\", \"user:group\" or \"uid:gid\"", asIs(checkOwner))
	}},
	{key: "chmod", read: func(r *copyReader, e *entry) {
		r.cp.Chmod = r.value(e, modeExpected, asIs(checkMode))
	}},
}

// copies reads `copy:`; with the entries it returns the range of each one's chown, which
// target checks once the image's user is known.
func (c *checker) copies(n *node) ([]Copy, []Range) {
	out := []Copy{}
	var chowns []Range
	ok := c.mappings(n, "copy", "a list of {src, dst} mappings", "a mapping {src, dst}", func(it *node, what string) {
		r := &copyReader{item: item{checker: c, what: what, valid: true}, cp: Copy{Range: it.rng}}
		if copyFields.readMapping(c, r, it, what) && r.valid {
			out = append(out, r.cp)
			chowns = append(chowns, r.chown)
		}
	})
	if !ok {
		return nil, nil
	}
	return out, chowns
}

// chownIDs resolves a copy's owner to a uid and gid: numbers stay, the image user's name is its
// uid (and, as a group, its gid), root is 0, and wheel (devcontainers) is 10; a user alone gives
// its own group. Any other name is a problem: the image has no other accounts to look it up in.
func chownIDs(s string, t *Target) (uid, gid int, problem string) {
	u := t.User
	userPart, groupPart, hasGroup := strings.Cut(s, ":")
	names := []string{u.Name, "root"}
	groups := []string{u.Name, "root"}
	if t.Kind.Traits().WheelGroup {
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
