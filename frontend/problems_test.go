package frontend

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
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

func TestPackageProblemsError(t *testing.T) {
	const src = `kind: runtime
sets: [base]
packages:
  - pythn312
  - python312Packages.pipp
  - python312Packages
  - nodePackages.prettier
  - terraform
  - dhall-lsp-server
  - cpuid
  - olm
  - ./nix/app.nix
`
	const (
		atPythn       = "4:5-4:13 pythn312"
		atPipp        = "5:5-5:27 python312Packages.pipp"
		atPrettier    = "7:5-7:26 nodePackages.prettier"
		atTerraform   = "8:5-8:14 terraform"
		removedLog    = "error:\n       … while evaluating the attribute 'explain.\"p1\"'\n\n       error: nodePackages has been removed. Many packages are now available at the top level\n(use '--show-trace' to show detailed location information)\n"
		removedSays   = "nodePackages has been removed. Many packages are now available at the top level"
		longVuln      = "Multiple vulnerabilities were found in libolm,\n      the library behind the old Matrix end-to-end encryption, and the upstream project has been deprecated since August 2024."
		longVulnShort = "Multiple vulnerabilities were found in libolm, the library behind the old Matrix end-to-end encryption, and the upstream project has been deprecated since Augus…"
	)
	logs := map[string]string{"problems/p1.log": removedLog, "problems/p3.log": "error: function 'anonymous lambda' called without required argument 'no-such-package'\n"}
	tests := []struct {
		name       string
		problems   []nixsets.Problem
		want       string
		wantRanges []string
	}{
		{"missing, did you mean",
			[]nixsets.Problem{{Problem: nixsets.ProblemMissing, Attr: "pythn312", Name: "pythn312", Candidates: []string{"perl", "python312"}}},
			`unknown package "pythn312" (did you mean "python312"?)`, []string{atPythn}},
		{"missing, nothing near",
			[]nixsets.Problem{{Problem: nixsets.ProblemMissing, Attr: "pythn312", Name: "pythn312", Candidates: []string{"zsh"}}},
			`unknown package "pythn312"`, []string{atPythn}},
		{"missing below a set",
			[]nixsets.Problem{{Problem: nixsets.ProblemMissing, Attr: "python312Packages.pipp", Prefix: []string{"python312Packages"}, Name: "pipp", Candidates: []string{"pip", "pytest"}}},
			`unknown package "python312Packages.pipp": python312Packages has no attribute "pipp" (did you mean "pip"?)`, []string{atPipp}},
		{"not a package",
			[]nixsets.Problem{{Problem: nixsets.ProblemNotPackage, Attr: "python312Packages", Candidates: []string{"a", "b", "c", "d", "e", "f"}}},
			`"python312Packages" is a set of packages, not a package (it contains a, b, c, d, e, …)`, []string{"6:5-6:22 python312Packages"}},
		{"throws: what Nix said",
			[]nixsets.Problem{{Problem: nixsets.ProblemThrows, Attr: "nodePackages.prettier", System: "x86_64-linux", ID: "p1"}},
			`"nodePackages.prettier" cannot be used on x86_64-linux: ` + removedSays, []string{atPrettier}},
		{"throws: no log",
			[]nixsets.Problem{{Problem: nixsets.ProblemThrows, Attr: "nodePackages.prettier", System: "x86_64-linux", ID: "p2"}},
			`"nodePackages.prettier" cannot be used on x86_64-linux: evaluating it fails`, []string{atPrettier}},
		{"unfree: the log is not needed",
			[]nixsets.Problem{{Problem: nixsets.ProblemUnfree, Attr: "terraform", Details: []string{"bsl11"}, ID: "p1"}},
			`"terraform" has an unfree license (bsl11): to use it, set ` + "`allowUnfree: true` under `nixpkgs: config:`", []string{atTerraform}},
		{"broken",
			[]nixsets.Problem{{Problem: nixsets.ProblemBroken, Attr: "dhall-lsp-server", System: "x86_64-linux"}},
			`"dhall-lsp-server" is marked as broken in this nixpkgs: pin a nixpkgs where it builds, or set ` + "`allowBroken: true` under `nixpkgs: config:`" + ` to try anyway`,
			[]string{"9:5-9:21 dhall-lsp-server"}},
		{"unsupported",
			[]nixsets.Problem{{Problem: nixsets.ProblemUnsupported, Attr: "cpuid", System: "aarch64-linux", Details: []string{"x86_64-linux", "i686-linux"}}},
			`"cpuid" is not available on aarch64-linux (it supports x86_64-linux, i686-linux): leave it out of this platform's image or build for a platform it supports`,
			[]string{"10:5-10:10 cpuid"}},
		{"insecure",
			[]nixsets.Problem{{Problem: nixsets.ProblemInsecure, Attr: "olm", Details: []string{"olm-3.2.16", "CVE-2024-45191", longVuln}}},
			`"olm" is marked as insecure (CVE-2024-45191, ` + longVulnShort + `): to use it anyway, list "olm-3.2.16" under ` + "`nixpkgs: config: permittedInsecurePackages:`",
			[]string{"11:5-11:8 olm"}},
		{"insecure, no details",
			[]nixsets.Problem{{Problem: nixsets.ProblemInsecure, Attr: "olm"}},
			`"olm" is marked as insecure: to use it anyway, list "olm" under ` + "`nixpkgs: config: permittedInsecurePackages:`",
			[]string{"11:5-11:8 olm"}},
		// The build step names a package file by its path in the step; the message by the Laingfile's.
		{"a package file that does not evaluate",
			[]nixsets.Problem{{Problem: nixsets.ProblemThrows, Attr: "/context/nix/app.nix", System: "x86_64-linux", ID: "p3"}},
			`"./nix/app.nix" cannot be used on x86_64-linux: function 'anonymous lambda' called without required argument 'no-such-package'`,
			[]string{"12:5-12:18 ./nix/app.nix"}},
		{"from a set",
			[]nixsets.Problem{{Problem: nixsets.ProblemBroken, Attr: "gnutar", System: "x86_64-linux"}},
			`"gnutar" is marked as broken in this nixpkgs: pin a nixpkgs where it builds, or set ` + "`allowBroken: true` under `nixpkgs: config:`" + ` to try anyway (from set "base")`,
			[]string{"2:8-2:12 base"}},
		{"in every image",
			[]nixsets.Problem{{Problem: nixsets.ProblemThrows, Attr: "sudo", System: "x86_64-linux"}},
			`"sudo" cannot be used on x86_64-linux: evaluating it fails (from every runtime image)`,
			[]string{"1:7-1:14 runtime"}},
		{"several, in the report's order",
			[]nixsets.Problem{
				{Problem: nixsets.ProblemUnfree, Attr: "terraform", Details: []string{"bsl11", "mpl20"}},
				{Problem: nixsets.ProblemMissing, Attr: "pythn312", Name: "pythn312", Candidates: []string{"python312"}},
			},
			`"terraform" has an unfree license (bsl11, mpl20): to use it, set ` + "`allowUnfree: true` under `nixpkgs: config:`" + "\n" +
				`unknown package "pythn312" (did you mean "python312"?)`,
			[]string{atTerraform, atPythn}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, sm := parseWithSource(t, src)
			var readLogs []string
			readLog := func(name string) ([]byte, error) {
				readLogs = append(readLogs, name)
				if log, ok := logs[name]; ok {
					return []byte(log), nil
				}
				return nil, errors.New(name + ": no such file")
			}
			before, _ := json.Marshal(tt.problems)
			err := packageProblemsError(tt.problems, readLog, f.Targets[0], sm)
			checkLocated(t, err, tt.want, tt.wantRanges)
			var wantLogs []string
			for _, p := range tt.problems {
				if p.ID != "" {
					wantLogs = append(wantLogs, nixsets.ProblemLog(p))
				}
			}
			if !reflect.DeepEqual(readLogs, wantLogs) {
				t.Errorf("read the logs %q, want %q", readLogs, wantLogs)
			}
			if after, _ := json.Marshal(tt.problems); string(after) != string(before) {
				t.Errorf("the report changed:\n %s\nwas:\n %s", after, before)
			}
		})
	}
}

