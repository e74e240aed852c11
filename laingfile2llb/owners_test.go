package laingfile2llb

import (
	"fmt"
	"testing"

	"github.com/laingville/laingfile"
)

func TestOwners(t *testing.T) {
	paths := map[string][]string{
		"bashInteractive": {"/nix/store/a-bash"}, "coreutils": {"/nix/store/b-coreutils"}, "cacert": {"/nix/store/c-cacert"},
		"python312": {"/nix/store/d-python3"}, "jq": {"/nix/store/e-jq"}, "postgresql_16": {"/nix/store/f-postgresql"},
		"glibc": {"/nix/store/g-glibc"}, "stdenv.cc.cc.lib": {"/nix/store/h-gcc-lib"},
	}
	tests := []struct {
		name   string
		target laingfile.Target
		want   string
	}{
		{
			name:   "sets in the release's order whatever the Laingfile's, then own packages by name, then implied ones",
			target: laingfile.Target{Sets: []laingfile.SetRef{{Name: "python"}, {Name: "vscodeCompat"}}, Packages: []laingfile.Package{{Attr: "postgresql_16"}, {Attr: "jq"}}},
			want:   "[{set vscodeCompat [/nix/store/g-glibc /nix/store/h-gcc-lib]} {set python [/nix/store/d-python3]} {package jq [/nix/store/e-jq]} {package postgresql_16 [/nix/store/f-postgresql]} {package bashInteractive [/nix/store/a-bash]} {package coreutils [/nix/store/b-coreutils]} {package cacert [/nix/store/c-cacert]}]",
		},
		{
			name:   "a set claims its packages, also when listed again",
			target: laingfile.Target{Sets: []laingfile.SetRef{{Name: "base"}}, Packages: []laingfile.Package{{Attr: "coreutils"}}},
			want:   "[{set base [/nix/store/a-bash /nix/store/b-coreutils /nix/store/c-cacert]}]",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := fmt.Sprint(Owners(&tt.target, paths)); got != tt.want {
				t.Errorf("Owners = %s\nwant     %s", got, tt.want)
			}
		})
	}
}
