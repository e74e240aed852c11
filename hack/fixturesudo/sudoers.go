package main

import (
	"bufio"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
)

// rule is one user specification of sudoers: who may run which commands as whom, and whether
// a password is asked for. Aliases and Defaults are not supported (they are skipped).
type rule struct {
	users    []string // names, #uid, %group, %#gid or ALL
	hosts    []string
	runUsers []string // empty: root only
	runGroup []string // empty: the target user's group only
	noPasswd bool
	commands []string // ALL or absolute paths, optionally with arguments
	source   string   // file:line, for -l
}

// caller is the user that runs sudo and the groups it is in.
type caller struct {
	name   string
	uid    int
	groups map[string]int // name → gid, the primary group included
}

// request is what the caller asks for: a command as a user (and maybe a group) on a host.
type request struct {
	host    string
	runAs   account
	group   string // -g, "" for the target user's primary group
	command string // resolved absolute path
	args    []string
}

// parseSudoers reads file from fsys (a path relative to the root of fsys, as fs.FS requires),
// following #include/@include and #includedir/@includedir, and checks each file with check
// (ownership and mode) before reading it.
func parseSudoers(fsys fs.FS, file string, check func(name string) error) ([]rule, error) {
	var rules []rule
	seen := map[string]bool{}
	var read func(name string, depth int) error
	read = func(name string, depth int) error {
		if depth > 8 {
			return fmt.Errorf("/%s: too many levels of includes", name)
		}
		if seen[name] {
			return nil
		}
		seen[name] = true
		if err := check(name); err != nil {
			return err
		}
		data, err := fs.ReadFile(fsys, name)
		if err != nil {
			return fmt.Errorf("unable to open /%s: %w", name, err)
		}
		for _, l := range logicalLines(string(data)) {
			text := strings.TrimSpace(l.text)
			switch directive, arg := includeDirective(text); directive {
			case "include":
				if err := read(relPath(name, arg), depth+1); err != nil {
					return err
				}
				continue
			case "includedir":
				dir := relPath(name, arg)
				entries, err := fs.ReadDir(fsys, dir)
				if err != nil {
					continue // sudo ignores a missing include directory
				}
				for _, e := range entries {
					// As sudo: skip names that end in ~ or contain a dot (editor backups,
					// package manager leftovers).
					if e.IsDir() || strings.HasSuffix(e.Name(), "~") || strings.Contains(e.Name(), ".") {
						continue
					}
					if err := read(path.Join(dir, e.Name()), depth+1); err != nil {
						return err
					}
				}
				continue
			}
			text = stripComment(text)
			if text == "" || strings.HasPrefix(text, "Defaults") || isAlias(text) {
				continue
			}
			r, err := parseRule(text)
			if err != nil {
				return fmt.Errorf("/%s:%d: %w", name, l.line, err)
			}
			r.source = fmt.Sprintf("/%s:%d", name, l.line)
			rules = append(rules, r)
		}
		return nil
	}
	return rules, read(file, 0)
}

type logicalLine struct {
	line int
	text string
}

// logicalLines joins lines continued with a trailing backslash.
func logicalLines(data string) []logicalLine {
	var out []logicalLine
	var cur strings.Builder
	start := 0
	sc := bufio.NewScanner(strings.NewReader(data))
	n := 0
	for sc.Scan() {
		n++
		t := sc.Text()
		if cur.Len() == 0 {
			start = n
		}
		if strings.HasSuffix(t, "\\") {
			cur.WriteString(strings.TrimSuffix(t, "\\"))
			cur.WriteByte(' ')
			continue
		}
		cur.WriteString(t)
		out = append(out, logicalLine{start, cur.String()})
		cur.Reset()
	}
	if cur.Len() > 0 {
		out = append(out, logicalLine{start, cur.String()})
	}
	return out
}

// includeDirective recognises "#include FILE", "@include FILE", "#includedir DIR" and
// "@includedir DIR".
func includeDirective(text string) (string, string) {
	if len(text) < 2 || (text[0] != '#' && text[0] != '@') {
		return "", ""
	}
	word, arg, _ := strings.Cut(text[1:], " ")
	if word == "include" || word == "includedir" {
		return word, strings.TrimSpace(arg)
	}
	return "", ""
}

// stripComment drops a trailing comment: a # that does not start a numeric uid or gid.
func stripComment(text string) string {
	for i := 0; i < len(text); i++ {
		if text[i] == '#' && !isUIDRef(text, i) {
			return strings.TrimSpace(text[:i])
		}
	}
	return text
}

// isUIDRef reports whether the # at i starts a numeric uid or gid ("#1000", "%#1000"), not a
// comment.
func isUIDRef(text string, i int) bool {
	return i+1 < len(text) && text[i+1] >= '0' && text[i+1] <= '9'
}