func TestMissingContextFilesError(t *testing.T) {
	const src = `overlays: [./nix/overlay.nix]
kind: runtime
packages: [hello, ./nix/ap.nix]
copy:
  - {src: scr/, dst: /app/src}
  - {src: "*.txt", dst: /app/}
  - {src: pkgs/tool.sh, dst: /app/tool.sh}
`
	const (
		overlayMissing = `overlay "./nix/overlay.nix" not found in the build context (did you mean "overlays.nix"?)`
		packageMissing = `package file "./nix/ap.nix" not found in the build context (did you mean "app.nix"?)`
		atOverlay      = "1:12-1:29 ./nix/overlay.nix"
		atPackage      = "3:19-3:31 ./nix/ap.nix"
		atScr          = "5:5-5:31 {src: scr/, dst: /app/src}"
		atTool         = "7:5-7:43 {src: pkgs/tool.sh, dst: /app/tool.sh}"
	)
	tests := []struct {
		name       string
		files      map[string]string
		want       string
		wantRanges []string
	}{
		{"all there", map[string]string{"nix/overlay.nix": "", "nix/ap.nix": "", "scr/main.sh": "", "pkgs/tool.sh": ""}, "", nil},
		{"each missing, with the names that exist", map[string]string{"nix/overlays.nix": "", "nix/app.nix": "", "src/main.sh": "", "pkgs/tool.bash": ""},
			overlayMissing + "\n" + packageMissing + "\n" +
				`copy source "scr/" not found in the build context (did you mean "src"?)` + "\n" +
				`copy source "pkgs/tool.sh" not found in the build context (did you mean "tool.bash"?)`,
			[]string{atOverlay, atPackage, atScr, atTool}},
		// The wildcard is the copy's to match; a directory that is not there has no names to offer.
		{"an empty context", nil,
			`overlay "./nix/overlay.nix" not found in the build context` + "\n" + `package file "./nix/ap.nix" not found in the build context` + "\n" +
				`copy source "scr/" not found in the build context` + "\n" + `copy source "pkgs/tool.sh" not found in the build context`,
			[]string{atOverlay, atPackage, atScr, atTool}},
		{"some missing", map[string]string{"nix/overlays.nix": "", "nix/app.nix": "", "scr/main.sh": "", "pkgs/tool.sh": ""},
			overlayMissing + "\n" + packageMissing, []string{atOverlay, atPackage}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, sm := parseWithSource(t, src)
			ref := newFakeContext(tt.files)
			missing := func(rel string) (string, bool) { return missingFile(context.Background(), ref, rel) }
			err := missingContextFilesError(missing, checkedFiles(f, f.Targets[0]), sm)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("error %v, want none", err)
				}
				return
			}
			checkLocated(t, err, tt.want, tt.wantRanges)
		})
	}
}

