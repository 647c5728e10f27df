package health

import (
	"cmp"
	"container/heap"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"slices"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
)

// Event is one thing that happened to a real server or a sorry server, for
// the daemon to apply (Action) and to report (the lvs_notify_fifo-style
// stream, metrics). Events of one server arrive in the order they happened.
type Event struct {
	Virtual string         // virtual NAME
	Server  string         // server NAME; "" for the sorry server
	Addr    netip.AddrPort // the server's address and port, as in the table
	Sorry   bool           // this is the virtual's sorry server
	State   State          // the server's state after the action
	Action  Action         // what to do to the table, and the log line
	Weight  int            // the server's weight after the action; 0 when out
	Reason  string         // why (the check's reason, the override, the agent)
	Time    time.Time
}

// DefaultJitter is the jitter the daemon should use: checks of a probe start
// up to 10% of its interval early, and the first check of a new probe up to
// 10% of an interval late, so probes added together spread out.
const DefaultJitter = 0.1

// Options configure a Runner. The zero value is usable: real clock, default
// jitter, real checkers, no logging.
type Options struct {
	Clock  Clock          // nil: SystemClock
	Jitter float64        // fraction of the interval; 0: DefaultJitter; negative: none
	Rand   func() float64 // uniform in [0, 1); nil: math/rand/v2
	Logger *slog.Logger   // each Event's Action.Msg is logged here once; nil: discarded
	Buffer int            // capacity of the Events channel; 0: 64

	// NewChecker and NewLoadChecker build the probe of a Spec; nil means
	// the package's. Tests replace them at this seam.
	NewChecker     func(Spec) (Checker, error)
	NewLoadChecker func(Spec) (LoadChecker, error)
}

// Errors of Runner methods.
var (
	ErrExists  = errors.New("health: monitor exists")
	ErrUnknown = errors.New("health: no such monitor")
	ErrRunning = errors.New("health: runner already ran")
)

// Runner schedules the checks of many monitors, nanny's alarm loop for all
// of them at once. Monitors that check the same server the same way (same
// protocol, address, port, timeout, send/expect/regex/program and load
// monitor) share one probe: one check per interval feeds all of them. A
// probe runs at most one check at a time; checks start every timeout
// (less the jitter), and a check that overran its slot is followed by the
// next at once. The monitors' step functions run under the Runner's lock, so
// their Events come out in order on Events.
//
// Add, Update, Remove, Force and Status may be called from any goroutine, before or
// while Run runs.
type Runner struct {
	clock   Clock
	jitter  float64
	rand    func() float64
	log     *slog.Logger
	newChk  func(Spec) (Checker, error)
	newLoad func(Spec) (LoadChecker, error)
	events  chan Event
	wake    chan struct{}    // cap 1: Add, Remove and Force poke the loop
	results chan probeResult // finished checks, to the loop

	mu       sync.Mutex
	ran      bool                // guarded by mu: Run was called
	monitors map[Key]*member     // guarded by mu
	probes   map[probe]*probeRun // guarded by mu
	idle     dueQueue            // guarded by mu: the probes not busy, by due
	sorry    map[string]*Sorry   // guarded by mu: by virtual name
	pending  []Event             // guarded by mu: not yet taken from events
	// recheckAt: the latest Recheck (guarded by mu); a check that began
	// before it is not stepped.
	recheckAt time.Time
}

// member is one monitor and the probe that feeds it.
type member struct {
	spec Spec
	mon  *Monitor
	pr   *probeRun
}

// probeRun is one shared probe and its schedule.
type probeRun struct {
	key      probe
	checker  Checker
	load     LoadChecker // nil when no load_monitor
	members  []*member   // in the order they were added
	interval time.Duration
	due      time.Time // next start
	busy     bool      // a check is running
	idx      int       // the probe's place in Runner.idle; -1: not there (busy or removed)
	checked  time.Time // when the latest check that was stepped began
}

