package e2e

import (
	"regexp"
	"strconv"
	"testing"

	"github.com/laingville/laingfile/test/testenv"
)

// TestNixStepProgress checks that the Nix step's progress names what it builds and says how
// many paths it substituted and built. A package with a fresh name makes sure that the step
// runs and has something to build.
func TestNixStepProgress(t *testing.T) {
	testenv.SkipIfShort(t)
	dir := t.TempDir()
	n := nonce(t)
	writeFiles(t, dir, map[string]string{
		"Laingfile": "kind: runtime\nsets: [base]\npackages: [./nonce.nix]\n",
		"nonce.nix": `{ runCommand }: runCommand "nonce-` + n + `" { } "echo ` + n + ` >$out"` + "\n",
	})
	res := mustBuild(t, buildRequest{Dir: dir, Platforms: "linux/amd64"})
	if !regexp.MustCompile(`nix: to build nonce-` + n + `\n`).MatchString(res.Log) {
		t.Errorf("the progress does not name the package it builds:\n%s", tail(res.Log, 40))
	}
	for _, re := range []*regexp.Regexp{
		regexp.MustCompile(`nix: realising: (\d+) paths to substitute, (\d+) to build\n`),
		regexp.MustCompile(`nix: substituted (\d+) paths, built (\d+)\n`),
	} {
		m := re.FindStringSubmatch(res.Log)
		if m == nil {
			t.Errorf("the progress has no line matching %s:\n%s", re, tail(res.Log, 40))
			continue
		}
		// The fixture is served by no binary cache; the package and the profile are new.
		substituted, _ := strconv.Atoi(m[1])
		built, _ := strconv.Atoi(m[2])
		if substituted != 0 || built < 2 {
			t.Errorf("%q: want 0 substituted and at least 2 built (the package and the profile)", m[0])
		}
	}
}
