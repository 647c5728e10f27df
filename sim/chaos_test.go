package sim

import (
	"context"
	"os"
	"slices"
	"testing"
	"time"
)

// TestChaosPlan: a seed and a duration give one schedule (so --seed
// replays it), other seeds give others, and every schedule keeps its
// faults apart, undone and settled before the run ends, on the site's
// nodes, with every kind drawn over a few seeds.
func TestChaosPlan(t *testing.T) {
	routers, reals := []string{"lvs1", "lvs2"}, []string{"rs1", "rs2", "rs3"}
	const d, settle = 10 * time.Minute, 11 * time.Second
	a, b := chaosPlan(42, d, settle, routers, reals), chaosPlan(42, d, settle, routers, reals)
	if !slices.Equal(a, b) {
		t.Fatalf("seed 42 gave two schedules:\n%v\n%v", a, b)
	}
	if c := chaosPlan(43, d, settle, routers, reals); slices.Equal(a, c) {
		t.Errorf("seeds 42 and 43 gave the same schedule %v", a)
	}
	kinds := map[string]int{}
	for seed := uint64(1); seed <= 20; seed++ {
		plan := chaosPlan(seed, d, settle, routers, reals)
		if len(plan) < 10 {
			t.Errorf("seed %d: %d faults in %v, want at least 10", seed, len(plan), d)
		}
		end := time.Duration(0)
		for i, f := range plan {
			kinds[f.Kind]++
			if f.At < chaosWarmup || f.At < end {
				t.Errorf("seed %d fault %d at %v starts before the previous one settled (%v)", seed, i, f.At, end)
			}
			if f.Hold < chaosMinHold || f.Hold > chaosMaxHold {
				t.Errorf("seed %d fault %d holds %v, outside [%v, %v]", seed, i, f.Hold, chaosMinHold, chaosMaxHold)
			}
			end = f.At + f.Hold + settle
			switch f.Kind {
			case chaosService:
				if !slices.Contains(reals, f.Node) {
					t.Errorf("seed %d fault %d: %s on %q, not a real server", seed, i, f.Kind, f.Node)
				}
			case chaosDeafen:
				if f.Node != "" || !slices.Contains([]string{"eth0", "eth1", ""}, f.Iface) {
					t.Errorf("seed %d fault %d: %v", seed, i, f)
				}
			default:
				if !slices.Contains(routers, f.Node) || f.Kind == chaosLink && f.Iface == "" {
					t.Errorf("seed %d fault %d: %v", seed, i, f)
				}
			}
		}
		if end > d {
			t.Errorf("seed %d: the last fault settles at %v, after the run's %v", seed, end, d)
		}
	}
	for _, k := range chaosKinds {
		if kinds[k] == 0 {
			t.Errorf("20 seeds never drew %s", k)
		}
	}
}

// TestChaosShort plays seed 1's schedule for 100 s on the failover site
// with traffic (make test's short variant of lvssim chaos): one ARP owner
// per VIP whenever no fault is in effect, one active router after every
// fault, no lvsd exiting on its own, no corrupt download. Three runs in a
// row beside a 30-minute soak took 118, 149 and 159 s and passed.
func TestChaosShort(t *testing.T) {
	if testing.Short() {
		t.Skip("a 100 s site run")
	}
	// make test keeps the 2-minute soak (TestSoakShort) and leaves this one
	// to LVSSIM_LONG=1 and `lvssim chaos`: both hold the site lock for
	// minutes, and together they put CI near its time budget.
	if os.Getenv("LVSSIM_LONG") == "" {
		t.Skip("a 100 s chaos run: set LVSSIM_LONG=1, or run `lvssim chaos --seed 1 --duration 100s`")
	}
	s := siteForTest(t, "failover", "lvsd")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	r := s.chaos(ctx, ChaosOptions{Seed: 1, Duration: 100 * time.Second}, testLog{t})
	t.Log(r.summary())
	if len(r.Plan) == 0 || r.Checks == 0 {
		t.Errorf("%d faults played, %d invariant checks: the run checked nothing", len(r.Plan), r.Checks)
	}
	for _, v := range r.Violations {
		t.Errorf("seed 1: %s", v)
	}
}
