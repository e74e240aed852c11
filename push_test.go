package laingfile

import (
	"reflect"
	"testing"
)

func TestPush(t *testing.T) {
	src := "substituters:\n  - url: http://cache.example.com\n    publicKey: " + cacheKey + "\n    secret: token\n    push: {signingKey: cache-key, bestEffort: true}\nkind: runtime\n"
	f, err := Parse("Laingfile", []byte(src), testOptions())
	if err != nil {
		t.Fatal(err)
	}
	got := f.Substituters[0].Push
	want := &Push{SigningKey: "cache-key", BestEffort: true, Range: got.Range}
	if !reflect.DeepEqual(got, want) || got.Range.Start.Line != 5 {
		t.Errorf("push = %+v, want %+v at line 5", got, want)
	}
}

func TestPushErrors(t *testing.T) {
	sub := "substituters:\n  - url: http://cache.example.com\n    publicKey: " + cacheKey + "\n    push: "
	runParseErrorCases(t, []parseErrorCase{
		{"no signing key", sub + "{bestEffort: true}\nkind: runtime\n", nil, []string{
			`4:11: substituters[0].push: missing "signingKey" (the id of a build secret holding the key paths are signed with, as nix-store --generate-binary-cache-key writes it)`,
		}},
		{"not a mapping", sub + "yes\nkind: runtime\n", nil, []string{
			`4:11: substituters[0].push: expected a mapping {signingKey, bestEffort}, got a string`,
		}},
		{"bad secret id", sub + "{signingKey: \"a b\"}\nkind: runtime\n", nil, []string{
			`4:24: substituters[0].push.signingKey: invalid secret id "a b": expected letters, digits, ".", "_" and "-", as in --secret id=cachetoken`,
		}},
		{"bestEffort not a bool", sub + "{signingKey: k, bestEffort: maybe}\nkind: runtime\n", nil, []string{
			`4:39: substituters[0].push.bestEffort: expected true or false, got a string`,
		}},
		{"unknown key", sub + "{signingKey: k, signingkey: k}\nkind: runtime\n", nil, []string{
			`4:27: unknown key "signingkey" in substituters[0].push (did you mean "signingKey"?)`,
		}},
	})
}
