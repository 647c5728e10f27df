package health

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// scripted is a Checker at the probe seam whose checks the test answers one
// by one, so a test knows exactly when each check runs.
type scripted struct {
	calls    chan chan Result
	total    atomic.Int32
	inFlight atomic.Int32
	maxIn    atomic.Int32
}

func newScripted() *scripted { return &scripted{calls: make(chan chan Result)} }

func (s *scripted) Check(ctx context.Context) Result {
	s.total.Add(1)
	n := s.inFlight.Add(1)
	defer s.inFlight.Add(-1)
	for m := s.maxIn.Load(); n > m && !s.maxIn.CompareAndSwap(m, n); m = s.maxIn.Load() {
	}
	reply := make(chan Result, 1)
	select {
	case s.calls <- reply:
	case <-ctx.Done():
		return Result{Reason: "cancelled before the test answered"}
	}
	select {
	case r := <-reply:
		return r
	case <-ctx.Done():
		return Result{Reason: "cancelled before the test answered"}
	}
}

// take waits for the next check to start and returns its reply channel.
func (s *scripted) take(t *testing.T) chan Result {
	t.Helper()
	select {
	case reply := <-s.calls:
		return reply
	case <-time.After(5 * time.Second):
		t.Fatal("timed out waiting for a check to start")
		return nil
	}
}

// answer waits for the next check and gives it r.
func (s *scripted) answer(t *testing.T, r Result) {
	t.Helper()
	s.take(t) <- r
}

// checkers hands out one scripted checker per server address and counts
// how many probes were built.
type checkers struct {
	mu    sync.Mutex
	by    map[netip.AddrPort]*scripted
	built int
}

func (c *checkers) new(s Spec) (Checker, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.built++
	if c.by == nil {
		c.by = map[netip.AddrPort]*scripted{}
	}
	if c.by[s.Addr] == nil {
		c.by[s.Addr] = newScripted()
	}
	return c.by[s.Addr], nil
}

func (c *checkers) of(a netip.AddrPort) *scripted {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.by[a]
}

// scriptedRunner runs a Runner on a fake clock at t0, without jitter,
// whose probes are scripted checkers the test answers (cs.of(addr)).
func scriptedRunner(t *testing.T) (*Runner, *fakeClock, *checkers) {
	t.Helper()
	clk := newFakeClock(t0)
	cs := &checkers{}
	r, _ := startRunner(t, Options{Clock: clk, Jitter: -1, NewChecker: cs.new})
	return r, clk, cs
}

// startRunner runs a new Runner until the test ends and checks that Run returns.
func startRunner(t *testing.T, o Options) (*Runner, context.CancelFunc) {
	t.Helper()
	r := NewRunner(o)
	return r, run(t, r)
}

// run runs r until the test ends and checks that Run returns.
func run(t *testing.T, r *Runner) context.CancelFunc {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run() = %v, want nil after cancel", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Run did not return after cancel")
		}
	})
	return cancel
}

func nextEvent(t *testing.T, r *Runner) Event {
	t.Helper()
	select {
	case ev, ok := <-r.Events():
		if !ok {
			t.Fatal("Events closed")
		}
		return ev
	case <-time.After(5 * time.Second):
		t.Fatal("timed out waiting for an event")
		return Event{}
	}
}

// wantEvent takes the next event and checks who it is about and its action.
func wantEvent(t *testing.T, r *Runner, server string, state State, action string, at time.Time) Event {
	t.Helper()
	ev := nextEvent(t, r)
	if ev.Server != server || ev.State != state || acts([]Action{ev.Action}) != action || !ev.Time.Equal(at) {
		t.Fatalf("event = {%s/%s %v [%s] weight %d at %v}, want {%s %v [%s] at %v}",
			ev.Virtual, ev.Server, ev.State, acts([]Action{ev.Action}), ev.Weight, ev.Time.Sub(t0),
			server, state, action, at.Sub(t0))
	}
	return ev
}

// noEvent checks that no event is waiting. Only meaningful where nothing
// can be under way (no check running, no timer fired).
func noEvent(t *testing.T, r *Runner) {
	t.Helper()
	select {
	case ev := <-r.Events():
		t.Fatalf("unexpected event %+v", ev)
	default:
	}
}

