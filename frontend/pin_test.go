package frontend

import (
	"context"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"

	gwclient "github.com/moby/buildkit/frontend/gateway/client"

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

// contextFiles is a build context for readLock, read as a build reads it.
func contextFiles(files map[string]string) func(context.Context, string) ([]byte, error) {
	ref := newFakeContext(files)
	return func(ctx context.Context, rel string) ([]byte, error) { return readLockFile(ctx, ref, rel) }
}

// rangeTexts are ranges as rangeText shows them in src.
func rangeTexts(src string, ranges []laingfile.Range) []string {
	var out []string
	for _, r := range ranges {
		out = append(out, rangeText([]byte(src), r))
	}
	return out
}

func TestChoosePin(t *testing.T) {
	lock := contextFiles(map[string]string{"./flake.lock": lockJSON, "./nix/flake.lock": lockJSON})
	tests := []struct {
		name       string
		src        string
		want       nixsets.Pin
		wantFrom   string
		wantRanges []string // HashRanges
		wantLock   bool
	}{
		{"no nixpkgs: the release's pin", "kind: runtime\n", nixsets.DefaultPin(), "the release's pin", nil, false},
		{"config only keeps the release's pin", "nixpkgs: {config: {allowUnfree: true}}\nkind: runtime\n", nixsets.DefaultPin(), "the release's pin", nil, false},
		{"rev", "nixpkgs:\n  rev: " + testRev + "\n  sha256: " + testHash + "\nkind: runtime\n", nixsets.Pin{Rev: testRev, SHA256: testHash}, "nixpkgs.rev",
			[]string{"3:11-3:62 " + testHash, "2:8-2:48 " + testRev}, false},
		{"url", "nixpkgs:\n  sha256: " + testHash + "\n  url: https://x.org/n.tar.gz\nkind: runtime\n", nixsets.Pin{URL: "https://x.org/n.tar.gz", SHA256: testHash}, "nixpkgs.url",
			[]string{"2:11-2:62 " + testHash, "3:8-3:30 https://x.org/n.tar.gz"}, false},
		{"flake.lock, default input", "nixpkgs:\n  flakeLock: ./flake.lock\nkind: runtime\n", nixsets.Pin{Rev: testRev, SHA256: testHash}, `flake.lock input "nixpkgs"`,
			[]string{"2:14-2:26 ./flake.lock"}, true},
		{"flake.lock, other input, config", "nixpkgs:\n  config: {allowUnfree: true}\n  flakeLock: nix/flake.lock\n  input: nixpkgs-stable\nkind: runtime\n",
			nixsets.Pin{URL: "https://releases.nixos.org/nixexprs.tar.xz", SHA256: testHash}, `nix/flake.lock input "nixpkgs-stable"`,
			[]string{"3:14-3:28 nix/flake.lock", "4:10-4:24 nixpkgs-stable"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := parse(t, tt.src)
			got, err := choosePin(context.Background(), f.Nixpkgs, lock)
			if err != nil {
				t.Fatal(err)
			}
			if got.Pin != tt.want || got.From != tt.wantFrom || got.lock != tt.wantLock {
				t.Errorf("pin = %+v from %q (lock %t), want %+v from %q (lock %t)", got.Pin, got.From, got.lock, tt.want, tt.wantFrom, tt.wantLock)
			}
			if ranges := rangeTexts(tt.src, got.HashRanges); !reflect.DeepEqual(ranges, tt.wantRanges) {
				t.Errorf("hash ranges %q, want %q", ranges, tt.wantRanges)
			}
		})
	}
}

func TestChoosePinErrors(t *testing.T) {
	const defaultInput = "nixpkgs:\n  flakeLock: ./flake.lock\nkind: runtime\n"
	const atFlakeLock = "2:14-2:26 ./flake.lock"
	tests := []struct {
		name      string
		src       string
		files     map[string]string
		want      string
		wantRange string
	}{
		{"no lock file", defaultInput, nil,
			"nixpkgs.flakeLock: ./flake.lock is not in the build context", atFlakeLock},
		{"no lock file in a directory", "nixpkgs:\n  flakeLock: ./nix/flake.lock\nkind: runtime\n", map[string]string{"flake.lock": lockJSON},
			"nixpkgs.flakeLock: ./nix/flake.lock is not in the build context", "2:14-2:30 ./nix/flake.lock"},
		{"lock too large", defaultInput, map[string]string{"./flake.lock": lockJSON + strings.Repeat(" ", nixsets.MaxFlakeLockSize)},
			fmt.Sprintf("nixpkgs.flakeLock: ./flake.lock is %d bytes; expected a lock file of at most 1048576 bytes (1 MiB)", len(lockJSON)+nixsets.MaxFlakeLockSize), atFlakeLock},
		{"malformed lock", defaultInput, map[string]string{"./flake.lock": `{"nodes": `},
			"nixpkgs.flakeLock: ./flake.lock: flake.lock is not valid JSON: unexpected end of JSON input", atFlakeLock},
		{"unknown input", "nixpkgs:\n  flakeLock: ./flake.lock\n  input: nixpkgs-stabel\nkind: runtime\n", map[string]string{"./flake.lock": lockJSON},
			`nixpkgs.input: ./flake.lock has no input "nixpkgs-stabel" (did you mean "nixpkgs-stable"?); its inputs are: nixpkgs, nixpkgs-stable`, "3:10-3:24 nixpkgs-stabel"},
		{"unknown input, nothing near", "nixpkgs:\n  flakeLock: ./flake.lock\n  input: home-manager\nkind: runtime\n", map[string]string{"./flake.lock": lockJSON},
			`nixpkgs.input: ./flake.lock has no input "home-manager"; its inputs are: nixpkgs, nixpkgs-stable`, "3:10-3:22 home-manager"},
		{"default input missing", defaultInput, map[string]string{"./flake.lock": strings.ReplaceAll(lockJSON, `"nixpkgs": "nixpkgs", `, "")},
			`nixpkgs.flakeLock: ./flake.lock has no input "nixpkgs"; its inputs are: nixpkgs-stable (name one with input:)`, atFlakeLock},
		{"a lock without inputs", defaultInput, map[string]string{"./flake.lock": `{"nodes": {"root": {}}, "root": "root", "version": 7}`},
			`nixpkgs.flakeLock: ./flake.lock has no input "nixpkgs" (name one with input:)`, atFlakeLock},
		{"unsupported type", defaultInput, map[string]string{"./flake.lock": strings.Replace(lockJSON, `"type": "github"`, `"type": "git", "url": "https://github.com/NixOS/nixpkgs"`, 1)},
			`nixpkgs.flakeLock: ./flake.lock: flake.lock: input "nixpkgs" is locked as type "git", which the Laingfile cannot follow: the build step has no git; ` +
				`the supported types are "github" and "tarball" (e.g. inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable"), or pin nixpkgs with rev and sha256`, atFlakeLock},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := parse(t, tt.src)
			_, err := choosePin(context.Background(), f.Nixpkgs, contextFiles(tt.files))
			var pe pinError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is not a pinError", err)
			}
			if err.Error() != tt.want {
				t.Errorf("error:\n %v\nwant:\n %s", err, tt.want)
			}
			if ranges := rangeTexts(tt.src, pe.ranges); !reflect.DeepEqual(ranges, []string{tt.wantRange}) {
				t.Errorf("ranges %q, want %q", ranges, tt.wantRange)
			}
		})
	}
}

