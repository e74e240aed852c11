// Command fixturesudo is the sudo of the fixture nixpkgs universe (test/fixtures/nixpkgs). The
// fixture has no C compiler, so this small static program stands in for nixpkgs' sudo:
// installed setuid root (as devcontainers install /usr/bin/sudo), it reads /etc/sudoers and its
// includes, lets a user run a command when a rule allows it without a password, switches to the
// target user and executes the command. There is no password authentication: a rule without
// NOPASSWD fails as sudo does without a terminal ("a password is required"). root may always
// run commands.
//
// Two builds, told apart by a marker the fixture's sudo derivation appends to the binary (see
// pam.go): the default nixpkgs sudo is built with linux-pam, and so is the fixture's; it reads
// /etc/pam.d/sudo (or /etc/pam.d/other) and fails as PAM sudo fails without them or with a
// missing module. `sudo.override { linux-pam = null; }` (no marker, and the bootstrap binary
// itself) behaves like sudo built without PAM.
//
// Supported: sudo [-nEHiskK] [-u user] [-g group] [-D dir] [--] command [arg ...],
// sudo -l [command], sudo -v, sudo -V; users as names or #uid.
package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

const version = "1.9.16p2"

// options are the command-line flags sudo was given.
type options struct {
	user, group, dir    string
	preserveEnv, login  bool
	shell, list, verify bool
	command             []string
}

// errUsage is a command line without a command: sudo prints its usage.
var errUsage = errors.New("a command is required")

func main() {
	if err := run(os.Args[1:]); err != nil {
		if errors.Is(err, errUsage) {
			usage()
		} else {
			fmt.Fprintf(os.Stderr, "sudo: %v\n", err)
		}
		os.Exit(1)
	}
}

func run(args []string) error {
	opts, done, err := parseArgs(args)
	if err != nil || done {
		return err
	}
	if os.Geteuid() != 0 {
		return notSetuid()
	}
	root := os.DirFS("/")
	users, err := readAccounts(root)
	if err != nil {
		return err
	}
	me, ok := users.byUID(os.Getuid())
	if !ok {
		return fmt.Errorf("you do not exist in the passwd database")
	}
	target := opts.user
	if target == "" {
		target = "root"
	}
	runAs, ok := users.lookup(target)
	if !ok {
		return fmt.Errorf("unknown user %s", target)
	}
	host, _ := os.Hostname()
	c := caller{name: me.name, uid: me.uid, groups: users.groupsOf(me)}

	argv, path, err := commandLine(opts, runAs)
	if err != nil {
		return err
	}
	req := request{host: host, runAs: runAs, group: opts.group, command: path}
	if len(argv) > 1 {
		req.args = argv[1:]
	}

	rules, err := parseSudoers(root, "etc/sudoers", checkPolicyFile)
	if err != nil && me.uid != 0 {
		return err
	}
	// The PAM build starts PAM for every caller, root included, before any decision.
	var pam *pamService
	if dir := pamModuleDir("/proc/self/exe"); dir != "" {
		if pam, err = loadPAM(root, "sudo", dir, fileExists); err != nil {
			return err
		}
	}
	// passwordNeeded is sudo's authentication step: without PAM it fails (no password is
	// read); with PAM the auth stack decides (pam_permit lets the user in, pam_deny refuses).
	passwordNeeded := func() error {
		if pam != nil && pam.run("auth", pamRequest{uid: me.uid, userKnown: true}) == pamSuccess {
			return nil
		}
		return errors.New("a password is required")
	}
	if me.uid != 0 {
		if !hasRules(rules, c) {
			return fmt.Errorf("%s is not in the sudoers file", me.name)
		}
		matched, noPasswd := decide(rules, c, req)
		switch {
		case opts.list && len(opts.command) == 0:
			return listRules(rules, c)
		case opts.verify:
			if !slices.ContainsFunc(rules, func(r rule) bool { return r.noPasswd && matchUser(r.users, c) }) {
				if err := passwordNeeded(); err != nil {
					return err
				}
			}
			return pamAccount(pam, me)
		case !matched:
			return fmt.Errorf("Sorry, user %s is not allowed to execute '%s' as %s on %s.", me.name, strings.Join(append([]string{path}, req.args...), " "), runAs.name, host)
		case !noPasswd:
			if err := passwordNeeded(); err != nil {
				return err
			}
		}
	} else if opts.verify || (opts.list && len(opts.command) == 0) {
		return pamAccount(pam, me)
	}
	if err := pamAccount(pam, me); err != nil {
		return err
	}
	if opts.list {
		fmt.Println(path)
		return nil
	}
	if pam != nil {
		if code := pam.run("session", pamRequest{uid: me.uid, userKnown: true}); code != pamSuccess {
			return sessionError(code)
		}
	}
	return switchAndExec(opts, me, runAs, users, argv, path)
}

// pamAccount is pam_acct_mgmt for the invoking user (nothing without PAM).
func pamAccount(pam *pamService, me account) error {
	if pam == nil {
		return nil
	}
	if code := pam.run("account", pamRequest{uid: me.uid, userKnown: true}); code != pamSuccess {
		return accountError(code)
	}
	return nil
}