func spec(virtual, server string, addr netip.AddrPort) Spec {
	return Spec{Virtual: virtual, Server: server, Addr: addr, VPort: 8080, Weight: 1, Timeout: 10 * time.Second}
}

func TestRunnerSchedule(t *testing.T) {
	leakcheck(t)
	r, clk, cs := scriptedRunner(t)
	if err := r.Add(spec("web", "web1", rip1)); err != nil {
		t.Fatal(err)
	}
	chk := cs.of(rip1)
	chk.answer(t, up) // the first check runs at once
	ev := wantEvent(t, r, "web1", StateUp, "add 1", t0)
	if ev.Virtual != "web" || ev.Addr != rip1 || ev.Weight != 1 || ev.Sorry ||
		ev.Action.Msg != "[ active ] making 10.11.12.1:80 available" {
		t.Errorf("event = %+v", ev)
	}
	clk.waitTimer(t, t0.Add(10*time.Second)) // the next, one timeout after the first started
	clk.Advance(9 * time.Second)
	if n := chk.total.Load(); n != 1 {
		t.Fatalf("%d checks before the interval passed, want 1", n)
	}
	clk.Advance(time.Second)
	chk.answer(t, down)
	ev = wantEvent(t, r, "web1", StateDown, "remove", t0.Add(10*time.Second))
	if ev.Weight != 0 || ev.Reason != down.Reason {
		t.Errorf("event = %+v, want weight 0 and the check's reason", ev)
	}
	clk.waitTimer(t, t0.Add(20*time.Second))
	noEvent(t, r)
}

func TestRunnerOneCheckAtATime(t *testing.T) {
	r, clk, cs := scriptedRunner(t)
	r.Add(spec("web", "web1", rip1))
	chk := cs.of(rip1)
	first := chk.take(t)
	// Three intervals pass while the first check hangs: nothing else starts,
	// and no timer is set for a busy probe.
	clk.Advance(35 * time.Second)
	if p := clk.pending(); len(p) != 0 {
		t.Errorf("timers pending while the only probe is busy: %v", p)
	}
	first <- up
	wantEvent(t, r, "web1", StateUp, "add 1", t0.Add(35*time.Second))
	// Its slot (t0+10s) is past: the next check follows at once.
	chk.answer(t, up)
	clk.waitTimer(t, t0.Add(45*time.Second))
	if n, m := chk.total.Load(), chk.maxIn.Load(); n != 2 || m != 1 {
		t.Errorf("checks = %d, most at once = %d; want 2 and 1", n, m)
	}
}

func TestRunnerJitter(t *testing.T) {
	clk := newFakeClock(t0)
	var cs checkers
	r, _ := startRunner(t, Options{Clock: clk, Jitter: 0.1, Rand: func() float64 { return 0.5 }, NewChecker: cs.new})
	r.Add(spec("web", "web1", rip1))
	clk.waitTimer(t, t0.Add(500*time.Millisecond)) // first check 0.5·10%·10s late
	clk.Advance(500 * time.Millisecond)
	cs.of(rip1).answer(t, up)
	wantEvent(t, r, "web1", StateUp, "add 1", t0.Add(500*time.Millisecond))
	clk.waitTimer(t, t0.Add(10*time.Second)) // then 0.5 s early: 0.5 + 10 − 0.5
}

func TestRunnerSharesProbe(t *testing.T) {
	r, _, cs := scriptedRunner(t)
	x := netip.MustParseAddrPort("10.11.12.5:8080")
	a, b, c, d := spec("web", "a", x), spec("mail", "b", x), spec("ftp", "c", x), spec("dns", "d", x)
	c.Send = "PING"                          // another probe
	d.VPort, d.Timeout = 8080, 6*time.Second // another interval
	for _, s := range []Spec{a, b, c, d} {
		if err := r.Add(s); err != nil {
			t.Fatal(err)
		}
	}
	chk := cs.of(x)
	for range 3 {
		chk.answer(t, up)
	}
	got := map[string]int{}
	for range 4 {
		got[nextEvent(t, r).Server]++
	}
	if len(got) != 4 {
		t.Errorf("events for %v, want one Add each for a, b, c, d", got)
	}
	cs.mu.Lock()
	built := cs.built
	cs.mu.Unlock()
	if n := chk.total.Load(); n != 3 || built != 3 {
		t.Errorf("checks %d, probes built %d; want 3 and 3 (a and b share one)", n, built)
	}
	if a, b := resolve(&a), resolve(&b); a != b {
		t.Errorf("resolve differs for the same server checked the same way: %+v, %+v", a, b)
	}
	e := a
	e.VPort = 80 // the default HTTP probe: not the same way
	if resolve(&a) == resolve(&e) {
		t.Error("a plain connect and the default HTTP probe resolve the same")
	}
}