// Tools outside BuildKit get the pin, or its problem as a parse error at the line it is about.
func TestChoosePinForTools(t *testing.T) {
	lock := contextFiles(map[string]string{"./flake.lock": lockJSON})
	tests := []struct {
		name    string
		src     string
		want    nixsets.Pin
		wantErr *laingfile.Error
	}{
		{"flake.lock", "nixpkgs:\n  flakeLock: ./flake.lock\nkind: runtime\n", nixsets.Pin{Rev: testRev, SHA256: testHash}, nil},
		{"unknown input", "nixpkgs:\n  flakeLock: ./flake.lock\n  input: nixpkgs-stabel\nkind: runtime\n", nixsets.Pin{}, &laingfile.Error{
			Filename: "Laingfile",
			Range:    laingfile.Range{Start: laingfile.Pos{Line: 3, Column: 10}, End: laingfile.Pos{Line: 3, Column: 24}},
			Msg:      `nixpkgs.input: ./flake.lock has no input "nixpkgs-stabel" (did you mean "nixpkgs-stable"?); its inputs are: nixpkgs, nixpkgs-stable`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pin, err := ChoosePin(context.Background(), parse(t, tt.src), lock)
			if pin != tt.want {
				t.Errorf("pin %+v, want %+v", pin, tt.want)
			}
			var got *laingfile.Error
			if errors.As(err, &got); !reflect.DeepEqual(got, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Errorf("error %#v, want %#v", err, tt.wantErr)
			}
		})
	}
}

func TestReadLockFile(t *testing.T) {
	ctx := context.Background()
	ref := newFakeContext(map[string]string{"nix/flake.lock": lockJSON})
	data, err := readLockFile(ctx, ref, "./nix/flake.lock")
	if err != nil || string(data) != lockJSON {
		t.Fatalf("readLockFile = %q, %v; want the lock", data, err)
	}
	// However the file grew since its stat, no more than one byte over the limit is read.
	want := []gwclient.ReadRequest{{Filename: "nix/flake.lock", Range: &gwclient.FileRange{Length: nixsets.MaxFlakeLockSize + 1}}}
	if !reflect.DeepEqual(ref.reads, want) {
		t.Errorf("reads %+v, want %+v", ref.reads, want)
	}
}

