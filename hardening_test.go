package laingfile

import (
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// parseErrorCase is one Laingfile and the errors it must give ("line:col: message"); args, when
// set, are build args added to testOptions'.
type parseErrorCase struct {
	name string
	src  string
	args map[string]string
	want []string
}

func runParseErrorCases(t *testing.T, tests []parseErrorCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := testOptions()
			if tt.args != nil {
				args := map[string]string{}
				for k, v := range opts.BuildArgs {
					args[k] = v
				}
				for k, v := range tt.args {
					args[k] = v
				}
				opts.BuildArgs = args
			}
			f, err := Parse("Laingfile", []byte(tt.src), opts)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error; parsed %+v", f)
			}
			got := errorLines(t, err)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("errors:\n got: %s\nwant: %s", strings.Join(got, "\n      "), strings.Join(tt.want, "\n      "))
			}
		})
	}
}

// TestSubstituterTrust: a substituter's URL and keys go to Nix as space-separated settings and
// its host and login into a comma-separated netrc list, so anything that would change trust or
// split a value is an error (rows 1 and 9).
func TestSubstituterTrust(t *testing.T) {
	sub := func(fields string) string {
		return "substituters:\n  - {" + fields + "}\nkind: runtime\n"
	}
	key := "publicKey: " + cacheKey
	urlHelp := `; expected a binary cache URL (e.g. https://cache.example.com)`
	keyHelp := `: expected "name:" followed by the base64 of an Ed25519 key, as the cache publishes it (e.g. ` + cacheKey + `)`
	runParseErrorCases(t, []parseErrorCase{
		{"trusted query parameter", sub(`url: "https://x/?trusted=1", ` + key), nil, []string{
			`2:11: substituters[0].url: "https://x/?trusted=1" has the Nix store setting "trusted", which would change which paths Nix trusts; only priority=<number> and want-mass-query=<true|false> are allowed after "?"`,
		}},
		{"trusted hidden by percent-encoding", sub(`url: "https://x/?tru%73ted=1", ` + key), nil, []string{
			`2:11: substituters[0].url: "https://x/?tru%73ted=1" has the Nix store setting "tru%73ted", which would change which paths Nix trusts; only priority=<number> and want-mass-query=<true|false> are allowed after "?"`,
		}},
		{"priority after trusted", sub(`url: "https://x/?priority=10&trusted=true", ` + key), nil, []string{
			`2:11: substituters[0].url: "https://x/?priority=10&trusted=true" has the Nix store setting "trusted", which would change which paths Nix trusts; only priority=<number> and want-mass-query=<true|false> are allowed after "?"`,
		}},
		{"priority not a number", sub(`url: "https://x/?priority=high", ` + key), nil, []string{
			`2:11: substituters[0].url: "https://x/?priority=high": priority must be a number (e.g. priority=40)`,
		}},
		{"fragment", sub(`url: "https://x/#trusted", ` + key), nil, []string{
			`2:11: substituters[0].url: "https://x/#trusted" has a "#" fragment, which Nix does not read` + urlHelp,
		}},
		{"space in the url adds a second substituter", sub(`url: "https://a/x file:///context/store?trusted=1", ` + key), nil, []string{
			`2:11: substituters[0].url: "https://a/x file:///context/store?trusted=1" contains a space at character 12, which would split it into two caches` + urlHelp,
		}},
		{"space from a build arg", sub(`url: "https://a/${P}", ` + key), map[string]string{"P": "x https://evil"}, []string{
			`2:11: substituters[0].url: "https://a/x https://evil" contains a space at character 12, which would split it into two caches` + urlHelp,
		}},
		{"newline in the url", sub(`url: "https://a/x\nfile:///s", ` + key), nil, []string{
			`2:11: substituters[0].url: "https://a/x\nfile:///s" contains a newline at character 12, which would split it into two caches` + urlHelp,
		}},
		{"comma in the host", sub(`url: "https://a,b/", secret: tok, ` + key), nil, []string{
			`2:11: substituters[0].url: the host "a,b" of "https://a,b/" is not a host name; expected letters, digits, "-", "_" and "." (e.g. cache.example.com), or an IP address`,
		}},
		{"comma in the login", sub(`url: "https://a/", secret: tok, login: "me,/etc/shadow", ` + key), nil, []string{
			`2:45: substituters[0].login: invalid user name "me,/etc/shadow": expected no blanks, control characters, quotes, "#", ",", "\" or "*?[" (e.g. "me")`,
		}},
		{"control character in the login", sub(`url: "https://a/", secret: tok, login: "me\u001b", ` + key), nil, []string{
			`2:45: substituters[0].login: invalid user name "me\x1b": expected no blanks, control characters, quotes, "#", ",", "\" or "*?[" (e.g. "me")`,
		}},
		{"space in a key adds a second key", sub(`url: "https://a/", publicKey: "evil:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= ` + cacheKey + `"`), nil, []string{
			`2:36: substituters[0].publicKey: invalid public key "evil:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= ` + cacheKey + `"` + keyHelp,
		}},
		{"newline in the base64 of a key", sub(`url: "https://a/", publicKey: "k:AAAAAAAAAAAAAAAAAAAAAA\nAAAAAAAAAAAAAAAAAAAAA="`), nil, []string{
			`2:36: substituters[0].publicKey: invalid public key "k:AAAAAAAAAAAAAAAAAAAAAA\nAAAAAAAAAAAAAAAAAAAAA="` + keyHelp,
		}},
		{"space in a key's name", sub(`url: "https://a/", publicKey: "a b:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="`), nil, []string{
			`2:36: substituters[0].publicKey: invalid public key "a b:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="` + keyHelp,
		}},
		// What stays valid.
		{"priority and want-mass-query", sub(`url: "https://cache.example.com:8443/nix?priority=30&want-mass-query=true", ` + key), nil, nil},
		{"IPv6 host", sub(`url: "http://[::1]:5000", ` + key), nil, nil},
		{"e-mail login", sub(`url: "https://a/", secret: tok, login: me@example.com, ` + key), nil, nil},
	})
}

