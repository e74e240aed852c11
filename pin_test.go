package laingfile

import (
	"strings"
	"testing"
)

func TestSetPin(t *testing.T) {
	const newRev = "0123456789abcdef0123456789abcdef01234567"
	const newHash = "sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
	tests := []struct {
		name    string
		src     string
		want    string
		wantErr string
	}{
		{
			name: "block mapping, comments kept",
			src:  "# syntax=x\nnixpkgs:\n  # the pin\n  rev: " + rev + " # nixos-unstable\n  sha256: " + hash + "\n  config: {allowUnfree: true}\nkind: runtime\n",
			want: "# syntax=x\nnixpkgs:\n  # the pin\n  rev: " + newRev + " # nixos-unstable\n  sha256: " + newHash + "\n  config: {allowUnfree: true}\nkind: runtime\n",
		},
		{
			name: "flow mapping, quoted values, base-32 hash",
			src:  "nixpkgs: {sha256: '0qyp6vq758zfpxm8n4hrhivib8dzanzhnsz070wpcm5417h1n66b', rev: \"" + rev + "\"}\nkind: runtime\n",
			want: "nixpkgs: {sha256: '" + newHash + "', rev: \"" + newRev + "\"}\nkind: runtime\n",
		},
		{
			name: "no nixpkgs: added after the leading comments",
			src:  "# syntax=x\n# An app.\n\nkind: runtime\n",
			want: "# syntax=x\n# An app.\n\nnixpkgs:\n  rev: " + newRev + "\n  sha256: " + newHash + "\nkind: runtime\n",
		},
		{
			name: "config only: keys added at its indentation",
			src:  "nixpkgs:\n    config:\n      allowUnfree: true\nkind: runtime\n",
			want: "nixpkgs:\n    rev: " + newRev + "\n    sha256: " + newHash + "\n    config:\n      allowUnfree: true\nkind: runtime\n",
		},
		{
			name: "config only, flow",
			src:  "nixpkgs: {config: {allowUnfree: true}}\nkind: runtime\n",
			want: "nixpkgs: {rev: " + newRev + ", sha256: " + newHash + ", config: {allowUnfree: true}}\nkind: runtime\n",
		},
		{
			name: "empty nixpkgs",
			src:  "nixpkgs:\nkind: runtime\n",
			want: "nixpkgs: {rev: " + newRev + ", sha256: " + newHash + "}\nkind: runtime\n",
		},
		{
			name: "rev without sha256",
			src:  "nixpkgs:\n  rev: " + rev + "\nkind: runtime\n",
			want: "nixpkgs:\n  sha256: " + newHash + "\n  rev: " + newRev + "\nkind: runtime\n",
		},
		{
			name: "non-ASCII before the values, CRLF lines",
			src:  "# café ☕\r\nnixpkgs: {rev: " + rev + ", sha256: " + hash + "} # é\r\nlabels: {a: ü}\r\nkind: runtime\r\n",
			want: "# café ☕\r\nnixpkgs: {rev: " + newRev + ", sha256: " + newHash + "} # é\r\nlabels: {a: ü}\r\nkind: runtime\r\n",
		},
		{
			name: "other build args do not matter",
			src:  "nixpkgs: {rev: " + rev + ", sha256: " + hash + "}\nlabels: {v: \"${VERSION}\"}\nkind: runtime\n",
			want: "nixpkgs: {rev: " + newRev + ", sha256: " + newHash + "}\nlabels: {v: \"${VERSION}\"}\nkind: runtime\n",
		},
		{name: "url pin", src: "nixpkgs: {url: https://x.org/n.tar.gz, sha256: " + hash + "}\nkind: runtime\n", wantErr: "Laingfile:1:11: nixpkgs is pinned by url"},
		{name: "flake.lock", src: "nixpkgs:\n  flakeLock: ./flake.lock\nkind: runtime\n", wantErr: "Laingfile:2:3: nixpkgs follows ./flake.lock: update the flake's lock instead (nix flake update)"},
		{name: "rev from a build arg", src: "nixpkgs: {rev: \"${REV}\", sha256: " + hash + "}\nkind: runtime\n", wantErr: "Laingfile:1:16: nixpkgs.rev is set by a build arg; edit it by hand"},
		{name: "invalid YAML", src: "nixpkgs: {rev: \nkind: runtime\n", wantErr: "invalid YAML"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := SetPin("Laingfile", []byte(tt.src), newRev, newHash)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Fatalf("got:\n%s\nwant:\n%s", got, tt.want)
			}
			// The result is a valid Laingfile with the new pin.
			f, err := Parse("Laingfile", got, testOptions())
			if err != nil {
				t.Fatalf("the result does not parse: %v", err)
			}
			if f.Nixpkgs == nil || f.Nixpkgs.Rev != newRev || f.Nixpkgs.SHA256 != newHash {
				t.Errorf("parsed pin = %+v", f.Nixpkgs)
			}
		})
	}
}

func TestReadPin(t *testing.T) {
	tests := []struct {
		src  string
		want WrittenPin
	}{
		{"kind: runtime\n", WrittenPin{}},
		{"nixpkgs: {rev: " + rev + ", sha256: " + hash + "}\nkind: runtime\n", WrittenPin{Present: true, Rev: rev, SHA256: hash}},
		{"nixpkgs: {config: {}}\nkind: runtime\n", WrittenPin{Present: true}},
		{"nixpkgs: {flakeLock: ./flake.lock}\n", WrittenPin{Present: true, FlakeLock: "./flake.lock"}},
		{"nixpkgs: {url: https://x.org/n.tar.gz}\n", WrittenPin{Present: true, URL: "https://x.org/n.tar.gz"}},
	}
	for _, tt := range tests {
		got, err := ReadPin("Laingfile", []byte(tt.src))
		if err != nil {
			t.Fatalf("%q: %v", tt.src, err)
		}
		if got != tt.want {
			t.Errorf("%q: got %+v, want %+v", tt.src, got, tt.want)
		}
	}
}

// FuzzSetPin checks that no input makes the pin rewrite panic, and that a rewrite it accepts
// reads back as the pin it was given.
func FuzzSetPin(f *testing.F) {
	for _, s := range append(fuzzSeeds,
		"nixpkgs:\n  rev: "+rev+"\n  sha256: "+hash+"\nkind: runtime\n",
		"nixpkgs: {config: {}}\n",
		"nixpkgs:\n",
		"# c\r\nnixpkgs: {rev: \""+rev+"\"}\r\n",
		"nixpkgs: {<<: {rev: x}, sha256: y}\n",
	) {
		f.Add([]byte(s))
	}
	const newRev = "0123456789abcdef0123456789abcdef01234567"
	const newHash = "sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
	f.Fuzz(func(t *testing.T, data []byte) {
		out, err := SetPin("Laingfile", data, newRev, newHash)
		if err != nil {
			return
		}
		got, err := ReadPin("Laingfile", out)
		if err != nil || got.Rev != newRev || got.SHA256 != newHash {
			t.Fatalf("SetPin gave %q, which reads back as %+v, %v", out, got, err)
		}
	})
}
