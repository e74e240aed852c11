package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strconv"
	"strings"
)

// PAM, as far as sudo meets it. nixpkgs' default sudo is built with Linux-PAM, so once installed
// setuid it calls pam_start("sudo") (reading /etc/pam.d/sudo, or /etc/pam.d/other), then
// pam_authenticate only when a password is needed, pam_acct_mgmt and pam_open_session, and a
// missing configuration or module makes it fail. The fixture reproduces those failures: it reads
// the configuration the way Linux-PAM does (types, controls including [value=action] brackets and
// jumps, include/substack/@include, "-" lines), checks that every module file exists and gives
// the few modules that decide anything their Linux-PAM results (pam_permit, pam_deny, pam_rootok,
// pam_unix); any other module that exists succeeds.
//
// Whether this sudo is the PAM build is read from its own file: the fixture's sudo derivation
// appends "\nfixturesudo-pam-modules=<linux-pam>/lib/security\n" to bin/sudo when it is built
// with linux-pam (the directory relative module names resolve to, libpam's compiled-in
// $libdir/security). `sudo.override { linux-pam = null; }` appends nothing, and neither does the
// bootstrap tree: without the marker there is no PAM at all.

// pamMarker starts the line the PAM build appends to the binary.
const pamMarker = "\nfixturesudo-pam-modules="

// pamModuleDir reads the marker from the end of the executable; "" means built without PAM.
func pamModuleDir(exe string) string {
	f, err := os.Open(exe)
	if err != nil {
		return ""
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return ""
	}
	const tail = 4096
	off := fi.Size() - tail
	if off < 0 {
		off = 0
	}
	buf := make([]byte, fi.Size()-off)
	if _, err := f.ReadAt(buf, off); err != nil && !errors.Is(err, io.EOF) {
		return ""
	}
	i := bytes.LastIndex(buf, []byte(pamMarker))
	if i < 0 {
		return ""
	}
	v := buf[i+len(pamMarker):]
	if j := bytes.IndexByte(v, '\n'); j >= 0 {
		v = v[:j]
	}
	return string(v)
}

// pamCode is a Linux-PAM return code, by the name [value=action] controls use.
type pamCode string

const (
	pamSuccess       pamCode = "success"
	pamPermDenied    pamCode = "perm_denied"
	pamAuthErr       pamCode = "auth_err"
	pamSessionErr    pamCode = "session_err"
	pamModuleUnknown pamCode = "module_unknown"
	pamUserUnknown   pamCode = "user_unknown"
	pamAbort         pamCode = "abort"
)

// pamStrerror is pam_strerror's text for the code.
func pamStrerror(c pamCode) string {
	switch c {
	case pamSuccess:
		return "Success"
	case pamPermDenied:
		return "Permission denied"
	case pamAuthErr:
		return "Authentication failure"
	case pamSessionErr:
		return "Cannot make/remove an entry for the specified session"
	case pamModuleUnknown:
		return "Module is unknown"
	case pamUserUnknown:
		return "User not known to the underlying authentication module"
	case pamAbort:
		return "Critical error - immediate abort"
	}
	return string(c)
}

// pamLine is one module line of a service's stack, includes resolved.
type pamLine struct {
	typ     string            // auth, account, session, password
	actions map[string]string // return code (or "default") -> ok, done, bad, die, ignore, reset or N
	silent  bool              // "-type": a module that cannot be loaded is skipped
	module  string            // as written
	args    []string
}

// pamService is a parsed service configuration.
type pamService struct {
	lines     []pamLine
	moduleDir string
	exists    func(string) bool // whether a module file exists (os.Stat in sudo)
}

var errPAMInit = errors.New("unable to initialize PAM: " + pamStrerror(pamAbort))

// loadPAM reads /etc/pam.d/<service>, falling back to /etc/pam.d/other, as pam_start does. With
// neither, pam_start fails and sudo says "unable to initialize PAM: Critical error - immediate
// abort".
func loadPAM(fsys fs.FS, service, moduleDir string, exists func(string) bool) (*pamService, error) {
	s := &pamService{moduleDir: moduleDir, exists: exists}
	for _, name := range []string{service, "other"} {
		lines, err := readPAMFile(fsys, name, "", 0)
		if err == nil {
			s.lines = lines
			return s, nil
		}
		if !isNotExist(err) {
			return nil, errPAMInit
		}
	}
	return nil, errPAMInit
}

// controls are the simple control keywords as Linux-PAM expands them.
var controls = map[string]map[string]string{
	"required":   {"success": "ok", "new_authtok_reqd": "ok", "ignore": "ignore", "default": "bad"},
	"requisite":  {"success": "ok", "new_authtok_reqd": "ok", "ignore": "ignore", "default": "die"},
	"sufficient": {"success": "done", "new_authtok_reqd": "done", "default": "ignore"},
	"optional":   {"success": "ok", "new_authtok_reqd": "ok", "default": "ignore"},
}

