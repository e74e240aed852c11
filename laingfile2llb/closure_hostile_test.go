package laingfile2llb

import (
	"fmt"
	"strings"
	"testing"
	"time"
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

// TestPlanLayersHostile: PlanLayers ends on any closure, whatever its sizes.
func TestPlanLayersHostile(t *testing.T) {
	big := func(sizes ...int64) Closure {
		var c Closure
		for i, s := range sizes {
			c = append(c, storePath(fmt.Sprintf("p%d", i), s))
		}
		return c
	}
	many := make(Closure, 50000)
	for i := range many {
		many[i] = storePath(fmt.Sprintf("x%06d", i), 1)
		many[i].Path = fmt.Sprintf("/nix/store/%032d-x", i)
	}
	tests := []struct {
		name    string
		closure Closure
		budget  int
	}{
		{"a path of 2^62 bytes", big(1<<62, 1, 1), 1},
		{"a path of MaxInt64 bytes", big(1<<63-1, 1, 1), 1},
		{"sizes that overflow int64", big(1<<62, 1<<62, 1<<62, 1), 2},
		{"negative sizes", big(-1, -1<<62, 1), 1},
		{"every size between", big(1<<61, 1<<62-1, 1<<40, 1<<20, 0), 2},
		{"50000 small paths", many, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			done := make(chan struct{})
			var plan LayerPlan
			var err error
			go func() {
				defer close(done)
				plan, err = PlanLayers(tt.closure, tt.budget, nil)
			}()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("PlanLayers did not return within 10 s")
			}
			if err != nil {
				t.Fatal(err)
			}
			checkPlan(t, plan, tt.closure, tt.budget)
		})
	}
}

// checkPlan: at most budget groups, and every path of the closure in exactly one.
func checkPlan(t testing.TB, plan LayerPlan, c Closure, budget int) {
	t.Helper()
	if len(plan.Groups) > budget {
		t.Fatalf("%d groups for a budget of %d", len(plan.Groups), budget)
	}
	want := map[string]int{}
	for _, p := range c {
		want[p.Path]++
	}
	got := map[string]int{}
	for _, g := range plan.Groups {
		for _, p := range g {
			got[p.Path]++
		}
	}
	for p, n := range want {
		if got[p] != n {
			t.Fatalf("%s is in %d groups, want %d", p, got[p], n)
		}
	}
	if len(got) != len(want) {
		t.Fatalf("the plan has %d paths, the closure %d", len(got), len(want))
	}
}
