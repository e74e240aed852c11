package laingfile

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestDocsListEveryKey checks that docs/laingfile.md mentions every key of every key table in the
// section about its mapping, so that a key added without documentation fails here.
func TestDocsListEveryKey(t *testing.T) {
	doc, err := os.ReadFile("docs/laingfile.md")
	if err != nil {
		t.Fatal(err)
	}
	tables := []struct {
		name    string // the variable, for the check that none is missing
		heading string // the section of docs/laingfile.md about the mapping
		keys    []string
	}{
		{"topFields", "## File structure", topFields.keys()},
		{"nixpkgsFields", "## nixpkgs", nixpkgsFields.keys()},
		{"substituterFields", "## substituters", substituterFields.keys()},
		{"pushFields", "## substituters", pushFields.keys()},
		{"targetFields", "## Target keys", targetFields.keys()},
		{"userFields", "### user", userFields.keys()},
		{"copyFields", "### copy", copyFields.keys()},
		{"configFields", "### config", configFields.keys()},
	}
	checked := map[string]bool{}
	for _, tb := range tables {
		checked[tb.name] = true
		text, ok := docSection(string(doc), tb.heading)
		if !ok {
			t.Errorf("docs/laingfile.md has no section %q (for %s)", tb.heading, tb.name)
			continue
		}
		for _, key := range tb.keys {
			// `key` in prose and tables, or key: in examples and flow mappings ({signingKey: ID}).
			mention := regexp.MustCompile("`" + regexp.QuoteMeta(key) + "`|(^|[^A-Za-z0-9_])" + regexp.QuoteMeta(key) + ":")
			if !mention.MatchString(text) {
				t.Errorf("docs/laingfile.md, section %q, does not mention the key %q of %s (as `%s` or %s:)", tb.heading, key, tb.name, key, key)
			}
		}
	}
	for _, name := range keyTables(t) {
		if !checked[name] {
			t.Errorf("the key table %s is not checked against the docs: add it to this test with its section", name)
		}
	}
}

// docSection returns the section of a Markdown document under heading, up to the next heading of
// the same level or above; "#" lines in code blocks are not headings.
func docSection(doc, heading string) (string, bool) {
	level := strings.IndexByte(heading, ' ')
	var out []string
	in, fenced := false, false
	for _, line := range strings.Split(doc, "\n") {
		if strings.HasPrefix(line, "```") {
			fenced = !fenced
		}
		if !fenced && strings.HasPrefix(line, "#") {
			hashes := len(line) - len(strings.TrimLeft(line, "#"))
			switch {
			case line == heading:
				in = true
				continue
			case in && hashes <= level:
				return strings.Join(out, "\n"), true
			}
		}
		if in {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n"), in
}

// keyTables returns the names of the package's variables of type table, from its source.
func keyTables(t *testing.T) []string {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	isTable := func(e ast.Expr) bool {
		if lit, ok := e.(*ast.CompositeLit); ok {
			e = lit.Type
		}
		index, ok := e.(*ast.IndexExpr)
		if !ok {
			return false
		}
		name, ok := index.X.(*ast.Ident)
		return ok && name.Name == "table"
	}
	var names []string
	fset := token.NewFileSet()
	for _, file := range files {
		if strings.HasSuffix(file, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, file, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, decl := range f.Decls {
			gen, ok := decl.(*ast.GenDecl)
			if !ok || gen.Tok != token.VAR {
				continue
			}
			for _, spec := range gen.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, name := range vs.Names {
					if (vs.Type != nil && isTable(vs.Type)) || (i < len(vs.Values) && isTable(vs.Values[i])) {
						names = append(names, name.Name)
					}
				}
			}
		}
	}
	if len(names) == 0 {
		t.Fatal("found no key tables in the package's source")
	}
	return names
}