// TestAliasBudget: every use of an alias counts the size of what it expands to, and the errors
// are de-duplicated and capped (row 2).
func TestAliasBudget(t *testing.T) {
	// 1000 targets that alias one mapping with 1000 unknown keys: 1,000,000 distinct errors
	// ("unknown key … in target "tN"") before the fix.
	var b strings.Builder
	b.WriteString("x-t: &t {kind: runtime")
	for i := 0; i < 1000; i++ {
		fmt.Fprintf(&b, ", k%d: 1", i)
	}
	b.WriteString("}\ntargets:\n")
	for i := 0; i < 1000; i++ {
		fmt.Fprintf(&b, "  t%d: *t\n", i)
	}
	manyTargets := b.String()

	// A 64 KiB string used 10000 times in a list: 10000 values, but 640 MB of text.
	big := "x-s: &s \"" + strings.Repeat("a", 64<<10) + "\"\nkind: runtime\ncmd: [" + strings.Repeat("*s, ", 9999) + "*s]\n"

	tests := []struct {
		name      string
		src       string
		wantFirst string
		wantLines []string // lines the errors must include
		maxErrors int
	}{
		{"aliases reused across targets", manyTargets,
			`1:25: unknown key "k0" in target "t0" (expected one of: kind, sets, packages, user, workdir, env, entrypoint, cmd, labels, expose, volumes, stopsignal, copy, metadata, config, maxLayers)`,
			[]string{`102:8: alias "*t": aliases expand this Laingfile to more than 100000 values; use fewer or smaller aliases`}, maxErrors + 2},
		{"a long string aliased many times", big,
			`3:71: alias "*s": aliases expand this Laingfile to more than 1 MiB of text; use fewer or smaller aliases`, nil, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseOrHang(t, []byte(tt.src), testOptions())
			got := errorLines(t, err)
			if len(got) > tt.maxErrors {
				t.Fatalf("%d errors, want at most %d; the first: %s", len(got), tt.maxErrors, got[0])
			}
			if got[0] != tt.wantFirst {
				t.Errorf("first error:\n got: %s\nwant: %s", got[0], tt.wantFirst)
			}
			for _, w := range tt.wantLines {
				found := false
				for _, g := range got {
					found = found || g == w
				}
				if !found {
					t.Errorf("missing error %s", w)
				}
			}
			if tt.maxErrors > 1 {
				more := false
				for _, g := range got {
					more = more || (strings.Contains(g, ": … and ") && strings.HasSuffix(g, " more problems (fix these and build again to see the rest)"))
				}
				if !more {
					t.Errorf("no \"… and N more problems\" line in %d errors", len(got))
				}
			}
		})
	}
}