type probeResult struct {
	pr    *probeRun
	start time.Time
	res   Result
}

// NewRunner returns a Runner with no monitors.
func NewRunner(o Options) *Runner {
	r := &Runner{clock: o.Clock, jitter: o.Jitter, rand: o.Rand, log: o.Logger,
		newChk: o.NewChecker, newLoad: o.NewLoadChecker,
		wake: make(chan struct{}, 1), results: make(chan probeResult),
		monitors: map[Key]*member{}, probes: map[probe]*probeRun{}, sorry: map[string]*Sorry{}}
	if r.clock == nil {
		r.clock = SystemClock()
	}
	switch {
	case r.jitter == 0:
		r.jitter = DefaultJitter
	case r.jitter < 0:
		r.jitter = 0
	}
	if r.rand == nil {
		r.rand = rand.Float64
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if r.newChk == nil {
		r.newChk = NewChecker
	}
	if r.newLoad == nil {
		r.newLoad = NewLoadChecker
	}
	r.events = make(chan Event, cmp.Or(o.Buffer, 64))
	return r
}

// Events is where the Runner reports. The daemon must keep reading it; the
// channel is closed when Run returns.
func (r *Runner) Events() <-chan Event { return r.events }

// Add starts monitoring s.Server of s.Virtual. Its first check runs at once
// (within the jitter), as nanny's did: with the check under way of a probe
// it shares, or, when that probe is between two checks, with one started
// early for it, so a monitor joining a shared probe does not wait up to an
// interval for its first verdict. It fails with ErrExists for a key already
// monitored and with an ErrSpec error for settings that cannot work.
func (r *Runner) Add(s Spec) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.monitors[s.Key()]; ok {
		return fmt.Errorf("%w: %s/%s", ErrExists, s.Virtual, s.Server)
	}
	key := resolve(&s)
	pr, err := r.probeFor(s, key)
	if err != nil {
		return err
	}
	r.probes[key] = pr
	m := &member{spec: s, mon: NewMonitor(s), pr: pr}
	pr.members = append(pr.members, m)
	r.monitors[s.Key()] = m
	if !pr.busy && !pr.checked.IsZero() { // joined a probe between two checks
		if first := r.clock.Now().Add(r.spread(pr.interval)); first.Before(pr.due) {
			pr.due = first
		}
	}
	if !pr.busy {
		r.idle.wait(pr)
	}
	if s.Sorry.IsValid() && r.sorry[s.Virtual] == nil {
		r.sorry[s.Virtual] = NewSorry(s.Virtual, s.Sorry)
	}
	r.poke()
	return nil
}

// Update applies changed settings of a monitored server on a reload,
// keeping its health state (see Monitor.Reconfigure); a changed check moves
// it to the probe for the new settings. The address must stay the same: a
// server at a new address is a Remove and an Add. A changed sorry_server
// replaces the virtual's, the old one being removed if it was in the table.
func (r *Runner) Update(s Spec) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	m, ok := r.monitors[s.Key()]
	if !ok {
		return fmt.Errorf("%w: %s/%s", ErrUnknown, s.Virtual, s.Server)
	}
	if s.Addr != m.spec.Addr {
		return fmt.Errorf("%w: %s/%s: address %v changed to %v", ErrSpec, s.Virtual, s.Server, m.spec.Addr, s.Addr)
	}
	now := r.clock.Now()
	if key := resolve(&s); key != m.pr.key {
		pr, err := r.probeFor(s, key)
		if err != nil {
			return err
		}
		r.detach(m)
		m.pr = pr
		pr.members = append(pr.members, m)
		r.probes[key] = pr
		if !pr.busy {
			r.idle.wait(pr)
		}
	}
	m.spec = s
	st, acts := m.mon.Reconfigure(now, s)
	r.queue(m, st, acts, now)
	if old := r.sorry[s.Virtual]; old != nil && old.Addr() != s.Sorry {
		if old.IsIn() {
			r.emit(Event{Virtual: s.Virtual, Addr: old.Addr(), Sorry: true, State: StateDown, Time: now,
				Reason: "sorry_server changed", Action: Action{Kind: ActRemove,
					Msg: fmt.Sprintf("Virtual Server %s: sorry_server %s replaced", s.Virtual, old.Addr().Addr())}})
		}
		delete(r.sorry, s.Virtual)
	}
	if s.Sorry.IsValid() && r.sorry[s.Virtual] == nil {
		r.sorry[s.Virtual] = NewSorry(s.Virtual, s.Sorry)
	}
	r.stepSorry(s.Virtual, now)
	r.poke()
	return nil
}

