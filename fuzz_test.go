package laingfile

import (
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode"
)

// fuzzSeeds are broken variants of the examples: the shapes of mistake users make.
var fuzzSeeds = []string{
	"",
	"kind: runtime\n",
	"kind: devcontainer\nsets: [base, pythn]\nuser: {name: dev, uid: 1001}\n",
	"targets:\n  a: {kind: runtime}\n  a: {kind: runtime}\n",
	"targets:\n  app:\n    kind: runtime\n    copy:\n      - {src: ../x, dst: y}\n      -\n",
	"nixpkgs: {rev: 48698d1, sha256: sha256-x}\nkind: runtime\n",
	"nixpkgs: {url: \"https://x/y\", sha256: 0qyp6vq758zfpxm8n4hrhivib8dzanzhnsz070wpcm5417h1n66b}\nkind: runtime\n",
	"x-a: &a {kind: runtime, env: {A: 1}}\ntargets:\n  b: {<<: *a}\n  c:\n    <<: [*a, *a]\n",
	"kind: runtime\nenv: &e {A: *e}\n",
	"kind: runtime\ncmd: ${X}\nlabels: {a: \"$${b}\", c: \"${\"}\n",
	"kind: devcontainer\nmetadata: {a: [1, 2.5, .inf, .nan, null, true, 0x10, 99999999999999999999]}\n",
	"kind: runtime\nconfig: {Healthcheck: {Test: [CMD]}, Env: [1], ArgsEscaped: yes}\n",
	"kind: runtime\nexpose: [0, 65536, \"1/udp\", 8000/TCP]\nstopsignal: rtmax-99\n",
	"kind: runtime\nworkdir: |\n  /a\n  /b\n",
	"kind: runtime\n---\nkind: runtime\n",
	"%YAML 1.2\n---\nkind: runtime\n",
	"kind: \"runtime\n",
	"\tkind: runtime\n",
	"kind: runtime\n? [a, b]\n: c\n",
	"kind: !!str runtime\nmaxLayers: !!int \"50\"\n",
	"[[[[[[[[[[",
	"{a: {b: {c: {d: {e: 1}}}}}",
	"- - - - - a",
	"kind: runtime\nsets: [\"\\u00e9\", \"\\x00\"]\n",
	// Build args and aliases together: a long arg reused through aliases, args that bring ":",
	// line breaks and control characters into paths, users and substituters.
	"x-a: &a \"${BIG}${BIG}\"\nkind: runtime\nlabels: {a: *a, b: *a}\ncmd: [*a, *a, *a]\n",
	"kind: runtime\nworkdir: ${F}\nuser: {name: \"${F}\", home: \"${F}\", uid: \"${F}\"}\nvolumes: [\"${F}\"]\n",
	"substituters: [{url: \"https://${F}/\", publicKey: \"${F}\", secret: s, login: \"${F}\"}]\nkind: runtime\n",
	"nixpkgs: {url: \"${F}\", sha256: sha256-yxgb4AmkVHY5OOBrC79Vv6EVd4QZEotqv+6jcvA212M=}\nkind: runtime\n",
	"x-t: &t {kind: runtime, env: {A: \"${F}\"}, k: 1}\ntargets: {a: *t, b: *t, c: {<<: *t, copy: [{src: \"${F}\", dst: \"${F}\", chown: \"${F}\"}]}}\n",
	"kind: runtime\ncopy: [{src: a, dst: /a, chmod: \"${F}\"}, {src: b, dst: /b, chmod: 0o7777}, {src: c, dst: /c, chmod: \"u+s,,-rwxr-xr-x\"}]\n",
	"x-l: &l [\"${BIG}\", \"${BIG}\"]\nx-m: &m [*l, *l, *l, *l]\nx-n: &n [*m, *m, *m, *m]\nkind: devcontainer\nmetadata: {a: [*n, *n, *n, *n]}\n",
}

// fuzzArgs are seeds for the build arg F, which the fuzzer varies.
var fuzzArgs = []string{"", "1000", "0", "root", "/app\nroot2::0:0::/:/bin/sh", "/srv/a:b", "a b", "\x00", "\x1b[2J",
	"x?trusted=1", "ci:TOKEN@host", "a,b", "${F}", "$${F}"}

// FuzzParse checks that no input makes Parse panic, and that every failure is an Errors of
// located, user-facing messages.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.laingfile")
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, "")
	}
	for i, s := range fuzzSeeds {
		f.Add([]byte(s), fuzzArgs[i%len(fuzzArgs)])
	}
	for _, a := range fuzzArgs {
		f.Add([]byte(fuzzSeeds[len(fuzzSeeds)-5]), a)
	}
	f.Fuzz(func(t *testing.T, data []byte, arg string) {
		// Build args: F from the fuzzer, and BIG, long enough that reusing it reaches the
		// expansion budgets.
		opts := testOptions()
		opts.BuildArgs = map[string]string{"F": arg, "BIG": strings.Repeat("b", 16<<10), "VERSION": "1.2.3"}
		file, err := parseOrHang(t, data, opts)
		if err == nil {
			checkFile(t, file)
			return
		}
		if file != nil {
			t.Errorf("a File and an error")
		}
		var errs Errors
		if !errors.As(err, &errs) || len(errs) == 0 {
			t.Fatalf("error is not a non-empty Errors: %T %v", err, err)
		}
		for i, e := range errs {
			r := e.Range
			if r.Start.Line < 1 || r.Start.Column < 1 {
				t.Errorf("error without a position: %v", e)
			}
			if r.End.Line < r.Start.Line || (r.End.Line == r.Start.Line && r.End.Column < r.Start.Column) {
				t.Errorf("range ends before it starts: %+v: %s", r, e.Msg)
			}
			if i > 0 {
				p := errs[i-1].Range.Start
				if p.Line > r.Start.Line || (p.Line == r.Start.Line && p.Column > r.Start.Column) {
					t.Errorf("errors out of order: %v before %v", errs[i-1], e)
				}
			}
			// A message may quote the input, build args expanded, so only text the input lacks
			// either way is a leak.
			input := string(data) + "\n" + arg + "\n" + strings.NewReplacer("${F}", arg, "$F", arg).Replace(string(data))
			for _, leak := range []string{"%!", "runtime error", "goroutine", "*ast.", "<nil>", "panic"} {
				if strings.Contains(e.Msg, leak) && !strings.Contains(input, leak) {
					t.Errorf("message leaks %q: %s", leak, e.Msg)
				}
			}
			if e.Msg == "" {
				t.Errorf("empty message")
			}
		}
		// The cap: maxErrors problems, the "… and N more" line, and the budget errors.
		if len(errs) > maxErrors+3 {
			t.Errorf("%d errors", len(errs))
		}
	})
}