// TestErrorsCapped: a file with more problems than the cap lists the first ones in file order
// and says how many more there are; repeats are listed once.
func TestErrorsCapped(t *testing.T) {
	src := "kind: runtime\nexpose: [" + strings.Repeat("0, ", 99) + "0]\n"
	got := errorLines(t, func() error { _, err := Parse("Laingfile", []byte(src), testOptions()); return err }())
	if len(got) != maxErrors+1 {
		t.Fatalf("%d errors, want %d", len(got), maxErrors+1)
	}
	if want := fmt.Sprintf("2:%d: … and 50 more problems (fix these and build again to see the rest)", 10+3*maxErrors); got[maxErrors] != want {
		t.Errorf("last = %s, want %s", got[maxErrors], want)
	}
}

// TestImagePathCharacters: paths in the image and user names end up in /etc/passwd, the image
// config and LLB; ":" and control characters are errors, also when a build arg brings them
// (rows 4 and 11).
func TestImagePathCharacters(t *testing.T) {
	passwd := map[string]string{"WD": "/app\nroot2::0:0::/:/bin/sh"}
	runParseErrorCases(t, []parseErrorCase{
		{"workdir with a passwd line from a build arg", "kind: runtime\nworkdir: ${WD}\n", passwd, []string{
			`2:10: workdir: "/app\nroot2::0:0::/:/bin/sh" contains a newline; expected an absolute path without ":" or control characters`,
		}},
		{"home with a colon", "kind: runtime\nuser: {home: \"/srv/a:b\"}\n", nil, []string{
			`2:14: user.home: "/srv/a:b" contains ":"; expected an absolute path without ":" or control characters (e.g. "/srv/a-b")`,
		}},
		{"volume with NUL", "kind: runtime\nvolumes: [\"/data\\0\"]\n", nil, []string{
			`2:11: volumes: "/data\x00" contains a NUL character; expected an absolute path without ":" or control characters`,
		}},
		{"workdir with ESC", "kind: runtime\nworkdir: \"/app\\e[2J\"\n", nil, []string{
			`2:10: workdir: "/app\x1b[2J" contains the control character U+001B; expected an absolute path without ":" or control characters`,
		}},
		{"copy dst with a colon", "kind: runtime\ncopy: [{src: a, dst: \"/a:b\"}]\n", nil, []string{
			`2:22: copy[0].dst: "/a:b" contains ":"; expected an absolute path without ":" or control characters (e.g. "/a-b")`,
		}},
		{"copy src with a newline", "kind: runtime\ncopy: [{src: \"a\\nb\", dst: /a}]\n", nil, []string{
			`2:14: copy[0].src: "a\nb" contains a newline; expected a path in the build context without control characters`,
		}},
		{"runtime workdir is the home", "kind: runtime\nworkdir: \"/a:b\"\n", nil, []string{
			`2:10: workdir: "/a:b" contains ":"; expected an absolute path without ":" or control characters (e.g. "/a-b")`,
		}},
		{"user name with a newline from a build arg", "kind: runtime\nuser: ${U}\n", map[string]string{"U": "app\nroot"}, []string{
			`2:7: user: invalid user name "app\nroot": use lower-case letters, digits, "_" and "-", starting with a letter or "_" (at most 32 characters)`,
		}},
	})
}

