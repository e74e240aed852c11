package frontend

import (
	"strconv"
	"strings"
	"testing"

	"github.com/laingville/laingfile"
)

func TestCacheWarnings(t *testing.T) {
	subs := []laingfile.Substituter{
		{URL: "http://127.0.0.1:5001/signed", PublicKeys: []string{"test-1:AAAA"}, Range: laingfile.Range{Start: laingfile.Pos{Line: 2, Column: 5}}},
		{URL: "http://127.0.0.1:5001/private", PublicKeys: []string{"test-1:AAAA"}, Range: laingfile.Range{Start: laingfile.Pos{Line: 4, Column: 5}}},
	}
	tests := []struct {
		name string
		tsv  string
		want []string // "line: message fragment"
		err  string
	}{
		{"all well", "http://127.0.0.1:5001/signed\t12\t0\t\n", nil, ""},
		{"untrusted", "http://127.0.0.1:5001/signed\t0\t7\t\n", []string{"2: substituters[0]: the binary cache http://127.0.0.1:5001/signed offered 7 paths signed by no key in its publicKey (test-1:AAAA)"}, ""},
		{"refused token", "http://127.0.0.1:5001/signed\t3\t0\t\nhttp://127.0.0.1:5001/private\t0\t0\twarning: unable to download 'http://127.0.0.1:5001/private/nix-cache-info': HTTP error 401\n",
			[]string{"4: substituters[1]: the binary cache http://127.0.0.1:5001/private could not be used: unable to download 'http://127.0.0.1:5001/private/nix-cache-info': HTTP error 401"}, ""},
		{"unknown cache", "http://elsewhere/\t0\t3\t\n", nil, ""},
		{"short line", "http://127.0.0.1:5001/signed\t1\n", nil, "2 fields"},
		{"bad count", "http://127.0.0.1:5001/signed\t-1\t0\t\n", nil, "counts"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			reports, err := parseCacheReports([]byte(tc.tsv))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, w := range cacheWarnings(subs, reports) {
				got = append(got, w.Message)
				if len(got) > len(tc.want) {
					t.Fatalf("unexpected warning %q", w.Message)
				}
				want := tc.want[len(got)-1]
				line, msg, _ := strings.Cut(want, ": ")
				if !strings.HasPrefix(w.Message, msg) || strings.TrimSpace(line) != strconv.Itoa(w.Range.Start.Line) {
					t.Errorf("warning at line %d: %q, want line %s: %q…", w.Range.Start.Line, w.Message, line, msg)
				}
			}
			if len(got) != len(tc.want) {
				t.Errorf("warnings %q, want %d", got, len(tc.want))
			}
		})
	}
}