// fileExists is whether Linux-PAM's dlopen would find a module file.
func fileExists(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir()
}

// parseArgs reads sudo's options; done is true when the options were fully handled (-V, -h).
func parseArgs(args []string) (options, bool, error) {
	var o options
	for len(args) > 0 {
		a := args[0]
		if a == "--" {
			args = args[1:]
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			break
		}
		args = args[1:]
		if strings.HasPrefix(a, "--") {
			name, value, hasValue := strings.Cut(a[2:], "=")
			takes := map[string]*string{"user": &o.user, "group": &o.group, "chdir": &o.dir}
			if p, ok := takes[name]; ok {
				if !hasValue {
					if len(args) == 0 {
						return o, false, fmt.Errorf("option '--%s' requires an argument", name)
					}
					value, args = args[0], args[1:]
				}
				*p = value
				continue
			}
			switch name {
			case "non-interactive", "set-home", "reset-timestamp", "remove-timestamp", "preserve-groups":
			case "preserve-env":
				o.preserveEnv = true
			case "login":
				o.login = true
			case "shell":
				o.shell = true
			case "list":
				o.list = true
			case "validate":
				o.verify = true
			case "version":
				fmt.Printf("Sudo version %s\n", version)
				return o, true, nil
			case "help":
				usage()
				return o, true, nil
			default:
				return o, false, fmt.Errorf("unrecognized option '--%s'", name)
			}
			continue
		}
		for i := 1; i < len(a); i++ {
			switch f := a[i]; f {
			case 'u', 'g', 'D', 'C', 'p', 'r', 't', 'T', 'U', 'h':
				if f == 'h' && i == len(a)-1 && len(args) == 0 {
					usage()
					return o, true, nil
				}
				value := a[i+1:]
				if value == "" {
					if len(args) == 0 {
						return o, false, fmt.Errorf("option requires an argument -- '%c'", f)
					}
					value, args = args[0], args[1:]
				}
				switch f {
				case 'u':
					o.user = value
				case 'g':
					o.group = value
				case 'D':
					o.dir = value
				}
				i = len(a)
			case 'n', 'H', 'k', 'K', 'S', 'P', 'A', 'b':
			case 'E':
				o.preserveEnv = true
			case 'i':
				o.login = true
			case 's':
				o.shell = true
			case 'l':
				o.list = true
			case 'v':
				o.verify = true
			case 'V':
				fmt.Printf("Sudo version %s\n", version)
				return o, true, nil
			default:
				return o, false, fmt.Errorf("invalid option -- '%c'", f)
			}
		}
	}
	o.command = args
	if len(o.command) == 0 && !o.login && !o.shell && !o.list && !o.verify {
		return o, false, errUsage
	}
	return o, false, nil
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: sudo [-nEHiskKlvV] [-u user] [-g group] [-D directory] [--] command [arg ...]")
}

// notSetuid explains why sudo is not running as root, as sudo does.
func notSetuid() error {
	self, err := os.Executable()
	if err == nil {
		if fi, err := os.Stat(self); err == nil {
			st, ok := fi.Sys().(*syscall.Stat_t)
			if ok && (st.Uid != 0 || fi.Mode()&os.ModeSetuid == 0) {
				return fmt.Errorf("%s must be owned by uid 0 and have the setuid bit set", self)
			}
		}
	}
	return errors.New("effective uid is not 0, is sudo on a file system with the 'nosuid' option set or an NFS file system without root privileges?")
}

// checkPolicyFile refuses sudoers files that someone other than root could have written.
func checkPolicyFile(name string) error {
	fi, err := os.Stat("/" + name)
	if err != nil {
		return fmt.Errorf("unable to open /%s: %w", name, err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if ok && st.Uid != 0 {
		return fmt.Errorf("/%s is owned by uid %d, should be 0", name, st.Uid)
	}
	if fi.Mode().Perm()&0o002 != 0 {
		return fmt.Errorf("/%s is world writable", name)
	}
	return nil
}

// commandLine returns the argv to execute and the resolved path of the program: the command,
// or the target user's shell for -i and -s.
func commandLine(o options, runAs account) ([]string, string, error) {
	if o.login || o.shell {
		sh := runAs.shell
		if o.shell && os.Getenv("SHELL") != "" {
			sh = os.Getenv("SHELL")
		}
		if sh == "" {
			sh = "/bin/sh"
		}
		argv := []string{sh}
		if o.login {
			argv[0] = "-" + filepath.Base(sh)
		}
		if len(o.command) > 0 {
			argv = append(argv, "-c", shellJoin(o.command))
		}
		return argv, sh, nil
	}
	if len(o.command) == 0 {
		return nil, "", nil
	}
	path, err := lookPath(o.command[0])
	if err != nil {
		return nil, "", err
	}
	return o.command, path, nil
}

// shellJoin quotes words for `sh -c`, as sudo -i and -s pass a command to the shell.
func shellJoin(words []string) string {
	quoted := make([]string, len(words))
	for i, w := range words {
		if w != "" && !strings.ContainsAny(w, " \t\n'\"\\$`;&|<>()*?[]#~=%!{}") {
			quoted[i] = w
		} else {
			quoted[i] = "'" + strings.ReplaceAll(w, "'", `'\''`) + "'"
		}
	}
	return strings.Join(quoted, " ")
}

// lookPath finds a command in the caller's PATH, as sudo does when no secure_path is set.
func lookPath(cmd string) (string, error) {
	if strings.Contains(cmd, "/") {
		abs, err := filepath.Abs(cmd)
		if err != nil {
			return "", err
		}
		if fi, err := os.Stat(abs); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			return "", fmt.Errorf("%s: command not found", cmd)
		}
		return abs, nil
	}
	for _, dir := range filepath.SplitList(os.Getenv("PATH")) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, cmd)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			if abs, err := filepath.Abs(p); err == nil {
				return abs, nil
			}
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: command not found", cmd)
}