// TestRootUser: the name root means uid and gid 0, and uid 0 means the name root (row 5).
func TestRootUser(t *testing.T) {
	runParseErrorCases(t, []parseErrorCase{
		{"root with another uid", "kind: runtime\nuser: {name: root, uid: 1000}\n", nil, []string{
			`2:25: user.uid: the user root has uid 0, not 1000; leave out uid, or give the user another name (e.g. app)`,
		}},
		{"root with another gid", "kind: runtime\nuser: {name: root, gid: 5}\n", nil, []string{
			`2:25: user.gid: the user root has gid 0, not 5; leave out gid, or give the user another name (e.g. app)`,
		}},
		{"uid 0 with another name", "kind: runtime\nuser: {name: app, uid: 0}\n", nil, []string{
			`2:24: user.uid: uid 0 is root; write name: root for a root image, or give app another uid (e.g. 1000)`,
		}},
		{"uid 0 by a build arg", "kind: devcontainer\nuser: {name: dev, uid: \"${Z}\"}\n", map[string]string{"Z": "0"}, []string{
			`2:24: user.uid: uid 0 is root; write name: root for a root image, or give dev another uid (e.g. 1000)`,
		}},
		{"root with another home", "kind: runtime\nuser: {name: root, home: /srv}\n", nil, []string{
			`2:26: user.home: the user root has home /root; leave out home (set env HOME to use another directory)`,
		}},
	})
	f, err := Parse("Laingfile", []byte("kind: runtime\nuser: {uid: 0}\n"), testOptions())
	if err != nil {
		t.Fatal(err)
	}
	if u := f.Targets[0].User; u.Name != "root" || u.UID != 0 || u.GID != 0 || u.Home != "/root" {
		t.Errorf("uid 0 alone gives %+v, want root 0:0 home /root", u)
	}
}

// TestNixpkgsURLCredentials: a token in nixpkgs.url would reach NIX_PATH and the LLB (row 6).
func TestNixpkgsURLCredentials(t *testing.T) {
	runParseErrorCases(t, []parseErrorCase{
		{"user and token", "nixpkgs: {url: \"https://ci:TOKEN@host/n.tar.gz\", sha256: " + hash + "}\nkind: runtime\n", nil, []string{
			`1:16: nixpkgs.url: "https://xxxxx@host/n.tar.gz" has credentials in it; they would end up in NIX_PATH, the image config and the build cache. Credentials go through build secrets, never the Laingfile: remove them from the URL`,
		}},
		{"token from a build arg", "nixpkgs: {url: \"https://${T}@host/n.tar.gz\", sha256: " + hash + "}\nkind: runtime\n", map[string]string{"T": "TOKEN"}, []string{
			`1:16: nixpkgs.url: "https://xxxxx@host/n.tar.gz" has credentials in it; they would end up in NIX_PATH, the image config and the build cache. Credentials go through build secrets, never the Laingfile: remove them from the URL`,
		}},
		{"space in the url", "nixpkgs: {url: \"https://host/n.tar.gz x\", sha256: " + hash + "}\nkind: runtime\n", nil, []string{
			`1:16: nixpkgs.url: "https://host/n.tar.gz x" contains a space; expected the URL of a nixpkgs tarball (https://…), with spaces written %20`,
		}},
		{"substituter password is not echoed", "substituters: [{url: \"https://me:pw@cache.example.com\", publicKey: " + cacheKey + "}]\nkind: runtime\n", nil, []string{
			`1:22: substituters[0].url: "https://xxxxx@cache.example.com" has credentials in it; give them as a secret (secret: <id>) so that they stay out of the image and the cache`,
		}},
	})
}

