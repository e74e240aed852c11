package frontend

import (
	"context"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerui"

	"github.com/laingville/laingfile"
	"github.com/laingville/laingfile/nixsets"
)

const (
	testRev  = "0123456789abcdef0123456789abcdef01234567"
	testHash = "sha256-yxgb4AmkVHY5OOBrC79Vv6EVd4QZEotqv+6jcvA212M="
	lockJSON = `{"nodes": {
  "nixpkgs": {"locked": {"narHash": "` + testHash + `", "owner": "NixOS", "repo": "nixpkgs", "rev": "` + testRev + `", "type": "github"}},
  "stable": {"locked": {"narHash": "` + testHash + `", "type": "tarball", "url": "https://releases.nixos.org/nixexprs.tar.xz"}},
  "root": {"inputs": {"nixpkgs": "nixpkgs", "nixpkgs-stable": "stable"}}
}, "root": "root", "version": 7}`
)

func parse(t *testing.T, src string) *laingfile.File {
	t.Helper()
	f, err := laingfile.Parse("Laingfile", []byte(src), nixsets.ParseOptions(nil))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// contextFiles is a build context for readLock.
func contextFiles(files map[string]string) func(context.Context, string) ([]byte, error) {
	return func(_ context.Context, rel string) ([]byte, error) {
		data, ok := files[rel]
		if !ok {
			return nil, errors.New(rel + " is not in the build context")
		}
		return []byte(data), nil
	}
}

func TestChoosePin(t *testing.T) {
	lock := contextFiles(map[string]string{"./flake.lock": lockJSON, "./nix/flake.lock": lockJSON})
	tests := []struct {
		name      string
		src       string
		want      nixsets.Pin
		wantFrom  string
		wantLines []int // of HashRanges
	}{
		{"no nixpkgs: the release's pin", "kind: runtime\n", nixsets.DefaultPin(), "the release's pin", nil},
		{"config only keeps the release's pin", "nixpkgs: {config: {allowUnfree: true}}\nkind: runtime\n", nixsets.DefaultPin(), "the release's pin", nil},
		{"rev", "nixpkgs:\n  rev: " + testRev + "\n  sha256: " + testHash + "\nkind: runtime\n", nixsets.Pin{Rev: testRev, SHA256: testHash}, "nixpkgs.rev", []int{3, 2}},
		{"url", "nixpkgs:\n  sha256: " + testHash + "\n  url: https://x.org/n.tar.gz\nkind: runtime\n", nixsets.Pin{URL: "https://x.org/n.tar.gz", SHA256: testHash}, "nixpkgs.url", []int{2, 3}},
		{"flake.lock, default input", "nixpkgs:\n  flakeLock: ./flake.lock\nkind: runtime\n", nixsets.Pin{Rev: testRev, SHA256: testHash}, `flake.lock input "nixpkgs"`, []int{2}},
		{"flake.lock, other input, config", "nixpkgs:\n  config: {allowUnfree: true}\n  flakeLock: nix/flake.lock\n  input: nixpkgs-stable\nkind: runtime\n",
			nixsets.Pin{URL: "https://releases.nixos.org/nixexprs.tar.xz", SHA256: testHash}, `nix/flake.lock input "nixpkgs-stable"`, []int{3, 4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := parse(t, tt.src)
			got, err := choosePin(context.Background(), f.Nixpkgs, lock)
			if err != nil {
				t.Fatal(err)
			}
			if got.Pin != tt.want || got.From != tt.wantFrom {
				t.Errorf("pin = %+v from %q, want %+v from %q", got.Pin, got.From, tt.want, tt.wantFrom)
			}
			var lines []int
			for _, r := range got.HashRanges {
				lines = append(lines, r.Start.Line)
			}
			if !reflect.DeepEqual(lines, tt.wantLines) {
				t.Errorf("hash ranges on lines %v, want %v", lines, tt.wantLines)
			}
		})
	}
}

func TestChoosePinErrors(t *testing.T) {
	tests := []struct {
		name     string
		src      string
		files    map[string]string
		want     string
		wantLine int
	}{
		{"no lock file", "nixpkgs:\n  flakeLock: ./flake.lock\nkind: runtime\n", nil,
			"nixpkgs.flakeLock: ./flake.lock is not in the build context", 2},
		{"malformed lock", "nixpkgs:\n  flakeLock: ./flake.lock\nkind: runtime\n", map[string]string{"./flake.lock": `{"nodes": `},
			"nixpkgs.flakeLock: ./flake.lock: flake.lock is not valid JSON: unexpected end of JSON input", 2},
		{"unknown input", "nixpkgs:\n  flakeLock: ./flake.lock\n  input: nixpkgs-stabel\nkind: runtime\n", map[string]string{"./flake.lock": lockJSON},
			`nixpkgs.input: ./flake.lock has no input "nixpkgs-stabel" (did you mean "nixpkgs-stable"?); its inputs are: nixpkgs, nixpkgs-stable`, 3},
		{"default input missing", "nixpkgs:\n  flakeLock: ./flake.lock\nkind: runtime\n", map[string]string{"./flake.lock": strings.ReplaceAll(lockJSON, `"nixpkgs": "nixpkgs", `, "")},
			`nixpkgs.flakeLock: ./flake.lock has no input "nixpkgs"; its inputs are: nixpkgs-stable (name one with input:)`, 2},
		{"unsupported type", "nixpkgs:\n  flakeLock: ./flake.lock\nkind: runtime\n", map[string]string{"./flake.lock": strings.Replace(lockJSON, `"type": "github"`, `"type": "git", "url": "https://github.com/NixOS/nixpkgs"`, 1)},
			`nixpkgs.flakeLock: ./flake.lock: flake.lock: input "nixpkgs" is locked as type "git", which the Laingfile cannot follow`, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := parse(t, tt.src)
			_, err := choosePin(context.Background(), f.Nixpkgs, contextFiles(tt.files))
			var pe pinError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is not a pinError", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error:\n %v\nwant:\n %s", err, tt.want)
			}
			if len(pe.ranges) != 1 || pe.ranges[0].Start.Line != tt.wantLine {
				t.Errorf("ranges %v, want line %d", pe.ranges, tt.wantLine)
			}
		})
	}
}