func TestMissingSecretError(t *testing.T) {
	key := "cache-1:" + base64.StdEncoding.EncodeToString(make([]byte, 32))
	src := `substituters:
  - url: https://private.example.com
    publicKey: ` + key + `
    secret: cachetoken
    push: {signingKey: cache-key}
  - url: https://public.example.com
    publicKey: ` + key + `
kind: runtime
`
	buildkitErr := func(id string) error {
		return fmt.Errorf("process \"/bin/sh -c build\" did not complete successfully: secret %s: not found", id)
	}
	other := errors.New("process \"/bin/sh -c build\" did not complete successfully: exit code: 1")
	tests := []struct {
		name       string
		err        error
		want       string
		wantRanges []string
	}{
		{"the cache's token", buildkitErr("cachetoken"),
			`the binary cache https://private.example.com needs the build secret "cachetoken": pass it with --secret id=cachetoken,src=FILE (or env=VARIABLE)`,
			[]string{"2:5-5:34 url: https://private.example.com\n    publicKey: " + key + "\n    secret: cachetoken\n    push: {signingKey: cache-key}"}},
		{"the signing key to push with", buildkitErr("cache-key"),
			`pushing to the binary cache https://private.example.com needs the build secret "cache-key" with the cache's signing key: pass it with --secret id=cache-key,src=FILE (or env=VARIABLE)`,
			[]string{"5:11-5:34 {signingKey: cache-key}"}},
		{"a secret no cache names", buildkitErr("npmrc"), buildkitErr("npmrc").Error(), nil},
		{"another failure", other, other.Error(), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, sm := parseWithSource(t, src)
			err := missingSecretError(tt.err, f.Substituters, sm)
			checkLocated(t, err, tt.want, tt.wantRanges)
			// Explained, it does not wrap BuildKit's error, whose message BuildKit would show.
			if explained := tt.wantRanges != nil; explained == errors.Is(err, tt.err) {
				t.Errorf("errors.Is(error, BuildKit's error) = %t, want %t", explained, !explained)
			}
		})
	}
}