// TestValueCharacters: env values, labels and paths with control characters (row 11).
func TestValueCharacters(t *testing.T) {
	textHelp := `; only tab and newline are allowed among control characters`
	runParseErrorCases(t, []parseErrorCase{
		{"NUL in an env value", "kind: runtime\nenv: {A: \"a\\0b\"}\n", nil, []string{`2:10: env.A: "a\x00b" contains a NUL character` + textHelp}},
		{"ESC in a label", "kind: runtime\nlabels: {a: \"\\e[31mred\"}\n", nil, []string{`2:13: labels.a: "\x1b[31mred" contains the control character U+001B` + textHelp}},
		{"control character in a label name", "kind: runtime\nlabels: {\"a\\x07\": x}\n", nil, []string{`2:10: labels: the label name "a\a" contains the control character U+0007; expected printable characters (e.g. org.opencontainers.image.version)`}},
		{"NUL in a config Env entry", "kind: runtime\nconfig: {Env: [\"A=\\0\"]}\n", nil, []string{`2:16: config.Env[0]: "A=\x00" contains a NUL character` + textHelp}},
		{"NUL in config WorkingDir", "kind: runtime\nconfig: {WorkingDir: \"/a\\0\"}\n", nil, []string{`2:22: config.WorkingDir: "/a\x00" contains a NUL character` + textHelp}},
		{"NUL in cmd", "kind: runtime\ncmd: [\"a\\0\"]\n", nil, []string{`2:7: cmd[0]: "a\x00" contains a NUL character` + textHelp}},
		{"overlay path with ESC", "overlays: [\"./a\\e.nix\"]\nkind: runtime\n", nil, []string{`1:12: overlays: "./a\x1b.nix" contains the control character U+001B; expected a path in the build context without control characters`}},
		// What stays valid: multi-line env values and labels, tabs.
		{"newline and tab in env and labels", "kind: runtime\nenv: {CERT: \"-----BEGIN-----\\n\\tabc\\n\"}\nlabels:\n  a: |\n    line 1\n    line 2\n", nil, nil},
	})
}

// TestBuildArgExpansionLimit: a long build arg expanded many times is capped (row 11).
func TestBuildArgExpansionLimit(t *testing.T) {
	big := map[string]string{"BIG": strings.Repeat("x", 16<<10)}
	runParseErrorCases(t, []parseErrorCase{
		{"one label", "kind: runtime\nlabels: {a: \"" + strings.Repeat("${BIG}", 20000) + "\"}\n", big, []string{
			`2:13: build args expand this Laingfile by more than 1 MiB; a build arg is for a version, a name or a path (put larger content in a file in the build context, and copy it)`,
		}},
		{"many values", "kind: runtime\ncmd: [" + strings.Repeat("\"${BIG}\", ", 100) + "x]\n", big, []string{
			`2:647: build args expand this Laingfile by more than 1 MiB; a build arg is for a version, a name or a path (put larger content in a file in the build context, and copy it)`,
		}},
		{"just under the limit", "kind: runtime\ncmd: [" + strings.Repeat("\"${BIG}\", ", 64) + "x]\n", big, nil},
	})
}

// TestCopyChown: an owner the image has no account for is a located error, not the image user
// by default.
func TestCopyChown(t *testing.T) {
	runParseErrorCases(t, []parseErrorCase{
		{"unknown user", "kind: runtime\ncopy: [{src: a, dst: /a, chown: ap}]\n", nil, []string{
			`2:33: copy[0].chown: unknown user "ap" (did you mean "app"?); the image knows app, root, or give a number`,
		}},
		{"unknown group", "kind: runtime\ncopy: [{src: a, dst: /a, chown: \"app:wheel\"}]\n", nil, []string{
			`2:33: copy[0].chown: unknown group "wheel"; the image knows app, root, or give a number`,
		}},
		{"id out of range", "kind: runtime\ncopy: [{src: a, dst: /a, chown: \"1:99999999999\"}]\n", nil, []string{
			`2:33: copy[0].chown: group 99999999999 is out of range; expected 0 to 2147483647`,
		}},
		{"names the image has", "kind: devcontainer\ncopy: [{src: a, dst: /a, chown: \"vscode:wheel\"}, {src: b, dst: /b, chown: root}, {src: c, dst: /c, chown: \"10:0\"}]\n", nil, nil},
	})
}

