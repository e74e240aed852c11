package laingfile2llb

import (
	"fmt"
	"testing"
	"time"

	"github.com/laingville/laingfile/internal/nixstore"
)

// TestPlanLayersHostile: PlanLayers ends on any closure, whatever its sizes.
func TestPlanLayersHostile(t *testing.T) {
	big := func(sizes ...int64) nixstore.Closure {
		var c nixstore.Closure
		for i, s := range sizes {
			c = append(c, storePath(fmt.Sprintf("p%d", i), s))
		}
		return c
	}
	many := make(nixstore.Closure, 50000)
	for i := range many {
		many[i] = storePath(fmt.Sprintf("x%06d", i), 1)
		many[i].Path = fmt.Sprintf("/nix/store/%032d-x", i)
	}
	tests := []struct {
		name    string
		closure nixstore.Closure
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
func checkPlan(t testing.TB, plan LayerPlan, c nixstore.Closure, budget int) {
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
		for _, p := range g.Paths {
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