func isAlias(text string) bool {
	for _, a := range []string{"User_Alias", "Runas_Alias", "Host_Alias", "Cmnd_Alias", "Cmd_Alias"} {
		if strings.HasPrefix(text, a+" ") {
			return true
		}
	}
	return false
}

// relPath turns an include argument into a path relative to the root of the file system,
// relative arguments being relative to the including file's directory.
func relPath(including, arg string) string {
	if strings.HasPrefix(arg, "/") {
		return strings.TrimPrefix(path.Clean(arg), "/")
	}
	return path.Join(path.Dir(including), arg)
}

// parseRule reads "users hosts = (runas[:groups]) TAGS: commands".
func parseRule(text string) (rule, error) {
	left, right, ok := strings.Cut(text, "=")
	if !ok {
		return rule{}, fmt.Errorf("syntax error: %q has no '='", text)
	}
	fields := strings.Fields(left)
	if len(fields) < 2 {
		return rule{}, fmt.Errorf("syntax error: %q needs users and hosts before '='", text)
	}
	r := rule{
		users: splitList(strings.Join(fields[:len(fields)-1], " ")),
		hosts: splitList(fields[len(fields)-1]),
	}
	right = strings.TrimSpace(right)
	if strings.HasPrefix(right, "(") {
		end := strings.IndexByte(right, ')')
		if end < 0 {
			return rule{}, fmt.Errorf("syntax error: unclosed '(' in %q", text)
		}
		users, groups, _ := strings.Cut(right[1:end], ":")
		r.runUsers, r.runGroup = splitList(users), splitList(groups)
		right = strings.TrimSpace(right[end+1:])
	}
	for {
		tag, rest, ok := strings.Cut(right, ":")
		if !ok || strings.ContainsAny(tag, " /,") || tag == "" {
			break
		}
		switch tag {
		case "NOPASSWD":
			r.noPasswd = true
		case "PASSWD":
			r.noPasswd = false
		}
		right = strings.TrimSpace(rest)
	}
	r.commands = splitList(right)
	if len(r.commands) == 0 {
		return rule{}, fmt.Errorf("syntax error: %q has no command", text)
	}
	return r, nil
}

func splitList(s string) []string {
	var out []string
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// decide applies the rules to a request: the last matching rule wins, as in sudo. It returns
// whether a rule matched and whether that rule needs no password.
func decide(rules []rule, c caller, req request) (matched, noPasswd bool) {
	for _, r := range rules {
		if r.matches(c, req) {
			matched, noPasswd = true, r.noPasswd
		}
	}
	return matched, noPasswd
}

// hasRules reports whether any rule names the caller at all ("is not in the sudoers file").
func hasRules(rules []rule, c caller) bool {
	return slices.ContainsFunc(rules, func(r rule) bool { return matchUser(r.users, c) })
}

func (r rule) matches(c caller, req request) bool {
	if !matchUser(r.users, c) || !matchHost(r.hosts, req.host) {
		return false
	}
	if len(r.runUsers) == 0 {
		if req.runAs.uid != 0 {
			return false
		}
	} else if !slices.ContainsFunc(r.runUsers, func(u string) bool {
		return u == "ALL" || u == req.runAs.name || u == "#"+strconv.Itoa(req.runAs.uid)
	}) {
		return false
	}
	if req.group != "" && !slices.Contains(r.runGroup, "ALL") && !slices.Contains(r.runGroup, req.group) {
		return false
	}
	return slices.ContainsFunc(r.commands, func(cmd string) bool { return matchCommand(cmd, req) })
}

func matchUser(users []string, c caller) bool {
	for _, u := range users {
		switch {
		case u == "ALL", u == c.name, u == "#"+strconv.Itoa(c.uid):
			return true
		case strings.HasPrefix(u, "%#"):
			for _, gid := range c.groups {
				if u == "%#"+strconv.Itoa(gid) {
					return true
				}
			}
		case strings.HasPrefix(u, "%"):
			if _, ok := c.groups[u[1:]]; ok {
				return true
			}
		}
	}
	return false
}

func matchHost(hosts []string, host string) bool {
	return slices.ContainsFunc(hosts, func(h string) bool { return h == "ALL" || h == host })
}

// matchCommand matches ALL, a path, or a path with its exact arguments ("" for none).
func matchCommand(spec string, req request) bool {
	if spec == "ALL" {
		return true
	}
	fields := strings.Fields(spec)
	if fields[0] != req.command {
		return false
	}
	if len(fields) == 1 {
		return true
	}
	if len(fields) == 2 && fields[1] == `""` {
		return len(req.args) == 0
	}
	return slices.Equal(fields[1:], req.args)
}