// checkFile checks the invariants of a successfully parsed File.
func checkFile(t *testing.T, f *File) {
	if len(f.Targets) == 0 {
		t.Fatalf("no targets and no error")
	}
	// What aliases and build args can add to a File is bounded (the expansion budgets).
	size := 0
	for _, s := range f.Substituters {
		for _, v := range append([]string{s.URL, s.Login}, s.PublicKeys...) {
			if strings.ContainsFunc(v, func(c rune) bool { return unicode.IsSpace(c) || unicode.IsControl(c) || c == ',' }) {
				t.Errorf("substituter value %q would split", v)
			}
		}
		if strings.Contains(s.URL, "@") || strings.Contains(s.URL, "#") {
			t.Errorf("substituter URL %q", s.URL)
		}
		if _, q, ok := strings.Cut(s.URL, "?"); ok && checkStoreQuery(s.URL, q) != "" {
			t.Errorf("substituter URL %q", s.URL)
		}
	}
	if n := f.Nixpkgs; n != nil && n.URL != "" {
		if u, err := url.Parse(n.URL); err != nil || u.User != nil || strings.ContainsFunc(n.URL, func(c rune) bool { return unicode.IsSpace(c) || unicode.IsControl(c) }) {
			t.Errorf("nixpkgs URL %q", n.URL)
		}
	}
	for _, tg := range f.Targets {
		u := tg.User
		if (u.Name == "root") != (u.UID == 0) || (u.Name == "root" && (u.GID != 0 || u.Home != "/root")) {
			t.Errorf("user %+v: root is uid 0", u)
		}
		paths := append([]string{tg.Workdir, u.Home}, tg.Volumes...)
		for _, c := range tg.Copy {
			paths = append(paths, c.Dst)
		}
		for _, p := range paths {
			if strings.ContainsFunc(p, func(c rune) bool { return c == ':' || unicode.IsControl(c) }) {
				t.Errorf("path %q has \":\" or a control character", p)
			}
		}
		for _, kv := range append(append([]KeyValue{}, tg.Env...), tg.Labels...) {
			if checkText(kv.Value) != "" {
				t.Errorf("value %q has a control character", kv.Value)
			}
			size += len(kv.Key) + len(kv.Value)
		}
		for _, s := range append(append([]string{}, tg.Cmd...), tg.Entrypoint...) {
			if checkText(s) != "" {
				t.Errorf("argument %q has a control character", s)
			}
			size += len(s)
		}
		if tg.Kind != KindDevcontainer && tg.Kind != KindRuntime {
			t.Errorf("target %q has kind %q", tg.Name, tg.Kind)
		}
		if !targetNameRe.MatchString(tg.Name) {
			t.Errorf("bad target name %q", tg.Name)
		}
		if tg.MaxLayers < MinMaxLayers || tg.MaxLayers > MaxLayersLimit {
			t.Errorf("maxLayers %d", tg.MaxLayers)
		}
		if tg.User.Name == "" || !strings.HasPrefix(tg.User.Home, "/") || !strings.HasPrefix(tg.Workdir, "/") {
			t.Errorf("defaults missing: %+v %q", tg.User, tg.Workdir)
		}
		for _, c := range tg.Copy {
			if c.Src == "" || strings.HasPrefix(c.Src, "/") || !strings.HasPrefix(c.Dst, "/") {
				t.Errorf("bad copy %+v", c)
			}
			if c.Chmod != "" && checkMode(c.Chmod) != "" {
				t.Errorf("copy with a bad chmod %q", c.Chmod)
			}
		}
		for _, p := range tg.Expose {
			if _, problem := normalisePort(p.Port); problem != "" {
				t.Errorf("bad port %q", p.Port)
			}
		}
		for _, p := range tg.Packages {
			if (p.Attr == "") == (p.Path == "") || (p.Path != "" && contextPath(p.Path) != "") {
				t.Errorf("bad package %+v", p)
			}
		}
	}
	if size > 2*maxSourceSize+maxArgExpansion+maxAliasText {
		t.Errorf("env, labels and arguments total %d bytes", size)
	}
	if f.Nixpkgs != nil && !strings.HasPrefix(f.Nixpkgs.SHA256, "sha256-") {
		t.Errorf("nixpkgs hash %q", f.Nixpkgs.SHA256)
	}
}