func TestHashMismatchError(t *testing.T) {
	const (
		base32Specified = "sha256:0qyp6vq758zfpxm8n4hrhivib8dzanzhnsz070wpcm5417h1n66b"
		sriSpecified    = "sha256-yxgb4AmkVHY5OOBrC79Vv6EVd4QZEotqv+6jcvA212M="
		base32Got       = "sha256:1kj7f9zb0f9slny0bzsqhh2n0yn6c416gjmm6zg3wik2c04y8qp7"
		sriGot          = "sha256-52LkCWBiRj7eN7XKZwJhxnpgBYRY/wW8pTo5sH5yR84="
		revURL          = "https://github.com/NixOS/nixpkgs/archive/" + testRev + ".tar.gz"
		urlPin          = "nixpkgs: {url: https://x.org/n.tar.gz, sha256: " + testHash + "}\n"
	)
	lock := contextFiles(map[string]string{"./flake.lock": lockJSON})
	tests := []struct {
		name        string
		src         string
		pinReplaced bool
		mismatch    nixsets.HashMismatch
		want        string
		wantRanges  []string
	}{
		{"url pin", urlPin + "kind: runtime\n", false,
			nixsets.HashMismatch{URL: "https://x.org/n.tar.gz", Specified: base32Specified, Got: base32Got},
			"nixpkgs sha256 does not match: got " + sriGot + " for https://x.org/n.tar.gz, the Laingfile gives " + sriSpecified + "; if the source is the one you meant, write sha256: " + sriGot,
			[]string{"1:48-1:99 " + testHash, "1:16-1:38 https://x.org/n.tar.gz"}},
		{"rev pin, hashes in SRI form", "nixpkgs:\n  rev: " + testRev + "\n  sha256: " + testHash + "\nkind: runtime\n", false,
			nixsets.HashMismatch{URL: revURL, Specified: sriSpecified, Got: sriGot},
			"nixpkgs sha256 does not match: got " + sriGot + " for " + revURL + ", the Laingfile gives " + sriSpecified + "; if the source is the one you meant, write sha256: " + sriGot,
			[]string{"3:11-3:62 " + testHash, "2:8-2:48 " + testRev}},
		{"flake.lock", "nixpkgs: {flakeLock: ./flake.lock}\nkind: runtime\n", false,
			nixsets.HashMismatch{URL: revURL, Specified: base32Specified, Got: base32Got},
			`nixpkgs: the narHash of flake.lock input "nixpkgs" does not match the source: the lock gives ` + sriSpecified + ", but " + revURL + " has NAR hash " + sriGot +
				"; check the source and refresh the lock (nix flake lock)",
			[]string{"1:22-1:34 ./flake.lock"}},
		{"flake.lock, named input", "nixpkgs:\n  flakeLock: ./flake.lock\n  input: nixpkgs\nkind: runtime\n", false,
			nixsets.HashMismatch{URL: revURL, Specified: base32Specified, Got: base32Got},
			`nixpkgs: the narHash of flake.lock input "nixpkgs" does not match the source: the lock gives ` + sriSpecified + ", but " + revURL + " has NAR hash " + sriGot +
				"; check the source and refresh the lock (nix flake lock)",
			[]string{"2:14-2:26 ./flake.lock", "3:10-3:17 nixpkgs"}},
		// Nothing the user wrote is wrong: no line to point at.
		{"the release's pin", "kind: runtime\n", false,
			nixsets.HashMismatch{URL: nixsets.DefaultPin().TarballURL(), Specified: base32Specified, Got: base32Got},
			"nixpkgs: the release's pin does not match its source: " + nixsets.DefaultPin().TarballURL() + " has NAR hash " + sriGot + ", not " + sriSpecified + "; pin nixpkgs in the Laingfile and report this",
			nil},
		{"a fetch of an overlay and a package file", urlPin + "overlays: [./o.nix]\nkind: runtime\npackages: [hello, ./nix/app.nix]\n", false,
			nixsets.HashMismatch{URL: "https://x.org/other.tar.gz", Specified: base32Specified, Got: "sha256:not-a-hash"},
			"a source fetched while evaluating the overlays or package files does not have the hash it is given: https://x.org/other.tar.gz has NAR hash sha256:not-a-hash, not " + sriSpecified,
			[]string{"2:12-2:19 ./o.nix", "4:19-4:32 ./nix/app.nix"}},
		{"the named context replaced the pin", urlPin + "kind: runtime\npackages: [./nix/app.nix]\n", true,
			nixsets.HashMismatch{URL: "https://x.org/n.tar.gz", Specified: base32Specified, Got: base32Got},
			"a source fetched while evaluating the overlays or package files does not have the hash it is given: https://x.org/n.tar.gz has NAR hash " + sriGot + ", not " + sriSpecified,
			[]string{"3:12-3:25 ./nix/app.nix"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, sm := parseWithSource(t, tt.src)
			pin, err := choosePin(context.Background(), f.Nixpkgs, lock)
			if err != nil {
				t.Fatal(err)
			}
			err = hashMismatchError(&tt.mismatch, pin, tt.pinReplaced, f, f.Targets[0], sm)
			checkLocated(t, err, tt.want, tt.wantRanges)
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
