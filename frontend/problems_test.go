package frontend

import (
	"strings"
	"testing"

	"github.com/laingville/laingfile/nixsets"
)

func TestProblemMessages(t *testing.T) {
	tests := []struct {
		name    string
		problem nixsets.Problem
		nixSays string
		want    []string
	}{
		{"missing", nixsets.Problem{Problem: nixsets.ProblemMissing, Attr: "pythn312", Name: "pythn312", Candidates: []string{"python312", "perl"}},
			"", []string{`unknown package "pythn312"`, `did you mean "python312"`}},
		{"missing below a set", nixsets.Problem{Problem: nixsets.ProblemMissing, Attr: "python312Packages.pipp", Prefix: []string{"python312Packages"}, Name: "pipp", Candidates: []string{"pip"}},
			"", []string{`python312Packages has no attribute "pipp"`, `"pip"`}},
		{"not a package", nixsets.Problem{Problem: nixsets.ProblemNotPackage, Attr: "python312Packages", Candidates: []string{"a", "b", "c", "d", "e", "f"}},
			"", []string{"is a set of packages", "(it contains a, b, c, d, e, …)"}},
		{"removed alias", nixsets.Problem{Problem: nixsets.ProblemThrows, Attr: "nodePackages.prettier", System: "x86_64-linux"},
			"nodePackages has been removed. Many packages are now available at the top level",
			[]string{`"nodePackages.prettier" cannot be used on x86_64-linux: nodePackages has been removed`}},
		{"throws, Nix said nothing", nixsets.Problem{Problem: nixsets.ProblemThrows, Attr: "x", System: "x86_64-linux"},
			"", []string{`"x" cannot be used on x86_64-linux: evaluating it fails`}},
		{"unfree", nixsets.Problem{Problem: nixsets.ProblemUnfree, Attr: "terraform", Details: []string{"bsl11"}},
			"", []string{`"terraform" has an unfree license (bsl11)`, "`allowUnfree: true` under `nixpkgs: config:`"}},
		{"broken", nixsets.Problem{Problem: nixsets.ProblemBroken, Attr: "foo"},
			"", []string{`"foo" is marked as broken`, "allowBroken: true"}},
		{"unsupported", nixsets.Problem{Problem: nixsets.ProblemUnsupported, Attr: "wine64", System: "aarch64-linux", Details: []string{"x86_64-linux"}},
			"", []string{`"wine64" is not available on aarch64-linux (it supports x86_64-linux)`}},
		{"insecure", nixsets.Problem{Problem: nixsets.ProblemInsecure, Attr: "olm", Details: []string{"olm-3.2.16", "CVE-2024-45191"}},
			"", []string{`"olm" is marked as insecure (CVE-2024-45191)`, `list "olm-3.2.16" under` + " `nixpkgs: config: permittedInsecurePackages:`"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := problemMessage(tt.problem, tt.nixSays)
			for _, want := range tt.want {
				if !strings.Contains(got, want) {
					t.Errorf("message %q lacks %q", got, want)
				}
			}
		})
	}
}

func TestNixErrorMessage(t *testing.T) {
	tests := []struct {
		name, log, want string
	}{
		{"Nix 2.8", "error: nodePackages has been removed.\n       Many packages moved.\n(use '--show-trace' to show detailed location information)\n",
			"nodePackages has been removed. Many packages moved."},
		{"Nix 2.28, with a trace", "error:\n       … while evaluating the attribute 'explain.\"abc\"'\n         at /laingfile/build.nix:150:7:\n\n       error: nodejs_18 has been removed as it is EOL\n",
			"nodejs_18 has been removed as it is EOL"},
		{"no error", "warning: something\n", ""},
		{"long", "error: " + strings.Repeat("x", 1000), strings.Repeat("x", 400) + "…"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := nixErrorMessage(tt.log); got != tt.want {
				t.Errorf("nixErrorMessage = %q, want %q", got, tt.want)
			}
		})
	}
}