// probeFor returns the probe run for key, building its checkers if no
// monitor uses it yet (it is not registered until the caller does so).
// Called with mu held.
func (r *Runner) probeFor(s Spec, key probe) (*probeRun, error) {
	if pr := r.probes[key]; pr != nil {
		return pr, nil
	}
	chk, err := r.newChk(s)
	if err != nil {
		return nil, fmt.Errorf("checking %s/%s: %w", s.Virtual, s.Server, err)
	}
	load, err := r.newLoad(s)
	if err != nil {
		return nil, fmt.Errorf("load monitor of %s/%s: %w", s.Virtual, s.Server, err)
	}
	return &probeRun{key: key, checker: chk, load: load, interval: key.timeout,
		due: r.clock.Now().Add(r.spread(key.timeout)), idx: -1}, nil
}

// detach takes m off its probe, dropping the probe with its last member.
// Called with mu held.
func (r *Runner) detach(m *member) {
	pr := m.pr
	pr.members = slices.DeleteFunc(pr.members, func(x *member) bool { return x == m })
	if len(pr.members) == 0 {
		delete(r.probes, pr.key) // a check under way is dropped when it ends
		r.idle.drop(pr)
	}
}

// Remove stops monitoring k. It emits nothing for the server itself: the
// daemon removes what it no longer configures. The sorry server of the
// virtual is reconsidered without it; when k was the last server of its
// virtual, the sorry state is dropped with it.
func (r *Runner) Remove(k Key) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	m, ok := r.monitors[k]
	if !ok {
		return fmt.Errorf("%w: %s/%s", ErrUnknown, k.Virtual, k.Server)
	}
	delete(r.monitors, k)
	r.detach(m)
	r.stepSorry(k.Virtual, r.clock.Now())
	r.poke()
	return nil
}

// Force applies an administrator's override to k (see Monitor.Force). Back
// to AdminNormal, the server is checked at once, as nanny did after SIGHUP.
func (r *Runner) Force(k Key, a Admin) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	m, ok := r.monitors[k]
	if !ok {
		return fmt.Errorf("%w: %s/%s", ErrUnknown, k.Virtual, k.Server)
	}
	now := r.clock.Now()
	st, acts := m.mon.Force(now, a)
	r.queue(m, st, acts, now)
	if a == AdminNormal && !m.pr.busy {
		m.pr.due = now
		r.idle.wait(m.pr)
	}
	r.stepSorry(k.Virtual, now)
	r.poke()
	return nil
}

// Recheck starts a check of every server at once and lets a server that is
// out re-enter on its first success, as a nanny started afresh does: the
// daemon calls it when one of this router's own links comes back, so the
// failures its checks met while it was cut off count for nothing. A check
// already under way when Recheck is called is not stepped; its probe
// checks again at once when it ends. It returns the time it took, for
// Settled.
func (r *Runner) Recheck() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.clock.Now()
	r.recheckAt = now
	for _, m := range r.monitors {
		m.mon.Rearm()
	}
	for _, pr := range r.probes {
		if !pr.busy {
			pr.due = now
			r.idle.wait(pr)
		}
	}
	r.poke()
	return now
}