// switchAndExec drops to the target user and group, sets the environment as sudo's env_reset
// does (or keeps it with -E) and executes the command.
func switchAndExec(o options, me, runAs account, db accounts, argv []string, path string) error {
	gid := runAs.gid
	if o.group != "" {
		g, ok := db.group(o.group)
		if !ok {
			return fmt.Errorf("unknown group %s", o.group)
		}
		gid = g
	}
	var groups []int
	for _, g := range db.groupsOf(runAs) {
		groups = append(groups, g)
	}
	groups = append(groups, gid)
	slices.Sort(groups)
	groups = slices.Compact(groups)
	if err := syscall.Setgroups(groups); err != nil {
		return fmt.Errorf("unable to set supplementary groups: %w", err)
	}
	if err := syscall.Setresgid(gid, gid, gid); err != nil {
		return fmt.Errorf("unable to set gid to %d: %w", gid, err)
	}
	if err := syscall.Setresuid(runAs.uid, runAs.uid, runAs.uid); err != nil {
		return fmt.Errorf("unable to set uid to %d: %w", runAs.uid, err)
	}
	if o.dir != "" {
		if err := os.Chdir(o.dir); err != nil {
			return fmt.Errorf("unable to change directory to %s: %w", o.dir, err)
		}
	} else if o.login {
		_ = os.Chdir(runAs.home)
	}
	env := environment(o.preserveEnv, me, runAs, strings.Join(argv, " "))
	if err := syscall.Exec(path, argv, env); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%s: command not found", argv[0])
		}
		return fmt.Errorf("unable to execute %s: %w", path, err)
	}
	return nil
}

// environment is what the command sees: with env_reset (sudo's default) a few variables of the
// caller's and the target user's identity; with -E all of the caller's, identity updated.
func environment(preserve bool, me, runAs account, command string) []string {
	keep := func(k string) bool {
		if preserve {
			return true
		}
		switch k {
		case "PATH", "TERM", "COLORTERM", "DISPLAY", "LANG", "LANGUAGE", "TZ", "LS_COLORS", "XAUTHORITY", "HOSTNAME", "PS1", "PS2":
			return true
		}
		return strings.HasPrefix(k, "LC_")
	}
	set := map[string]string{
		"HOME": runAs.home, "USER": runAs.name, "LOGNAME": runAs.name, "SHELL": runAs.shell,
		"MAIL":      "/var/mail/" + runAs.name,
		"SUDO_USER": me.name, "SUDO_UID": strconv.Itoa(me.uid), "SUDO_GID": strconv.Itoa(me.gid),
		"SUDO_HOME": me.home, "SUDO_COMMAND": command,
	}
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if _, overridden := set[k]; !overridden && keep(k) {
			env = append(env, kv)
		}
	}
	for _, k := range []string{"HOME", "USER", "LOGNAME", "SHELL", "MAIL", "SUDO_USER", "SUDO_UID", "SUDO_GID", "SUDO_HOME", "SUDO_COMMAND"} {
		env = append(env, k+"="+set[k])
	}
	if !slices.ContainsFunc(env, func(kv string) bool { return strings.HasPrefix(kv, "PATH=") }) {
		env = append(env, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
	}
	return env
}

// listRules prints what sudo -l prints: the caller's rules.
func listRules(rules []rule, c caller) error {
	host, _ := os.Hostname()
	fmt.Printf("User %s may run the following commands on %s:\n", c.name, host)
	for _, r := range rules {
		if !matchUser(r.users, c) {
			continue
		}
		runas := "root"
		if len(r.runUsers) > 0 {
			runas = strings.Join(r.runUsers, ", ")
		}
		if len(r.runGroup) > 0 {
			runas += " : " + strings.Join(r.runGroup, ", ")
		}
		tag := ""
		if r.noPasswd {
			tag = "NOPASSWD: "
		}
		fmt.Printf("    (%s) %s%s\n", runas, tag, strings.Join(r.commands, ", "))
	}
	return nil
}
