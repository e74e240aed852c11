package main

import (
	"slices"
	"strings"
	"testing"
	"testing/fstest"
)

// image is the /etc a devcontainer has, as the customisation layer writes it.
func image(extra map[string]string) fstest.MapFS {
	fsys := fstest.MapFS{
		"etc/passwd":         {Data: []byte("root:x:0:0:root:/root:/bin/sh\nvscode:x:1000:1000:vscode:/home/vscode:/bin/sh\nbob:x:1001:1001::/home/bob:/bin/sh\n")},
		"etc/group":          {Data: []byte("root:x:0:\nwheel:x:10:vscode\nvscode:x:1000:\nbob:x:1001:\n")},
		"etc/sudoers":        {Data: []byte("root ALL=(ALL:ALL) ALL\n#includedir /etc/sudoers.d\n")},
		"etc/sudoers.d/user": {Data: []byte("vscode ALL=(ALL) NOPASSWD:ALL\n")},
	}
	for k, v := range extra {
		fsys[k] = &fstest.MapFile{Data: []byte(v)}
	}
	return fsys
}

func TestDecide(t *testing.T) {
	noCheck := func(string) error { return nil }
	tests := []struct {
		name         string
		extra        map[string]string
		user, runAs  string
		command      string
		args         []string
		matched, npw bool
	}{
		{name: "devcontainer user, NOPASSWD", user: "vscode", runAs: "root", command: "/bin/true", matched: true, npw: true},
		{name: "devcontainer user as another user", user: "vscode", runAs: "bob", command: "/bin/id", matched: true, npw: true},
		{name: "user without rules", user: "bob", runAs: "root", command: "/bin/true"},
		{name: "later rule wins", user: "vscode", runAs: "root", command: "/bin/true",
			extra: map[string]string{"etc/sudoers.d/zz": "vscode ALL=(ALL) PASSWD: ALL\n"}, matched: true},
		{name: "skipped names in includedir", user: "vscode", runAs: "root", command: "/bin/true",
			extra:   map[string]string{"etc/sudoers.d/zz.bak": "vscode ALL=(ALL) PASSWD: ALL\n", "etc/sudoers.d/zz~": "vscode ALL=(ALL) PASSWD: ALL\n"},
			matched: true, npw: true},
		{name: "group rule", user: "vscode", runAs: "root", command: "/bin/true",
			extra: map[string]string{"etc/sudoers": "%wheel ALL=(ALL:ALL) NOPASSWD: ALL\n"}, matched: true, npw: true},
		{name: "runas root only", user: "vscode", runAs: "bob", command: "/bin/true",
			extra: map[string]string{"etc/sudoers": "vscode ALL= NOPASSWD: ALL\n"}},
		{name: "command list with args", user: "vscode", runAs: "root", command: "/bin/id", args: []string{"-u"},
			extra: map[string]string{"etc/sudoers": "# comment\nvscode ALL=(root) NOPASSWD: /bin/true, \\\n  /bin/id -u\n"}, matched: true, npw: true},
		{name: "command not listed", user: "vscode", runAs: "root", command: "/bin/sh",
			extra: map[string]string{"etc/sudoers": "vscode ALL=(root) NOPASSWD: /bin/true\n"}},
		{name: "uid reference and @include", user: "vscode", runAs: "root", command: "/bin/true",
			extra:   map[string]string{"etc/sudoers": "Defaults env_reset\n@include other\n", "etc/other": "#1000 ALL=(ALL) NOPASSWD: ALL # trailing\n"},
			matched: true, npw: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fsys := image(tt.extra)
			db, err := readAccounts(fsys)
			if err != nil {
				t.Fatal(err)
			}
			rules, err := parseSudoers(fsys, "etc/sudoers", noCheck)
			if err != nil {
				t.Fatal(err)
			}
			me, _ := db.lookup(tt.user)
			runAs, _ := db.lookup(tt.runAs)
			c := caller{name: me.name, uid: me.uid, groups: db.groupsOf(me)}
			matched, npw := decide(rules, c, request{host: "box", runAs: runAs, command: tt.command, args: tt.args})
			if matched != tt.matched || npw != tt.npw {
				t.Errorf("matched %v nopasswd %v, want %v %v (rules %+v)", matched, npw, tt.matched, tt.npw, rules)
			}
		})
	}
}

func TestParseSudoersErrors(t *testing.T) {
	fsys := image(map[string]string{"etc/sudoers": "vscode ALL\n"})
	if _, err := parseSudoers(fsys, "etc/sudoers", func(string) error { return nil }); err == nil || !strings.Contains(err.Error(), "/etc/sudoers:1") {
		t.Errorf("err = %v, want a located syntax error", err)
	}
	if _, err := parseSudoers(image(nil), "etc/sudoers", func(name string) error {
		if name == "etc/sudoers.d/user" {
			return errTest
		}
		return nil
	}); err != errTest {
		t.Errorf("the check of an included file was not applied: %v", err)
	}
}

var errTest = &testError{}

type testError struct{}

func (*testError) Error() string { return "check failed" }

func TestParseArgs(t *testing.T) {
	tests := []struct {
		args    []string
		want    options
		wantErr bool
	}{
		{args: []string{"-n", "true"}, want: options{command: []string{"true"}}},
		{args: []string{"-nu", "bob", "id", "-u"}, want: options{user: "bob", command: []string{"id", "-u"}}},
		{args: []string{"-ubob", "--", "-x"}, want: options{user: "bob", command: []string{"-x"}}},
		{args: []string{"--user=bob", "-E", "env"}, want: options{user: "bob", preserveEnv: true, command: []string{"env"}}},
		{args: []string{"-i"}, want: options{login: true}},
		{args: []string{"-n", "sh", "-c", "echo x"}, want: options{command: []string{"sh", "-c", "echo x"}}},
		{args: []string{"-q", "true"}, wantErr: true},
		{args: []string{"-n"}, wantErr: true},
	}
	for _, tt := range tests {
		got, _, err := parseArgs(tt.args)
		if (err != nil) != tt.wantErr {
			t.Errorf("%q: err %v", tt.args, err)
			continue
		}
		if err == nil && (got.user != tt.want.user || got.preserveEnv != tt.want.preserveEnv || got.login != tt.want.login || !slices.Equal(got.command, tt.want.command)) {
			t.Errorf("%q: %+v, want %+v", tt.args, got, tt.want)
		}
	}
}

func TestShellJoin(t *testing.T) {
	if got := shellJoin([]string{"echo", "a b", "it's", "x"}); got != `echo 'a b' 'it'\''s' x` {
		t.Errorf("shellJoin = %s", got)
	}
}