// Settled reports whether every probe has finished a check that began at
// or after since: the health state then rests on what was seen since
// then (with no monitors, at once).
func (r *Runner) Settled(since time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, pr := range r.probes {
		if pr.checked.IsZero() || pr.checked.Before(since) {
			return false
		}
	}
	return true
}

// ServerStatus is the state of one monitored server, or of a sorry server
// (Sorry set, Server empty).
type ServerStatus struct {
	Key
	Sorry bool
	Status
}

// Status returns the state of every monitor and sorry server, sorted by
// virtual then server: what a standby needs to take over with warm health
// state, and what a status page shows.
func (r *Runner) Status() []ServerStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]ServerStatus, 0, len(r.monitors)+len(r.sorry))
	for k, m := range r.monitors {
		out = append(out, ServerStatus{Key: k, Status: m.mon.Status()})
	}
	for v, s := range r.sorry {
		st := Status{Addr: s.Addr(), State: StateDown}
		if s.IsIn() {
			st.State, st.Weight = StateUp, 1
		}
		out = append(out, ServerStatus{Key: Key{Virtual: v}, Sorry: true, Status: st})
	}
	slices.SortFunc(out, func(a, b ServerStatus) int {
		return cmp.Or(cmp.Compare(a.Virtual, b.Virtual), cmp.Compare(a.Server, b.Server))
	})
	return out
}

// Run checks until ctx is done, then waits for every check under way and
// closes Events. It returns nil when stopped by ctx; it may run only once.
func (r *Runner) Run(ctx context.Context) error {
	r.mu.Lock()
	if r.ran {
		r.mu.Unlock()
		return ErrRunning
	}
	r.ran = true
	r.mu.Unlock()
	var g errgroup.Group // checks; they end when ctx does
	r.loop(ctx, &g)
	g.Wait()
	close(r.events)
	return nil
}

// loop is the scheduler: start what is due, then wait for the earliest
// next start, a finished check, a poke, or room for the next event.
func (r *Runner) loop(ctx context.Context, g *errgroup.Group) {
	for {
		r.mu.Lock()
		now := r.clock.Now()
		next, ok := r.launch(ctx, g, now)
		var out chan<- Event
		var ev Event
		if len(r.pending) > 0 {
			out, ev = r.events, r.pending[0]
		}
		r.mu.Unlock()

		var t Timer
		var tc <-chan time.Time
		if ok {
			t = r.clock.NewTimer(next.Sub(now))
			tc = t.C()
		}
		select {
		case <-ctx.Done():
		case <-tc:
		case <-r.wake:
		case res := <-r.results:
			r.apply(res)
		case out <- ev:
			r.mu.Lock()
			r.pending = r.pending[1:]
			if len(r.pending) == 0 {
				r.pending = nil
			}
			r.mu.Unlock()
		}
		if t != nil {
			t.Stop()
		}
		if ctx.Err() != nil {
			return
		}
	}
}

// launch starts the check of every idle probe that is due and returns the
// earliest start still to come. Called with mu held.
func (r *Runner) launch(ctx context.Context, g *errgroup.Group, now time.Time) (time.Time, bool) {
	for len(r.idle) > 0 && !r.idle[0].due.After(now) {
		r.start(ctx, g, heap.Pop(&r.idle).(*probeRun), now)
	}
	if len(r.idle) == 0 {
		return time.Time{}, false
	}
	return r.idle[0].due, true
}

// start runs one check of pr in its own goroutine. Called with mu held.
func (r *Runner) start(ctx context.Context, g *errgroup.Group, pr *probeRun, now time.Time) {
	pr.busy = true
	wantLoad := false
	for _, m := range pr.members {
		wantLoad = wantLoad || m.mon.WantLoad()
	}
	chk, load, interval := pr.checker, pr.load, pr.interval
	g.Go(func() error {
		res := check(ctx, chk, load, interval, wantLoad)
		select {
		case r.results <- probeResult{pr: pr, start: now, res: res}:
		case <-ctx.Done():
		}
		return nil
	})
}

