package laingfile

import (
	"reflect"
	"testing"
)

func TestParseSubstituters(t *testing.T) {
	const otherKey = "cache.example.com-1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
	tests := []struct {
		name string
		src  string
		want []Substituter
	}{
		{"absent", "", nil},
		{"empty", "substituters: []\n", []Substituter{}},
		{"public cache", "substituters:\n  - url: https://nix-community.cachix.org\n    publicKey: " + cacheKey + "\n",
			[]Substituter{{URL: "https://nix-community.cachix.org", PublicKeys: []string{cacheKey}}}},
		{"private cache with two keys, a login and a secret from a build arg",
			"substituters:\n  - {url: \"https://cache.example.com/${VERSION}\", publicKey: [\"" + cacheKey + "\", \"" + otherKey + "\"], secret: cachetoken, login: ci}\n",
			[]Substituter{{URL: "https://cache.example.com/1.2.3", PublicKeys: []string{cacheKey, otherKey}, Secret: "cachetoken", Login: "ci"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse("Laingfile", []byte(tt.src+"kind: runtime\n"), testOptions())
			if err != nil {
				t.Fatal(err)
			}
			for i := range f.Substituters {
				if f.Substituters[i].Range.Start.Line == 0 {
					t.Errorf("substituter %d has no range", i)
				}
				f.Substituters[i].Range = Range{}
			}
			if !reflect.DeepEqual(f.Substituters, tt.want) {
				t.Errorf("substituters = %#v, want %#v", f.Substituters, tt.want)
			}
		})
	}
}

func TestSubstituterKeyInAFlowList(t *testing.T) {
	_, err := Parse("Laingfile", []byte("substituters: [{url: https://c.example.com, publicKey: ["+cacheKey+"]}]\nkind: runtime\n"), testOptions())
	got := errorLines(t, err)
	want := []string{`1:57: substituters[0].publicKey[0]: expected a string, got a mapping (quote the key: "name:base64")`}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("errors = %q", got)
	}
}
