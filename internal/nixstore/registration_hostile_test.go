package nixstore

import (
	"fmt"
	"strings"
	"testing"
)

const (
	regA    = "/nix/store/4lw9mib1ai07xv4grw59cyg2g5sxp574-a"
	regB    = "/nix/store/dkcabqvy8v6c97l9x5y7zls9v6grjd5s-b"
	regHash = "58b3dd361625fc81e9469c68c554bdb7109387f574b347f3b8df40a6913b8a18"
)

// reg is one registration entry: path, NAR hash, size, deriver, count, references.
func reg(path, size, deriver, count string, refs ...string) string {
	return strings.Join(append([]string{path, regHash, size, deriver, count}, refs...), "\n") + "\n"
}

// TestParseRegistrationHostile: a malformed or hostile closure from the build step is an error
// that says what was expected, never a panic, a hang or an unbounded allocation.
func TestParseRegistrationHostile(t *testing.T) {
	tests := []struct {
		name  string
		input string
		want  string
	}{
		{"negative NAR size", reg(regA, "-5", "", "0"), `closure line 3: /nix/store/4lw9mib1ai07xv4grw59cyg2g5sxp574-a: bad NAR size "-5": expected a number of bytes from 0 to 2^62`},
		{"NAR size 2^62", reg(regA, fmt.Sprint(int64(1)<<62), "", "0"), `bad NAR size "4611686018427387904": expected a number of bytes from 0 to 2^62`},
		{"NAR size past int64", reg(regA, "9223372036854775808", "", "0"), `bad NAR size "9223372036854775808"`},
		{"NAR sizes that add up past 2^62", reg(regA, fmt.Sprint(int64(1)<<61), "", "0") + reg(regB, fmt.Sprint(int64(1)<<61), "", "0"),
			"the NAR sizes of the closure add up to more than 2^62 bytes"},
		{"a path not in /nix/store", reg("/etc/passwd", "1", "", "0"), `closure line 1: expected a store path (/nix/store/<hash>-<name>), got "/etc/passwd"`},
		{"a path up out of /nix/store", reg("/nix/store/4lw9mib1ai07xv4grw59cyg2g5sxp574-a/../../../etc", "1", "", "0"), `expected a store path (/nix/store/<hash>-<name>)`},
		{"a store path without a hash", reg("/nix/store/x", "1", "", "0"), `expected a store path (/nix/store/<hash>-<name>), got "/nix/store/x"`},
		{"a path twice", reg(regA, "1", "", "0") + reg(regA, "1", "", "0"), `closure line 6: /nix/store/4lw9mib1ai07xv4grw59cyg2g5sxp574-a is in the closure twice`},
		{"a reference to an unknown path", reg(regA, "1", "", "1", regB), `closure: /nix/store/4lw9mib1ai07xv4grw59cyg2g5sxp574-a refers to /nix/store/dkcabqvy8v6c97l9x5y7zls9v6grjd5s-b, which is not in the closure`},
		{"a reference that is no store path", reg(regA, "1", "", "1", "../../etc"), `closure line 6: /nix/store/4lw9mib1ai07xv4grw59cyg2g5sxp574-a: expected a reference (a store path), got "../../etc"`},
		{"a deriver that is no store path", reg(regA, "1", "/etc/x.drv", "0"), `closure line 4: /nix/store/4lw9mib1ai07xv4grw59cyg2g5sxp574-a: expected a deriver (a store path or nothing), got "/etc/x.drv"`},
		{"a huge reference count", reg(regA, "1", "", "4000000000"), `bad reference count "4000000000": expected 0 to 1000000`},
		{"a reference count past int", reg(regA, "1", "", "99999999999999999999"), `bad reference count "99999999999999999999"`},
		{"a line over 1 MiB", strings.Repeat("/", 2<<20), "closure line 1: a line is longer than 1 MiB; expected store paths, hashes and numbers"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseRegistration([]byte(tt.input))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error:\n %v\nwant one containing:\n %s", err, tt.want)
			}
		})
	}
}