// check runs one check with the service timeout and, if it passed and a
// member wants it, one load reading with a timeout of its own (nanny gave
// getRemoteLoad the interval too).
func check(ctx context.Context, chk Checker, load LoadChecker, timeout time.Duration, wantLoad bool) Result {
	cctx, cancel := context.WithTimeout(ctx, timeout)
	res := chk.Check(cctx)
	cancel()
	if res.OK && wantLoad && load != nil {
		lctx, cancel := context.WithTimeout(ctx, timeout)
		res.Load = load.Load(lctx)
		cancel()
	}
	return res
}

// apply steps every monitor of a finished probe and the sorry servers of
// their virtuals, and schedules the probe's next check.
func (r *Runner) apply(pr probeResult) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := pr.pr
	if r.probes[p.key] != p {
		return // removed while its check ran
	}
	p.busy = false
	now := r.clock.Now()
	if pr.start.Before(r.recheckAt) {
		p.due = now // began before a Recheck: check again instead
		r.idle.wait(p)
		return
	}
	p.due = pr.start.Add(p.interval - r.spread(p.interval))
	r.idle.wait(p)
	p.checked = pr.start
	pr.res.Took = now.Sub(pr.start)
	var virtuals []string
	for _, m := range p.members {
		st, acts := m.mon.Step(now, pr.res)
		r.queue(m, st, acts, now)
		if !slices.Contains(virtuals, m.spec.Virtual) {
			virtuals = append(virtuals, m.spec.Virtual)
		}
	}
	for _, v := range virtuals {
		r.stepSorry(v, now)
	}
}

// spread is a random share of d, at most the jitter.
func (r *Runner) spread(d time.Duration) time.Duration {
	if r.jitter == 0 {
		return 0
	}
	return time.Duration(r.jitter * r.rand() * float64(d))
}

// stepSorry recounts the servers of virtual v that are up and steps its
// sorry server. Called with mu held.
func (r *Runner) stepSorry(v string, now time.Time) {
	s := r.sorry[v]
	if s == nil {
		return
	}
	up, n, settled := 0, 0, true
	for _, m := range r.monitors {
		if m.spec.Virtual != v {
			continue
		}
		n++
		st := m.mon.Status().State
		if st.IsUp() {
			up++
		}
		settled = settled && st != StateUnknown
	}
	if n == 0 {
		delete(r.sorry, v)
		return
	}
	for _, a := range s.Step(up, settled) {
		ev := Event{Virtual: v, Addr: s.Addr(), Sorry: true, Action: a, Time: now,
			State: StateDown, Reason: fmt.Sprintf("%d real servers up", up)}
		if a.Kind == ActAdd {
			ev.State, ev.Weight, ev.Reason = StateUp, 1, "no real server up"
		}
		r.emit(ev)
	}
}

// queue turns a monitor's actions into Events. Called with mu held.
func (r *Runner) queue(m *member, st State, acts []Action, now time.Time) {
	for _, a := range acts {
		ev := Event{Virtual: m.spec.Virtual, Server: m.spec.Server, Addr: m.spec.Addr,
			State: st, Action: a, Reason: m.mon.reason, Time: now}
		switch a.Kind {
		case ActAdd, ActSetWeight:
			ev.Weight = a.Weight
		case ActNotice:
			ev.Weight = m.mon.Weight()
		}
		r.emit(ev)
	}
}

// emit logs an event once and queues it for Events. Called with mu held.
func (r *Runner) emit(ev Event) {
	r.log.Info(ev.Action.Msg, "virtual", ev.Virtual, "server", ev.Server, "addr", ev.Addr.String(),
		"state", ev.State.String(), "action", ev.Action.Kind.String(), "weight", ev.Weight, "reason", ev.Reason)
	r.pending = append(r.pending, ev)
}

// poke wakes the loop without blocking.
func (r *Runner) poke() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}