// TestRunnerSharedProbeConnects checks sharing end to end: two services
// checking one real server the same way open one connection per interval.
// The monitors are added before Run, so the first check finds them all: a
// real connect ends on its own, and one added after it would have a check
// of its own (TestRunnerJoinsCheckedProbe).
func TestRunnerSharedProbeConnects(t *testing.T) {
	leakcheck(t)
	srv := listenTCP(t, nil)
	clk := newFakeClock(t0)
	r := NewRunner(Options{Clock: clk, Jitter: -1})
	r.Add(spec("web", "a", srv.addr))
	r.Add(spec("mail", "b", srv.addr))
	other := spec("smtp", "c", srv.addr)
	other.Send = `QUIT\r\n`
	r.Add(other)
	run(t, r)
	for range 3 {
		if ev := nextEvent(t, r); ev.State != StateUp {
			t.Fatalf("event %+v, want up", ev)
		}
	}
	eventually(t, "two connections", func() bool { return srv.accepts.Load() >= 2 })
	if n := srv.accepts.Load(); n != 2 {
		t.Errorf("server accepted %d connections, want 2 (one per probe)", n)
	}
}

// TestRunnerJoinsCheckedProbe: a monitor that joins a shared probe between
// two of its checks (a reload adding a virtual service that checks a real
// server as another does) is checked at once, as nanny checked a new
// server, not an interval later with the probe's next check.
func TestRunnerJoinsCheckedProbe(t *testing.T) {
	r, clk, cs := scriptedRunner(t)
	r.Add(spec("web", "a", rip1))
	chk := cs.of(rip1)
	chk.answer(t, up)
	wantEvent(t, r, "a", StateUp, "add 1", t0)
	clk.waitTimer(t, t0.Add(10*time.Second)) // the check has been stepped
	clk.Advance(3 * time.Second)
	r.Add(spec("mail", "b", rip1))
	chk.answer(t, up) // without the clock moving on
	wantEvent(t, r, "b", StateUp, "add 1", t0.Add(3*time.Second))
	clk.waitTimer(t, t0.Add(13*time.Second)) // the probe's schedule follows the new check
	cs.mu.Lock()
	built := cs.built
	cs.mu.Unlock()
	if n := chk.total.Load(); n != 2 || built != 1 {
		t.Errorf("checks %d, probes built %d; want 2 and 1", n, built)
	}
	noEvent(t, r) // a's second success changes nothing
}

func TestRunnerSorry(t *testing.T) {
	r, clk, cs := scriptedRunner(t)
	sorry := netip.MustParseAddrPort("10.11.12.99:80")
	s1, s2 := spec("web", "web1", rip1), spec("web", "web2", rip2)
	s1.Sorry, s2.Sorry = sorry, sorry
	s1.Reentry, s2.Reentry = 10*time.Second, 10*time.Second // one success to re-enter
	r.Add(s1)
	r.Add(s2)
	cs.of(rip1).answer(t, down)
	wantEvent(t, r, "web1", StateDown, "notice", t0)
	cs.of(rip2).answer(t, down)
	wantEvent(t, r, "web2", StateDown, "notice", t0)
	ev := wantEvent(t, r, "", StateUp, "add 1", t0)
	if !ev.Sorry || ev.Addr != sorry || ev.Weight != 1 ||
		ev.Action.Msg != "Virtual Server web: No real servers; activate sorry_server 10.11.12.99" {
		t.Errorf("sorry event = %+v", ev)
	}
	clk.waitTimer(t, t0.Add(10*time.Second))
	clk.Advance(10 * time.Second)
	cs.of(rip1).answer(t, up)
	wantEvent(t, r, "web1", StateUp, "add 1", t0.Add(10*time.Second))
	ev = wantEvent(t, r, "", StateDown, "remove", t0.Add(10*time.Second))
	if !ev.Sorry || ev.Weight != 0 {
		t.Errorf("sorry event = %+v", ev)
	}
	cs.of(rip2).answer(t, down)

	want := []struct {
		server string
		sorry  bool
		state  State
		weight int
	}{{"", true, StateDown, 0}, {"web1", false, StateUp, 1}, {"web2", false, StateDown, 0}}
	clk.waitTimer(t, t0.Add(20*time.Second)) // web2 stays down whether or not its answer is applied yet
	st := r.Status()
	for i, w := range want {
		if i >= len(st) || st[i].Server != w.server || st[i].Sorry != w.sorry || st[i].State != w.state || st[i].Weight != w.weight {
			t.Fatalf("Status() = %+v, want %+v", st, want)
		}
	}
	// Removing the only server up brings the sorry server back.
	if err := r.Remove(s1.Key()); err != nil {
		t.Fatal(err)
	}
	wantEvent(t, r, "", StateUp, "add 1", t0.Add(10*time.Second))
	if err := r.Remove(s1.Key()); !errors.Is(err, ErrUnknown) {
		t.Errorf("Remove(removed) = %v, want ErrUnknown", err)
	}
}

