package nixstore

import (
	"strings"
	"testing"
)

func TestParseRegistration(t *testing.T) {
	tests := []struct {
		name    string
		input   string
		want    Closure
		wantErr string
	}{
		{
			name: "nix 2.8 dump-db: bare base16 hashes",
			input: `/nix/store/dkcabqvy8v6c97l9x5y7zls9v6grjd5s-b
58b3dd361625fc81e9469c68c554bdb7109387f574b347f3b8df40a6913b8a18
744
/nix/store/ac1cp87pisvrvs8dg3x62mqjmby1vg4c-b.drv
1
/nix/store/4lw9mib1ai07xv4grw59cyg2g5sxp574-a
/nix/store/4lw9mib1ai07xv4grw59cyg2g5sxp574-a
780c57dd8be5ea30015cd7c483f71cfedb4236a779956dc4fae412083a0f0628
704

0
`,
			want: Closure{
				{Path: "/nix/store/4lw9mib1ai07xv4grw59cyg2g5sxp574-a", NarHash: "sha256-eAxX3Yvl6jABXNfEg/cc/ttCNqd5lW3E+uQSCDoPBig=", NarSize: 704},
				{Path: "/nix/store/dkcabqvy8v6c97l9x5y7zls9v6grjd5s-b", NarHash: "sha256-WLPdNhYl/IHpRpxoxVS9txCTh/V0s0fzuN9AppE7ihg=", NarSize: 744,
					Deriver: "/nix/store/ac1cp87pisvrvs8dg3x62mqjmby1vg4c-b.drv", References: []string{"/nix/store/4lw9mib1ai07xv4grw59cyg2g5sxp574-a"}},
			},
		},
		{
			name: "newer Nix: sha256: prefix with Nix base32",
			input: `/nix/store/4lw9mib1ai07xv4grw59cyg2g5sxp574-a
sha256:0a061wx0h4p4zb26v5brlwv45nzy3kvq7i6pbh0k1sp5igfmf33q
704

0
`,
			want: Closure{{Path: "/nix/store/4lw9mib1ai07xv4grw59cyg2g5sxp574-a", NarHash: "sha256-eAxX3Yvl6jABXNfEg/cc/ttCNqd5lW3E+uQSCDoPBig=", NarSize: 704}},
		},
		{name: "truncated entry", input: "/nix/store/4lw9mib1ai07xv4grw59cyg2g5sxp574-a\nabc\n", wantErr: "truncated"},
		{name: "bad size", input: "/nix/store/4lw9mib1ai07xv4grw59cyg2g5sxp574-x\n" + strings.Repeat("a", 64) + "\nbig\n\n0\n", wantErr: "bad NAR size"},
		{name: "bad hash", input: "/nix/store/4lw9mib1ai07xv4grw59cyg2g5sxp574-x\nxyz\n1\n\n0\n", wantErr: "bad NAR hash"},
		{name: "missing references", input: "/nix/store/4lw9mib1ai07xv4grw59cyg2g5sxp574-x\n" + strings.Repeat("a", 64) + "\n1\n\n2\n/nix/store/dkcabqvy8v6c97l9x5y7zls9v6grjd5s-y\n", wantErr: "expected 2 references"},
		{name: "not a path", input: "hello\n", wantErr: "expected a store path"},
		{name: "empty", input: "", want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseRegistration([]byte(tt.input))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d paths, want %d: %+v", len(got), len(tt.want), got)
			}
			for i := range got {
				g, w := got[i], tt.want[i]
				if g.Path != w.Path || g.NarHash != w.NarHash || g.NarSize != w.NarSize || g.Deriver != w.Deriver || strings.Join(g.References, ",") != strings.Join(w.References, ",") {
					t.Errorf("path %d = %+v, want %+v", i, g, w)
				}
			}
		})
	}
}

func TestSRIHashForms(t *testing.T) {
	// One digest as Nix prints it in each form (nix hash to-base16 / to-base32 / to-sri).
	const want = "sha256-WLPdNhYl/IHpRpxoxVS9txCTh/V0s0fzuN9AppE7ihg="
	for _, in := range []string{
		"58b3dd361625fc81e9469c68c554bdb7109387f574b347f3b8df40a6913b8a18",
		"sha256:58b3dd361625fc81e9469c68c554bdb7109387f574b347f3b8df40a6913b8a18",
		"sha256:064a7f8sch6zp3rlgcvlyn3r645ppmacas4w8vlq3z152qvdvcsq",
		want,
	} {
		got, err := sriHash(in)
		if err != nil || got != want {
			t.Errorf("sriHash(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := sriHash("sha256:e64a7f8sch6zp3rlgcvlyn3r645ppmacas4w8vlq3z152qvdvcsq"); err == nil {
		t.Error("base32 with a character outside Nix's alphabet was accepted")
	}
}

func TestStorePathNames(t *testing.T) {
	p := StorePath{Path: "/nix/store/4lw9mib1ai07xv4grw59cyg2g5sxp574-openssl-3.0.13"}
	if p.Name() != "openssl-3.0.13" {
		t.Errorf("Name() = %q", p.Name())
	}
}
