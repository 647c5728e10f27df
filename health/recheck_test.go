package health

import (
	"testing"
	"time"
)

// TestRunnerRecheck is a router's link coming back: a server its checks
// took out while it was cut off re-enters on the first success of a check
// made at once (nanny's fresh start), a check under way at the Recheck is
// not stepped but repeated, and Settled turns true only when every probe
// has a verdict from after the Recheck.
func TestRunnerRecheck(t *testing.T) {
	r, clk, cs := scriptedRunner(t)
	s1, s2 := spec("web", "web1", rip1), spec("web", "web2", rip2)
	s1.Reentry, s2.Reentry = 30*time.Second, 30*time.Second // three successes to re-enter
	r.Add(s1)
	r.Add(s2)
	if r.Settled(t0) {
		t.Fatal("Settled before any check")
	}
	cs.of(rip1).answer(t, up)
	wantEvent(t, r, "web1", StateUp, "add 1", t0)
	cs.of(rip2).answer(t, up)
	wantEvent(t, r, "web2", StateUp, "add 1", t0)
	if !r.Settled(t0) {
		t.Fatal("not Settled after every probe checked")
	}

	clk.waitTimer(t, t0.Add(10*time.Second))
	clk.Advance(10 * time.Second) // the link is down: web1's check fails
	cs.of(rip1).answer(t, down)
	wantEvent(t, r, "web1", StateDown, "remove", t0.Add(10*time.Second))
	held := cs.of(rip2).take(t) // web2's check hangs across the link's return
	clk.waitTimer(t, t0.Add(20*time.Second))
	clk.Advance(time.Second)

	since := r.Recheck()
	if !since.Equal(t0.Add(11 * time.Second)) {
		t.Errorf("Recheck() = %v, want the clock's now", since.Sub(t0))
	}
	if r.Settled(since) {
		t.Error("Settled right after Recheck")
	}
	cs.of(rip1).answer(t, up) // at once, and enough without three in a row
	wantEvent(t, r, "web1", StateUp, "add 1", since)
	if r.Settled(since) {
		t.Error("Settled while web2's probe has no verdict from after the Recheck")
	}
	held <- down              // began before the Recheck: not stepped...
	cs.of(rip2).answer(t, up) // ...but followed by a check at once
	eventually(t, "Settled after both probes checked since the Recheck", func() bool { return r.Settled(since) })
	noEvent(t, r)
	for _, st := range r.Status() {
		if st.State != StateUp {
			t.Errorf("%s is %v after the Recheck, want up", st.Server, st.State)
		}
	}
}