// TestChownIDs: a copy's owner is a user and group of the image (root, the target's user, and
// for devcontainers the group wheel) or numbers; anything else is a problem, never the image
// user by default.
func TestChownIDs(t *testing.T) {
	dev := &Target{Kind: KindDevcontainer, User: User{Name: "vscode", UID: 1000, GID: 1000}}
	run := &Target{Kind: KindRuntime, User: User{Name: "app", UID: 1001, GID: 1002}}
	tests := []struct {
		name   string
		target *Target
		chown  string
		want   string // "uid:gid", or the problem
	}{
		{"root", dev, "root", "0:0"},
		{"root:root", dev, "root:root", "0:0"},
		{"the user", run, "app", "1001:1002"},
		{"the user and group", run, "app:app", "1001:1002"},
		{"the user in group root", run, "app:root", "1001:0"},
		{"wheel in a devcontainer", dev, "vscode:wheel", "1000:10"},
		{"numbers", run, "1000:7", "1000:7"},
		{"a uid alone", run, "33", "33:33"},
		{"a uid and a group name", run, "33:app", "33:1002"},
		{"the largest id", run, "2147483647:0", "2147483647:0"},
		{"nobody:nogroup", dev, "nobody:nogroup", `unknown user "nobody"; the image knows vscode, root, or give a number`},
		{"an unknown group", dev, "root:nogroup", `unknown group "nogroup"; the image knows vscode, root, wheel, or give a number`},
		{"wheel in a runtime", run, "app:wheel", `unknown group "wheel"; the image knows app, root, or give a number`},
		{"digits and letters", dev, "1000abc:7x", `unknown user "1000abc"`},
		{"a number and letters as group", dev, "1000:7x", `unknown group "7x"`},
		{"a negative uid", dev, "-1", `unknown user "-1"`},
		{"a signed uid", dev, "+5", `unknown user "+5"`},
		{"a uid out of range", dev, "2147483648", `user 2147483648 is out of range; expected 0 to 2147483647`},
		{"a huge gid", dev, "0:99999999999999999999999", `group 99999999999999999999999 is out of range`},
		{"an empty user", dev, ":0", `unknown user ""`},
		{"an empty group", dev, "root:", `unknown group ""`},
		{"two colons", dev, "root:root:root", `unknown group "root:root"`},
		{"a user with blanks", dev, " root", `unknown user " root"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			uid, gid, problem := chownIDs(tt.chown, tt.target)
			if strings.Contains(tt.want, ":") && !strings.Contains(tt.want, " ") {
				if problem != "" {
					t.Fatal(problem)
				}
				if s := fmt.Sprintf("%d:%d", uid, gid); s != tt.want {
					t.Errorf("owner = %s, want %s", s, tt.want)
				}
				return
			}
			if !strings.Contains(problem, tt.want) {
				t.Errorf("problem:\n %s\nwant one containing:\n %s", problem, tt.want)
			}
		})
	}
}

// Parse records the owner each copy resolves to, the image user's when chown is empty.
func TestCopyOwner(t *testing.T) {
	f, err := Parse("Laingfile", []byte("kind: runtime\nuser: {name: app, uid: 1001, gid: 1002}\ncopy:\n  - {src: a, dst: /a}\n  - {src: b, dst: /b, chown: root}\n  - {src: c, dst: /c, chown: \"5:app\"}\n"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range f.Targets[0].Copy {
		got = append(got, fmt.Sprintf("%s %d:%d", c.Chown, c.UID, c.GID))
	}
	if want := []string{" 1001:1002", "root 0:0", "5:app 5:1002"}; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("owners %q, want %q", got, want)
	}
}

// TestCopyChmod: a copy's chmod is an octal or a symbolic mode; anything else is an error at
// the value that says what is wrong, suggests a fix when there is a likely one, and says what was
// expected.
func TestCopyChmod(t *testing.T) {
	cp := func(chmod string) string { return "kind: runtime\ncopy: [{src: a, dst: /a, chmod: " + chmod + "}]\n" }
	const expected = `; expected an octal mode such as "0755" (at most 07777) or a symbolic mode such as "u+x,go-w"`
	runParseErrorCases(t, []parseErrorCase{
		{"octal", cp("0755"), nil, nil},
		{"octal quoted", cp(`"0644"`), nil, nil},
		{"octal without the leading 0", cp("755"), nil, nil},
		{"setuid", cp(`"4755"`), nil, nil},
		{"sticky directory", cp("1777"), nil, nil},
		{"the largest", cp("07777"), nil, nil},
		{"symbolic", cp(`"u+x,go-w"`), nil, nil},
		{"symbolic, unquoted", cp("a=rX"), nil, nil},
		{"every permission and who", cp(`"ugoa+rwxXst,u-s,g=,o-w,+x,-t,="`), nil, nil},
		{"from a build arg", cp(`"${MODE}"`), map[string]string{"MODE": "u-w"}, nil},

		{"more than 07777", cp("17777"), nil, []string{`2:33: copy[0].chmod: invalid mode "17777": more than 07777` + expected}},
		{"decimal", cp("493"), nil, []string{`2:33: copy[0].chmod: invalid mode "493": "9" at character 2 is not an octal digit (0 to 7)` + expected}},
		{"YAML 1.2 octal", cp("0o755"), nil, []string{`2:33: copy[0].chmod: invalid mode "0o755": "o" at character 2 is not an octal digit (0 to 7) (did you mean "0755"?)` + expected}},
		{"hex", cp("0x1ed"), nil, []string{`2:33: copy[0].chmod: invalid mode "0x1ed": "x" at character 2 is not an octal digit (0 to 7)` + expected}},
		{"ls notation", cp("rwxr-xr-x"), nil, []string{`2:33: copy[0].chmod: invalid mode "rwxr-xr-x": this is how ls shows a mode (did you mean "0755"?)` + expected}},
		{"ls notation with a setuid file", cp(`"-rwsr-x---"`), nil, []string{`2:33: copy[0].chmod: invalid mode "-rwsr-x---": this is how ls shows a mode (did you mean "4750"?)` + expected}},
		{"ls notation that is also a-rwx", cp(`"-rwxrwxrwx"`), nil, []string{`2:33: copy[0].chmod: invalid mode "-rwxrwxrwx": this is how ls shows a mode (did you mean "0777"?)` + expected}},
		{"blank after a comma", cp(`"u+x, go-w"`), nil, []string{`2:33: copy[0].chmod: invalid mode "u+x, go-w": whitespace at character 5 (did you mean "u+x,go-w"?)` + expected}},
		{"trailing comma", cp(`"u+x,"`), nil, []string{`2:33: copy[0].chmod: invalid mode "u+x,": it ends with "," (did you mean "u+x"?)` + expected}},
		{"empty clause", cp(`"u+x,,g-w"`), nil, []string{`2:33: copy[0].chmod: invalid mode "u+x,,g-w": an empty clause at character 5` + expected}},
		{"no operator", cp("ug"), nil, []string{`2:33: copy[0].chmod: invalid mode "ug": "ug" is not followed by an operator (+, - or =)` + expected}},
		{"not a permission", cp(`"u+y"`), nil, []string{`2:33: copy[0].chmod: invalid mode "u+y": "y" at character 3 is not a permission (r, w, x, X, s, t) or ","` + expected}},
		{"not who", cp(`"q+x"`), nil, []string{`2:33: copy[0].chmod: invalid mode "q+x": "q" at character 1 is neither u, g, o, a nor an operator (+, - or =)` + expected}},
		{"upper case", cp(`"U+X"`), nil, []string{`2:33: copy[0].chmod: invalid mode "U+X": "U" at character 1 is neither u, g, o, a nor an operator (+, - or =) (did you mean "u+x"?)` + expected}},
		{"two operators in a clause", cp(`"u+r-w"`), nil, []string{`2:33: copy[0].chmod: invalid mode "u+r-w": a second operator "-" at character 4: start a new clause with "," (did you mean "u+r,u-w"?)` + expected}},
		{"copying a class", cp(`"u=g"`), nil, []string{`2:33: copy[0].chmod: invalid mode "u=g": "g" at character 3: copying another class's permissions (as in "u=g") is not supported, name them (r, w, x, X, s, t)` + expected}},
		{"empty", cp(`""`), nil, []string{`2:33: copy[0].chmod: invalid mode "": empty` + expected}},
		{"null", cp("null"), nil, []string{`2:33: copy[0].chmod: expected an octal mode such as "0755" (at most 07777) or a symbolic mode such as "u+x,go-w", got nothing (null)`}},
		{"a list", cp("[u+x]"), nil, []string{`2:33: copy[0].chmod: expected an octal mode such as "0755" (at most 07777) or a symbolic mode such as "u+x,go-w", got a list`}},
		{"a boolean", cp("true"), nil, []string{`2:33: copy[0].chmod: invalid mode "true": "t" at character 1 is neither u, g, o, a nor an operator (+, - or =)` + expected}},
		{"block style, second copy", "kind: runtime\ncopy:\n  - {src: a, dst: /a}\n  - src: b\n    dst: /b\n    chmod: \"+s,\"\n", nil, []string{
			`6:12: copy[1].chmod: invalid mode "+s,": it ends with "," (did you mean "+s"?)` + expected,
		}},
	})
}