func TestRunnerForce(t *testing.T) {
	r, clk, cs := scriptedRunner(t)
	s := spec("web", "web1", rip1)
	r.Add(s)
	chk := cs.of(rip1)
	chk.answer(t, up)
	wantEvent(t, r, "web1", StateUp, "add 1", t0)

	if err := r.Force(s.Key(), AdminDown); err != nil {
		t.Fatal(err)
	}
	wantEvent(t, r, "web1", StateDown, "remove", t0)
	clk.waitTimer(t, t0.Add(10*time.Second))
	clk.Advance(10 * time.Second)
	chk.answer(t, up) // still probed, but ignored while forced
	clk.waitTimer(t, t0.Add(20*time.Second))
	noEvent(t, r)

	r.Force(s.Key(), AdminNormal)
	wantEvent(t, r, "web1", StateDown, "notice", t0.Add(10*time.Second))
	chk.answer(t, up) // checked at once, and the first success enters
	wantEvent(t, r, "web1", StateUp, "add 1", t0.Add(10*time.Second))

	if err := r.Force(Key{"web", "nope"}, AdminUp); !errors.Is(err, ErrUnknown) {
		t.Errorf("Force(unknown) = %v, want ErrUnknown", err)
	}
	if err := r.Add(s); !errors.Is(err, ErrExists) {
		t.Errorf("Add(again) = %v, want ErrExists", err)
	}
}

func TestRunnerAddErrors(t *testing.T) {
	r := NewRunner(Options{})
	bad := spec("web", "re", rip1)
	bad.Expect, bad.UseRegex = "(", true
	if err := r.Add(bad); !errors.Is(err, ErrSpec) {
		t.Errorf("Add(bad regex) = %v, want ErrSpec", err)
	}
	badLoad := spec("web", "agent", rip1)
	badLoad.LoadMonitor = "http://%h:x y/"
	if err := r.Add(badLoad); !errors.Is(err, ErrSpec) {
		t.Errorf("Add(bad agent URL) = %v, want ErrSpec", err)
	}
	if len(r.Status()) != 0 {
		t.Errorf("Status() = %+v after failed Adds, want empty", r.Status())
	}
}

// countingLoad is a LoadChecker at the seam that counts its readings.
type countingLoad struct{ n atomic.Int32 }

func (c *countingLoad) Load(context.Context) Load {
	c.n.Add(1)
	return Load{Kind: LoadAverage, Value: 0}
}

