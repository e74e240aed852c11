package laingfile

import (
	"sort"
	"strings"
)

// substitute replaces ${NAME} in a string node with the build arg NAME, and $${ with a literal
// ${. A reference to an undefined arg, or a malformed one, is an error and marks the node
// invalid so that the schema does not report it a second time. What the args add to the file's
// strings counts against maxArgExpansion; past it, the node where that happens is an error and
// later values that would grow are invalid without errors of their own.
func (r *reader) substitute(n *node) {
	if !strings.Contains(n.text, "$") {
		return
	}
	out, added, problem := expandArgs(n.text, r.args, r.argNames, maxArgExpansion-r.argText)
	switch {
	case problem == errArgBudget && r.overBudget:
		n.kind = kindInvalid
		return
	case problem == errArgBudget:
		r.overBudget = true
		r.errs.addPinned(n.rng, "build args expand this Laingfile by more than %d MiB; a build arg is for a version, a name or a path (put larger content in a file in the build context, and copy it)", maxArgExpansion>>20)
		n.kind = kindInvalid
		return
	case problem != "":
		r.errs.add(n.rng, "%s", problem)
		n.kind = kindInvalid
		return
	}
	r.argText += added
	n.text = out
}

// errArgBudget is the problem expandArgs reports when the args would add more than budget bytes.
const errArgBudget = "build args expand beyond the budget"

// expandArgs does the substitution of substitute; added is the bytes the args added, and problem
// a user-facing message, errArgBudget when they would add more than budget, or "".
func expandArgs(s string, args map[string]string, names []string, budget int) (out string, added int, problem string) {
	var b strings.Builder
	for {
		i := strings.IndexByte(s, '$')
		if i < 0 {
			b.WriteString(s)
			return b.String(), added, ""
		}
		b.WriteString(s[:i])
		s = s[i:]
		switch {
		case strings.HasPrefix(s, "$${"):
			b.WriteString("${")
			s = s[3:]
		case strings.HasPrefix(s, "${"):
			end := strings.IndexByte(s, '}')
			if end < 0 {
				return "", 0, `unterminated build-arg reference "` + s + `": expected ${NAME} (write $${ for a literal ${)`
			}
			name := s[2:end]
			if !isArgName(name) {
				return "", 0, `invalid build-arg reference "` + s[:end+1] + `": expected ${NAME}, where NAME is letters, digits and "_" (write $${ for a literal ${)`
			}
			v, ok := args[name]
			if !ok {
				return "", 0, undefinedArg(name, names)
			}
			added += len(v)
			if added > budget {
				return "", 0, errArgBudget
			}
			b.WriteString(v)
			s = s[end+1:]
		default:
			// A "$" that does not start "${" is literal ($HOME stays $HOME).
			b.WriteByte('$')
			s = s[1:]
		}
	}
}

func undefinedArg(name string, names []string) string {
	msg := `undefined build arg "` + name + `" in "${` + name + `}"`
	if s := DidYouMean(name, names); s != "" {
		return msg + s
	}
	if len(names) == 0 {
		return msg + ` (no build args are set; pass --build-arg ` + name + `=…)`
	}
	return msg + ` (set build args: ` + strings.Join(names, ", ") + `)`
}

// isArgName reports whether s is a build-arg name: a letter or "_", then letters, digits, "_".
func isArgName(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		switch {
		case c == '_', c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// sortedKeys returns the keys of m in order, for deterministic messages.
func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
