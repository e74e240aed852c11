package laingfile

import (
	"fmt"
	"testing"
)

func TestContextReads(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string // "use path line pattern"
		nix  bool
	}{
		{"nothing from the context", "kind: runtime\nsets: [base]\n", nil, false},
		{"every use, in order", `nixpkgs: {flakeLock: ./flake.lock}
overlays: [./nix/overlay.nix]
kind: runtime
packages: [jq, ./nix/app.nix]
copy:
  - {src: app/, dst: /app/app}
  - {src: "*.txt", dst: /app/}
`, []string{"flake.lock ./flake.lock 1 false", "overlay ./nix/overlay.nix 2 false", "package file ./nix/app.nix 4 false",
			"copy source app/ 6 false", "copy source *.txt 7 true"}, true},
		{"copies alone: no Nix from the context", "kind: runtime\ncopy: [{src: a, dst: /a}]\n", []string{"copy source a 2 false"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse("Laingfile", []byte(tt.src), testOptions())
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range f.ContextReads(f.Targets[0]) {
				got = append(got, fmt.Sprintf("%s %s %d %v", r.Use, r.Path, r.Range.Start.Line, r.Pattern))
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("reads %q, want %q", got, tt.want)
			}
			if nix := f.NixReadsContext(f.Targets[0]); nix != tt.nix {
				t.Errorf("NixReadsContext = %v, want %v", nix, tt.nix)
			}
		})
	}
}
