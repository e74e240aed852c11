package nar

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"

	"github.com/laingville/laingfile/internal/nar/nartest"
)

// The expected values below were printed by Nix 2.8 for the same inputs
// (`nix-hash --type sha256`, `nix-store --dump | wc -c`, `nix hash to-sri`).

func TestBase32(t *testing.T) {
	empty := sha256.Sum256(nil)
	tests := []struct {
		name string
		in   []byte
		want string
	}{
		{"sha256 of nothing", empty[:], "0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73"},
		{"one byte", []byte{0xff}, "7z"},
		{"twenty zero bytes", make([]byte, 20), "00000000000000000000000000000000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Base32(tt.in); got != tt.want {
				t.Errorf("Base32 = %s, want %s", got, tt.want)
			}
			back, ok := DecodeBase32(tt.want, len(tt.in))
			if !ok || !bytes.Equal(back, tt.in) {
				t.Errorf("DecodeBase32(%s) = %x, %v", tt.want, back, ok)
			}
		})
	}
}

func TestParseSHA256(t *testing.T) {
	// One digest in every spelling Nix prints.
	const hexForm = "cb181be009a454763938e06b0bbf55bfa115778419128b6abfeea372f036d763"
	tests := []struct {
		in string
		ok bool
	}{
		{"sha256-yxgb4AmkVHY5OOBrC79Vv6EVd4QZEotqv+6jcvA212M=", true},
		{"sha256:0qyp6vq758zfpxm8n4hrhivib8dzanzhnsz070wpcm5417h1n66b", true},
		{"0qyp6vq758zfpxm8n4hrhivib8dzanzhnsz070wpcm5417h1n66b", true},
		{hexForm, true},
		{"sha256:" + hexForm, true},
		{"sha256:yxgb4AmkVHY5OOBrC79Vv6EVd4QZEotqv+6jcvA212M=", true},
		{"sha256-yxgb4AmkVHY5OOBrC79Vv6EVd4QZEotqv+6jcvA212M", false},
		{"zqyp6vq758zfpxm8n4hrhivib8dzanzhnsz070wpcm5417h1n66b", false}, // bits beyond 256
		{"sha512-abc", false},
		{"", false},
		{"yxgb4AmkVHY5OOBrC79Vv6EVd4QZEotqv+6jcvA212M=", false}, // bare base64 is ambiguous
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			sum, ok := ParseSHA256(tt.in)
			if ok != tt.ok {
				t.Fatalf("ok = %v, want %v", ok, tt.ok)
			}
			if ok && hex.EncodeToString(sum[:]) != hexForm {
				t.Errorf("digest = %x", sum)
			}
			if ok && SRI(sum) != "sha256-yxgb4AmkVHY5OOBrC79Vv6EVd4QZEotqv+6jcvA212M=" {
				t.Errorf("SRI = %s", SRI(sum))
			}
		})
	}
}

func TestHash(t *testing.T) {
	dir := nartest.SampleTree(t)
	tests := []struct {
		name     string
		path     string
		wantHash string
		wantSize int64
	}{
		{"directory with symlink and executable", dir, "a5547c80c57212f00b1f2a7a313362a4c1f414f95a20fa1e8015217692f5a382", 880},
		{"single file", filepath.Join(dir, "a.txt"), "1c37d01af40be2e80691de3cc3df44377a699afbb17c68f080964b2fd071fc13", 120},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sum, size, err := Hash(tt.path)
			if err != nil {
				t.Fatal(err)
			}
			if got := hex.EncodeToString(sum[:]); got != tt.wantHash {
				t.Errorf("Hash = %s, want %s", got, tt.wantHash)
			}
			if size != tt.wantSize {
				t.Errorf("size = %d, want %d", size, tt.wantSize)
			}
		})
	}
	// Permission bits other than the owner's execute bit, and times, do not count.
	if err := os.Chmod(filepath.Join(dir, "a.txt"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(dir, "sub", "run"), 0o700); err != nil {
		t.Fatal(err)
	}
	sum, _, err := Hash(dir)
	if err != nil {
		t.Fatal(err)
	}
	if hex.EncodeToString(sum[:]) != tests[0].wantHash {
		t.Errorf("permission bits changed the hash")
	}
}

// The expected path was printed by Nix 2.8 for the same tree (`nix-store --add`).
func TestSourceStorePath(t *testing.T) {
	dir := nartest.SampleTree(t)
	sum, _, err := Hash(dir)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		refs []string
		want string
	}{
		{"as nix-store --add names it", nil, "/nix/store/m4qqx20wr2v0rzk6n1yxfz58c2zgqdsg-d"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := SourceStorePath("d", sum, tt.refs); got != tt.want {
				t.Errorf("sourceStorePath = %s, want %s", got, tt.want)
			}
		})
	}
	// References change the path, and their order does not.
	a := SourceStorePath("d", sum, []string{"/nix/store/a", "/nix/store/b"})
	b := SourceStorePath("d", sum, []string{"/nix/store/b", "/nix/store/a"})
	if a != b || a == tests[0].want {
		t.Errorf("paths with references: %s, %s (without: %s)", a, b, tests[0].want)
	}
}