// readPAMFile parses etc/pam.d/<name>; onlyType keeps the lines of one type (include).
func readPAMFile(fsys fs.FS, name, onlyType string, depth int) ([]pamLine, error) {
	if depth > 16 {
		return nil, fmt.Errorf("/etc/pam.d/%s: includes nest too deeply", name)
	}
	data, err := fs.ReadFile(fsys, path.Join("etc/pam.d", strings.TrimPrefix(name, "/etc/pam.d/")))
	if err != nil {
		return nil, err
	}
	var out []pamLine
	text := strings.ReplaceAll(string(data), "\\\n", " ")
	for _, raw := range strings.Split(text, "\n") {
		if i := strings.IndexByte(raw, '#'); i >= 0 {
			raw = raw[:i]
		}
		fields := splitPAMFields(raw)
		if len(fields) == 0 {
			continue
		}
		if fields[0] == "@include" {
			if len(fields) > 1 {
				inc, err := readPAMFile(fsys, fields[1], onlyType, depth+1)
				if err != nil && !isNotExist(err) {
					return nil, err
				}
				out = append(out, inc...)
			}
			continue
		}
		if len(fields) < 3 {
			continue // Linux-PAM logs and skips a malformed line
		}
		typ, silent := strings.ToLower(fields[0]), false
		if strings.HasPrefix(typ, "-") {
			typ, silent = typ[1:], true
		}
		if onlyType != "" && typ != onlyType {
			continue
		}
		control := fields[1]
		if control == "include" || control == "substack" {
			inc, err := readPAMFile(fsys, fields[2], typ, depth+1)
			if err != nil && !isNotExist(err) {
				return nil, err
			}
			out = append(out, inc...)
			continue
		}
		var actions map[string]string
		if strings.HasPrefix(control, "[") {
			actions = map[string]string{}
			for _, kv := range strings.Fields(strings.Trim(control, "[]")) {
				k, v, _ := strings.Cut(kv, "=")
				actions[strings.ToLower(k)] = strings.ToLower(v)
			}
		} else if a, ok := controls[strings.ToLower(control)]; ok {
			actions = a
		} else {
			continue
		}
		out = append(out, pamLine{typ: typ, actions: actions, silent: silent, module: fields[2], args: fields[3:]})
	}
	return out, nil
}

// splitPAMFields splits a line on blanks, keeping a [bracketed control] as one field.
func splitPAMFields(s string) []string {
	var out []string
	for s = strings.TrimSpace(s); s != ""; s = strings.TrimSpace(s) {
		if s[0] == '[' {
			if j := strings.IndexByte(s, ']'); j >= 0 {
				out = append(out, s[:j+1])
				s = s[j+1:]
				continue
			}
		}
		j := strings.IndexAny(s, " \t")
		if j < 0 {
			out = append(out, s)
			break
		}
		out = append(out, s[:j])
		s = s[j:]
	}
	return out
}

// pamRequest is what the modules may look at.
type pamRequest struct {
	uid       int  // the invoking user (pam_rootok)
	userKnown bool // the target of the check exists in passwd (pam_unix account)
}

// modulePath is where Linux-PAM loads the module from.
func (s *pamService) modulePath(m string) string {
	if strings.HasPrefix(m, "/") {
		return m
	}
	return path.Join(s.moduleDir, m)
}

// call runs one module's function for the stack type.
func (s *pamService) call(l pamLine, r pamRequest) (pamCode, bool) {
	if !s.exists(s.modulePath(l.module)) {
		// dlopen fails: Linux-PAM keeps a faulty module that returns PAM_MODULE_UNKNOWN,
		// or skips the line when it starts with "-".
		return pamModuleUnknown, !l.silent
	}
	fail := map[string]pamCode{"auth": pamAuthErr, "account": pamAuthErr, "session": pamSessionErr, "password": pamAuthErr}[l.typ]
	switch strings.TrimSuffix(path.Base(l.module), ".so") {
	case "pam_permit":
		return pamSuccess, true
	case "pam_deny":
		return fail, true
	case "pam_rootok":
		if r.uid == 0 {
			return pamSuccess, true
		}
		return pamPermDenied, true
	case "pam_unix":
		switch l.typ {
		case "account":
			if !r.userKnown {
				return pamUserUnknown, true
			}
			return pamSuccess, true
		case "auth", "password":
			// Would converse for a password; the fixture never reads one.
			return pamAuthErr, true
		}
	}
	return pamSuccess, true
}

// run evaluates the stack of one type the way Linux-PAM's _pam_dispatch_aux does on a first
// call: ok/done/bad/die/ignore/reset/N actions, the first failure's code kept, and no decisive
// module at all counting as failure.
func (s *pamService) run(typ string, r pamRequest) pamCode {
	var stack []pamLine
	for _, l := range s.lines {
		if l.typ == typ {
			stack = append(stack, l)
		}
	}
	const (
		undef = iota
		good
		bad
	)
	_ = undef
	impression, status := undef, pamPermDenied
	for i := 0; i < len(stack); i++ {
		code, counts := s.call(stack[i], r)
		if !counts {
			continue
		}
		action, ok := stack[i].actions[string(code)]
		if !ok {
			action, ok = stack[i].actions["default"]
			if !ok {
				action = "bad"
			}
		}
		switch action {
		case "ignore":
		case "reset":
			impression, status = undef, pamPermDenied
		case "ok", "done":
			if impression == undef || (impression == good && status == pamSuccess) {
				impression, status = good, code
			}
			if action == "done" && impression == good {
				return status
			}
		case "bad", "die":
			if impression != bad {
				impression, status = bad, code
				if code == pamSuccess {
					status = pamPermDenied
				}
			}
			if action == "die" {
				return status
			}
		default:
			if n, err := strconv.Atoi(action); err == nil && n > 0 {
				i += n
			}
		}
	}
	return status // PAM_PERM_DENIED when no module decided anything
}

// accountError is sudo's message for a failed pam_acct_mgmt.
func accountError(c pamCode) error {
	if c == pamAuthErr {
		return errors.New("account validation failure, is your account locked?")
	}
	return fmt.Errorf("PAM account management error: %s", pamStrerror(c))
}

// sessionError is what sudo prints for a failed pam_open_session: a warning, then the policy
// plugin's failure.
func sessionError(c pamCode) error {
	fmt.Fprintf(os.Stderr, "sudo: pam_open_session: %s\n", pamStrerror(c))
	return errors.New("policy plugin failed session initialization")
}
