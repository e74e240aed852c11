package laingfile2llb

import (
	"strings"
	"testing"

	"github.com/laingville/laingfile/internal/nixstore"
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

// FuzzParseRegistrationPlanLayers: whatever the build step writes as its closure, parsing and
// planning end without a panic, and a plan keeps every path once, within the budget.
func FuzzParseRegistrationPlanLayers(f *testing.F) {
	f.Add([]byte(reg(regA, "704", "", "0")+reg(regB, "744", "/nix/store/ac1cp87pisvrvs8dg3x62mqjmby1vg4c-b.drv", "1", regA)), 1, uint8(1))
	f.Add([]byte(reg(regA, "4611686018427387903", "", "0")+reg(regB, "1", "", "2", regA, regB)), 1, uint8(2))
	f.Add([]byte(reg(regA, "-1", "", "0")), 0, uint8(0))
	f.Add([]byte(reg(regA, "1", "", "99999999")), 3, uint8(1))
	f.Fuzz(func(t *testing.T, data []byte, budget int, nOwners uint8) {
		c, err := nixstore.ParseRegistration(data)
		if err != nil {
			return
		}
		var total int64
		for _, p := range c {
			if p.NarSize < 0 || p.NarSize >= nixstore.MaxNarSize || !nixstore.IsStorePath(p.Path) {
				t.Fatalf("parsed %+v", p)
			}
			total += p.NarSize
		}
		if total >= nixstore.MaxNarSize {
			t.Fatalf("NAR sizes add up to %d", total)
		}
		// Owners: each path in turn roots one, up to nOwners.
		var owners []Owner
		for i := 0; i < int(nOwners%8) && i < len(c); i++ {
			owners = append(owners, Owner{Name: c[i].Name(), Roots: []string{c[len(c)-1-i].Path}})
		}
		budget = budget % 64
		plan, err := PlanLayers(c, budget, owners)
		if budget < 1 {
			if err == nil {
				t.Fatalf("budget %d: no error", budget)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		checkPlan(t, plan, c, budget)
	})
}