func TestHashMismatchMessages(t *testing.T) {
	const base32Got = "sha256:1kj7f9zb0f9slny0bzsqhh2n0yn6c416gjmm6zg3wik2c04y8qp7"
	const sriGot = "sha256-52LkCWBiRj7eN7XKZwJhxnpgBYRY/wW8pTo5sH5yR84="
	lock := contextFiles(map[string]string{"./flake.lock": lockJSON})
	tests := []struct {
		name  string
		src   string
		named bool
		url   string
		want  string
	}{
		{"url pin", "nixpkgs: {url: https://x.org/n.tar.gz, sha256: " + testHash + "}\nkind: runtime\n", false, "https://x.org/n.tar.gz",
			"nixpkgs sha256 does not match: got " + sriGot + " for https://x.org/n.tar.gz, the Laingfile gives " + testHash + "; if the source is the one you meant, write sha256: " + sriGot},
		{"rev pin", "nixpkgs: {rev: " + testRev + ", sha256: " + testHash + "}\nkind: runtime\n", false, "https://github.com/NixOS/nixpkgs/archive/" + testRev + ".tar.gz",
			"nixpkgs sha256 does not match: got " + sriGot},
		{"flake.lock", "nixpkgs: {flakeLock: ./flake.lock}\nkind: runtime\n", false, "https://github.com/NixOS/nixpkgs/archive/" + testRev + ".tar.gz",
			`nixpkgs: the narHash of flake.lock input "nixpkgs" does not match the source: the lock gives ` + testHash + `, but https://github.com/NixOS/nixpkgs/archive/` + testRev + `.tar.gz has NAR hash ` + sriGot},
		{"a fetch of an overlay", "nixpkgs: {url: https://x.org/n.tar.gz, sha256: " + testHash + "}\noverlays: [./o.nix]\nkind: runtime\n", false, "https://x.org/other.tar.gz",
			"a source fetched while evaluating the overlays or package files does not have the hash it is given: https://x.org/other.tar.gz has NAR hash " + sriGot},
		{"the named context replaced the pin", "nixpkgs: {url: https://x.org/n.tar.gz, sha256: " + testHash + "}\nkind: runtime\n", true, "https://x.org/n.tar.gz",
			"a source fetched while evaluating"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := parse(t, tt.src)
			pin, err := choosePin(context.Background(), f.Nixpkgs, lock)
			if err != nil {
				t.Fatal(err)
			}
			b := &targetBuild{file: f, target: f.Targets[0], pin: pin}
			if tt.named {
				b.nixpkgs = &dockerui.NamedContext{}
			}
			err = b.hashMismatch(&nixsets.HashMismatch{URL: tt.url, Specified: "sha256:0qyp6vq758zfpxm8n4hrhivib8dzanzhnsz070wpcm5417h1n66b", Got: base32Got})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error:\n %v\nwant:\n %s", err, tt.want)
			}
		})
	}
}

// The docs list every pin form this file chooses from.
func TestDocsNamePinForms(t *testing.T) {
	doc, err := os.ReadFile("../docs/laingfile.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"flakeLock", "input", "nixpkgs sha256 does not match", "substituters", "laing pin update"} {
		if !strings.Contains(string(doc), want) {
			t.Errorf("docs/laingfile.md does not mention %q", want)
		}
	}
}
