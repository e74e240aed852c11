package laingfile2llb

import (
	"testing"
)

// FuzzParseRegistrationPlanLayers: whatever the build step writes as its closure, parsing and
// planning end without a panic, and a plan keeps every path once, within the budget.
func FuzzParseRegistrationPlanLayers(f *testing.F) {
	f.Add([]byte(reg(regA, "704", "", "0")+reg(regB, "744", "/nix/store/ac1cp87pisvrvs8dg3x62mqjmby1vg4c-b.drv", "1", regA)), 1, uint8(1))
	f.Add([]byte(reg(regA, "4611686018427387903", "", "0")+reg(regB, "1", "", "2", regA, regB)), 1, uint8(2))
	f.Add([]byte(reg(regA, "-1", "", "0")), 0, uint8(0))
	f.Add([]byte(reg(regA, "1", "", "99999999")), 3, uint8(1))
	f.Fuzz(func(t *testing.T, data []byte, budget int, nOwners uint8) {
		c, err := ParseRegistration(data)
		if err != nil {
			return
		}
		var total int64
		for _, p := range c {
			if p.NarSize < 0 || p.NarSize >= maxNarSize || !IsStorePath(p.Path) {
				t.Fatalf("parsed %+v", p)
			}
			total += p.NarSize
		}
		if total >= maxNarSize {
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
		if len(c) > 0 && len(plan.Owners) > 0 && len(plan.Owners) != len(plan.Groups) {
			t.Fatalf("%d owners for %d groups", len(plan.Owners), len(plan.Groups))
		}
	})
}