// TestRunnerLoad checks that the load monitor runs only when a monitor
// wants it: after a passed check on which nanny's adjustWeight is due.
func TestRunnerLoad(t *testing.T) {
	clk := newFakeClock(t0)
	var cs checkers
	var lc countingLoad
	r, _ := startRunner(t, Options{Clock: clk, Jitter: -1, NewChecker: cs.new,
		NewLoadChecker: func(Spec) (LoadChecker, error) { return &lc, nil }})
	s := spec("web", "web1", rip1)
	s.Weight, s.LoadMonitor = 4, "uptime"
	r.Add(s)
	chk := cs.of(rip1)
	// Counts 19..24: add 1; set 2 (20); —; set 4 (22); —; load (24): 4 + 2 = 6.
	wantW := []string{"add 1", "set 2", "", "set 4", "", "set 6"}
	for i, w := range wantW {
		at := t0.Add(time.Duration(i) * 10 * time.Second)
		if i > 0 {
			clk.waitTimer(t, at)
			clk.Advance(10 * time.Second)
		}
		chk.answer(t, up)
		if w != "" {
			wantEvent(t, r, "web1", StateUp, w, at)
		}
	}
	clk.waitTimer(t, t0.Add(60*time.Second))
	if n := lc.n.Load(); n != 1 {
		t.Errorf("load read %d times, want once (only the sixth check was due after the ramp)", n)
	}
}

func TestRunnerStop(t *testing.T) {
	leakcheck(t)
	var cs checkers
	r := NewRunner(Options{Clock: newFakeClock(t0), Jitter: -1, NewChecker: cs.new})
	r.Add(spec("web", "web1", rip1))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	eventually(t, "the first check", func() bool { return cs.of(rip1).total.Load() == 1 })
	cancel() // while the check hangs
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run() = %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	if _, ok := <-r.Events(); ok {
		t.Error("Events still open after Run returned")
	}
	if err := r.Run(context.Background()); !errors.Is(err, ErrRunning) {
		t.Errorf("second Run() = %v, want ErrRunning", err)
	}
}

// TestRunnerRemoveDuringCheck checks that a result for a removed monitor
// is dropped.
func TestRunnerRemoveDuringCheck(t *testing.T) {
	r, _, cs := scriptedRunner(t)
	s := spec("web", "web1", rip1)
	r.Add(s)
	reply := cs.of(rip1).take(t)
	r.Remove(s.Key())
	reply <- up
	r.Add(spec("web", "web2", rip2)) // a later event proves the loop went on
	cs.of(rip2).answer(t, up)
	wantEvent(t, r, "web2", StateUp, "add 1", t0)
}

func TestRunnerUpdate(t *testing.T) {
	r, _, cs := scriptedRunner(t)
	s := spec("web", "web1", rip1)
	s.Sorry = netip.MustParseAddrPort("10.11.12.99:80")
	r.Add(s)
	chk := cs.of(rip1)
	chk.answer(t, down)
	wantEvent(t, r, "web1", StateDown, "notice", t0)
	wantEvent(t, r, "", StateUp, "add 1", t0)

	// A new sorry server replaces the old one in the table.
	s.Sorry = netip.MustParseAddrPort("10.11.12.98:80")
	if err := r.Update(s); err != nil {
		t.Fatal(err)
	}
	if ev := wantEvent(t, r, "", StateDown, "remove", t0); ev.Addr.Port() != 80 || ev.Addr.Addr().String() != "10.11.12.99" {
		t.Errorf("old sorry removal = %+v", ev)
	}
	if ev := wantEvent(t, r, "", StateUp, "add 1", t0); ev.Addr != s.Sorry {
		t.Errorf("new sorry = %+v", ev)
	}

	// A changed check moves the monitor to a new probe, checked at once;
	// the state is kept (still down, the count restarted by the failure).
	s.Send = "PING"
	s.Reentry = 10 * time.Second
	if err := r.Update(s); err != nil {
		t.Fatal(err)
	}
	chk.answer(t, up)
	wantEvent(t, r, "web1", StateUp, "add 1", t0)
	wantEvent(t, r, "", StateDown, "remove", t0)
	cs.mu.Lock()
	built := cs.built
	cs.mu.Unlock()
	if built != 2 {
		t.Errorf("probes built = %d, want 2", built)
	}

	// A new weight applies at once once the ramp is over (weight 1: at once).
	s.Weight = 5
	r.Update(s)
	wantEvent(t, r, "web1", StateUp, "set 5", t0)

	if err := r.Update(spec("web", "nope", rip1)); !errors.Is(err, ErrUnknown) {
		t.Errorf("Update(unknown) = %v, want ErrUnknown", err)
	}
	moved := s
	moved.Addr = rip2
	if err := r.Update(moved); !errors.Is(err, ErrSpec) {
		t.Errorf("Update(new address) = %v, want ErrSpec", err)
	}
}