// A copy's Chmod is kept as written; OctalMode reads the octal ones.
func TestCopyChmodParsed(t *testing.T) {
	f, err := Parse("Laingfile", []byte("kind: runtime\ncopy:\n  - {src: a, dst: /a}\n  - {src: b, dst: /b, chmod: 0755}\n  - {src: c, dst: /c, chmod: 4750}\n  - {src: d, dst: /d, chmod: \"go-w,+X\"}\n  - {src: e, dst: /e, chmod: 0}\n  - {src: f, dst: /f, chmod: \"007777\"}\n"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range f.Targets[0].Copy {
		m, ok := c.OctalMode()
		got = append(got, fmt.Sprintf("%q %v %04o", c.Chmod, ok, m))
	}
	want := []string{`"" false 0000`, `"0755" true 0755`, `"4750" true 4750`, `"go-w,+X" false 0000`, `"0" true 0000`, `"007777" true 7777`}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("copies:\n got: %q\nwant: %q", got, want)
	}
}

// checkMode accepts exactly the grammar Copy.Chmod documents, which BuildKit's mode parser
// (tonistiigi/dchapes-mode) also accepts, over every string of up to four characters from an
// alphabet with the mode's characters and likely mistakes.
func TestCheckModeGrammar(t *testing.T) {
	symbolic := regexp.MustCompile(`^[ugoa]*[-+=][rwxXst]*(,[ugoa]*[-+=][rwxXst]*)*$`)
	octal := regexp.MustCompile(`^[0-7]+$`)
	const alphabet = "ugoa+-=rwxXst,07 9yU"
	var walk func(s string)
	walk = func(s string) {
		want := symbolic.MatchString(s)
		if octal.MatchString(s) {
			v, _ := strconv.ParseUint(s, 8, 64)
			want = v <= 0o7777
		}
		problem := checkMode(s)
		if (problem == "") != want {
			t.Errorf("checkMode(%q) = %q, want valid = %v", s, problem, want)
		}
		if problem != "" && (!strings.HasPrefix(problem, "invalid mode "+strconv.Quote(s)+": ") || !strings.HasSuffix(problem, `or a symbolic mode such as "u+x,go-w"`)) {
			t.Errorf("checkMode(%q) = %q: not the form of the other messages", s, problem)
		}
		if _, isOctal := (Copy{Chmod: s}).OctalMode(); isOctal != (want && octal.MatchString(s)) {
			t.Errorf("OctalMode(%q) = %v", s, isOctal)
		}
		if len(s) < 4 {
			for _, r := range alphabet {
				walk(s + string(r))
			}
		}
	}
	walk("")
}

// parseOrHang parses src and fails the test when Parse does not return within a minute: a
// hostile input must not make it hang. (How fast it parses is for a benchmark to say.)
func parseOrHang(t testing.TB, src []byte, opts Options) (*File, error) {
	t.Helper()
	type result struct {
		file *File
		err  error
	}
	done := make(chan result, 1)
	go func() {
		f, err := Parse("Laingfile", src, opts)
		done <- result{f, err}
	}()
	select {
	case r := <-done:
		return r.file, r.err
	case <-time.After(time.Minute):
		t.Fatalf("Parse did not return within a minute")
		return nil, nil
	}
}
