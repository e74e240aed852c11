package laingfile

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
}

// FuzzParse checks that no input makes Parse panic, and that every failure is an Errors of
// located, user-facing messages.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.laingfile")
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	opts := testOptions()
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Parse("Laingfile", data, opts)
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
			for _, leak := range []string{"%!", "runtime error", "goroutine", "*ast.", "<nil>", "panic"} {
				// A message may quote the input, so only text the input lacks is a leak.
				if strings.Contains(e.Msg, leak) && !strings.Contains(string(data), leak) {
					t.Errorf("message leaks %q: %s", leak, e.Msg)
				}
			}
			if e.Msg == "" {
				t.Errorf("empty message")
			}
		}
	})
}

// checkFile checks the invariants of a successfully parsed File.
func checkFile(t *testing.T, f *File) {
	if len(f.Targets) == 0 {
		t.Fatalf("no targets and no error")
	}
	for _, tg := range f.Targets {
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
	if f.Nixpkgs != nil && !strings.HasPrefix(f.Nixpkgs.SHA256, "sha256-") {
		t.Errorf("nixpkgs hash %q", f.Nixpkgs.SHA256)
	}
}
