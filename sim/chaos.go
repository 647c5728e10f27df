package sim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"lvs/config"
)

// Randomised fault schedules (issue 17): the failover site under traffic
// while a schedule drawn from a seed plays the simulator's faults one after
// the other — lvsd killed with SIGKILL and started again, frozen with
// SIGSTOP and thawed, a router's link set down and up, heartbeats dropped
// on one channel or all, a real server's service stopped and started. The
// invariants are checked all along: one ARP owner per VIP whenever no fault
// is in effect and the pair has had settle to recover from the last one, one
// active router after each fault, no lvsd exiting on its own, no corrupt
// transfer. The schedule depends only on the seed and the duration, so
// `lvssim chaos --seed N --duration D` replays a failing run's faults.

// ChaosOptions tune `lvssim chaos`; zero fields take the defaults.
type ChaosOptions struct {
	Seed     uint64        // 0: drawn from the clock (and printed)
	Duration time.Duration // the schedule's length (10 min)
}

// The fault kinds of a chaos schedule.
const (
	chaosKill    = "kill"    // SIGKILL a router's lvsd, start it again
	chaosFreeze  = "freeze"  // SIGSTOP a router's lvsd, SIGCONT it
	chaosLink    = "link"    // a router's interface down, up
	chaosDeafen  = "deafen"  // heartbeats dropped on one channel or all, passed again
	chaosService = "service" // a real server's service stopped, started
)

var chaosKinds = []string{chaosKill, chaosFreeze, chaosLink, chaosDeafen, chaosService}

// chaosFault is one fault of a schedule: done at At, undone Hold later.
type chaosFault struct {
	At    time.Duration
	Kind  string
	Node  string // a router (kill, freeze, link) or a real server (service)
	Iface string // link: eth0 or eth1; deafen: eth0, eth1 or "" for all
	Hold  time.Duration
}

func (f chaosFault) String() string {
	what := f.Kind + " " + f.Node
	switch f.Kind {
	case chaosLink:
		what += " " + f.Iface
	case chaosDeafen:
		what = "deafen " + orDefault(f.Iface, "all channels")
	}
	return fmt.Sprintf("at %6.1fs %-28s for %4.1fs", f.At.Seconds(), what, f.Hold.Seconds())
}

// Schedule bounds: traffic runs alone for chaosWarmup first; a fault lasts
// 2–15 s; after it is undone the pair has settle to recover before the
// invariants hold again, and the next fault comes 0–10 s after that.
const (
	chaosWarmup  = 20 * time.Second
	chaosMinHold = 2 * time.Second
	chaosMaxHold = 15 * time.Second
	chaosMaxIdle = 10 * time.Second
)

// chaosPlan draws the schedule of seed for a run of d: faults one after the
// other, each undone and settled before the next, all settled before d.
func chaosPlan(seed uint64, d, settle time.Duration, routers, reals []string) []chaosFault {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	dur := func(lo, hi time.Duration) time.Duration {
		return lo + time.Duration(rng.Int64N(int64(hi-lo)/int64(100*time.Millisecond)+1))*100*time.Millisecond
	}
	var plan []chaosFault
	for t := chaosWarmup; ; {
		f := chaosFault{At: t, Kind: chaosKinds[rng.IntN(len(chaosKinds))], Hold: dur(chaosMinHold, chaosMaxHold)}
		switch f.Kind {
		case chaosService:
			f.Node = reals[rng.IntN(len(reals))]
		case chaosDeafen:
			f.Iface = []string{"eth0", "eth1", ""}[rng.IntN(3)]
		case chaosLink:
			f.Iface = []string{"eth0", "eth1"}[rng.IntN(2)]
			fallthrough
		default:
			f.Node = routers[rng.IntN(len(routers))]
		}
		idle := dur(0, chaosMaxIdle)
		if t+f.Hold+settle > d {
			return plan
		}
		plan = append(plan, f)
		t += f.Hold + settle + idle
	}
}

// chaosStep injects f (undo false) or undoes it, through the simulator's faults.
func (s *Site) chaosStep(ctx context.Context, f chaosFault, undo bool) (string, error) {
	var fl *Fault
	switch f.Kind {
	case chaosKill:
		fl = &Fault{Kind: FaultKill, Target: f.Node, Process: "router"}
		if undo {
			fl.Kind = FaultStartService
		}
	case chaosFreeze:
		fl = &Fault{Kind: FaultStop, Target: f.Node, Process: "router"}
		if undo {
			fl.Kind = FaultCont
		}
	case chaosLink:
		fl = &Fault{Kind: FaultLinkDown, Target: f.Node, Interface: f.Iface}
		if undo {
			fl.Kind = FaultLinkUp // restores the routes the link-down flushed
		}
	case chaosDeafen:
		fl = &Fault{Kind: FaultDropHeartbeats, Interface: f.Iface}
		if undo {
			fl.Kind = FaultPassHeartbeats
		}
	case chaosService:
		fl = &Fault{Kind: FaultStopService, Target: f.Node, Process: "responder"}
		if undo {
			fl.Kind = FaultStartService
		}
	default:
		return "", fmt.Errorf("unknown chaos fault %q", f.Kind)
	}
	return s.inject(ctx, fl)
}

// ChaosResult is what a chaos run found.
type ChaosResult struct {
	Seed       uint64
	Planned    time.Duration // --duration: with Seed, replays Plan
	Duration   time.Duration
	Plan       []chaosFault
	Events     []incident
	Load       *background
	Failed     map[string]int // failed requests per fault kind in effect
	grace      map[string]time.Duration
	Checks     int // invariant checks made (ARP and roles)
	Transient  int // ARP answers by two owners while a fault was in effect or settling
	Violations []string
	Out        string
	Interrupt  bool
}

// Chaos runs a seeded random fault schedule on the failover site and
// writes chaos.md and faults.txt into the report directory. It returns
// ErrAssertions when an invariant was broken; the summary then names the
// seed that replays the schedule.
func Chaos(ctx context.Context, o Options, co ChaosOptions) (*ChaosResult, error) {
	o.defaults()
	if co.Duration <= 0 {
		co.Duration = 10 * time.Minute
	}
	if co.Seed == 0 {
		co.Seed = uint64(time.Now().UnixNano()%1_000_000 + 1)
	}
	log := NewConsole(o.Stderr)
	fmt.Fprintf(log, "chaos: seed %d, duration %v (replay: lvssim chaos --seed %d --duration %v)\n", co.Seed, co.Duration, co.Seed, co.Duration)
	return runLong(ctx, o, "chaos", log, func(s *Site) *ChaosResult { return s.chaos(ctx, co, log) })
}

// longResult of a chaos run (runLong).
func (r *ChaosResult) setOut(dir string) { r.Out = dir }
func (r *ChaosResult) failed() bool      { return len(r.Violations) > 0 }
func (r *ChaosResult) interrupted() bool { return r.Interrupt }

// chaosSettle is how long after a fault is undone the pair may take to
// recover before the invariants must hold: deadtime plus a margin of twice
// deadtime and 2 s (a restarted lvsd's start, a takeover, a failback).
func chaosSettle(deadtime time.Duration) time.Duration { return 3*deadtime + 2*time.Second }

// chaos plays the schedule on the built site with traffic running.
func (s *Site) chaos(ctx context.Context, co ChaosOptions, log io.Writer) *ChaosResult {
	cfg := s.Topo.Site.Config
	settle := chaosSettle(cfg.Deadtime)
	routers, reals := s.chaosNodes()
	r := &ChaosResult{Seed: co.Seed, Planned: co.Duration, Plan: chaosPlan(co.Seed, co.Duration, settle, routers, reals)}
	fmt.Fprintf(log, "chaos: %d faults over %v, settle %v after each:\n", len(r.Plan), co.Duration, settle)
	for i, f := range r.Plan {
		fmt.Fprintf(log, "  %2d %s\n", i+1, f)
	}
	t0 := time.Now()
	events := &incidentLog{t0: t0, w: log}
	v := cfg.Virtuals[0] // www, port 80
	load := s.startLoad(ctx, loadSpec{HTTPFrom: "client1", DownloadFrom: "client2",
		To: netip.AddrPortFrom(v.Address, v.Port), Rate: 10, DownloadEvery: 30 * time.Second,
		DownloadSize: 4 << 20, DownloadPace: 256 << 10}, t0, co.Duration)

	c := &chaosCheck{r: r, t0: t0, log: log}
	killed := map[string]bool{} // lvsd we killed and have not started again
	vips := activeVIPs(cfg)
	watchCtx, stopWatch := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { s.watchARPOwners(watchCtx, c, vips) })
	wg.Go(func() { s.chaosProgress(watchCtx, c, co.Duration) })
	s.playChaos(ctx, c, events, settle, routers, killed)
	pauseFor(ctx, time.Until(t0.Add(co.Duration)))
	stopWatch()
	wg.Wait()
	<-load.done
	s.chaosRoles(ctx, routers, killed, c.violate)
	r.Duration, r.Events, r.Load, r.Interrupt = time.Since(t0), events.snapshot(), load, ctx.Err() != nil
	grace := map[string]time.Duration{}
	for _, k := range chaosKinds {
		grace[k] = settle
	}
	r.grace = grace
	r.Failed = chargeFailures(r.Events, grace, chaosKinds, load.HTTP, load.Downloads)
	if n := load.Downloads.Corrupt; n > 0 {
		c.violate("%d downloads corrupt", n)
	}
	return r
}

// chaosNodes lists the site's routers and real servers, the nodes a
// schedule's faults pick from.
func (s *Site) chaosNodes() (routers, reals []string) {
	for _, n := range s.Topo.Nodes {
		switch n.Role {
		case RoleRouter:
			routers = append(routers, n.Name)
		case RoleReal:
			reals = append(reals, n.Name)
		}
	}
	return routers, reals
}

// activeVIPs lists the addresses of cfg's active virtual servers, each once.
func activeVIPs(cfg *config.Config) []netip.Addr {
	var vips []netip.Addr
	for _, v := range cfg.Virtuals {
		if v.Active && !slices.Contains(vips, v.Address) {
			vips = append(vips, v.Address)
		}
	}
	return vips
}

// chaosCheck is a chaos run's invariant bookkeeping, shared by the fault
// loop and the watchers: what it found goes into r, and quietFrom says from
// when the invariants must hold.
type chaosCheck struct {
	r   *ChaosResult
	t0  time.Time
	log io.Writer

	mu        sync.Mutex    // guards r.Violations, r.Checks, r.Transient, quietFrom
	quietFrom time.Duration // the invariants hold from then on; -1 while a fault is in effect
}

// violate records a broken invariant, stamped with the run's time, and
// prints it.
func (c *chaosCheck) violate(format string, a ...any) {
	msg := fmt.Sprintf("%.1fs: ", time.Since(c.t0).Seconds()) + fmt.Sprintf(format, a...)
	c.mu.Lock()
	c.r.Violations = append(c.r.Violations, msg)
	c.mu.Unlock()
	fmt.Fprintln(c.log, "VIOLATION "+msg)
}

// faultBegins suspends the invariants while a fault is in effect.
func (c *chaosCheck) faultBegins() {
	c.mu.Lock()
	c.quietFrom = -1
	c.mu.Unlock()
}

// faultUndone makes the invariants hold again settle from now.
func (c *chaosCheck) faultUndone(settle time.Duration) {
	c.mu.Lock()
	c.quietFrom = time.Since(c.t0) + settle
	c.mu.Unlock()
}

// checked counts one invariant check.
func (c *chaosCheck) checked() {
	c.mu.Lock()
	c.r.Checks++
	c.mu.Unlock()
}

// quiet says whether the invariants held over a check asked at asked (since
// t0) and answered now, and counts the check if so.
func (c *chaosCheck) quiet(asked time.Duration) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	quiet := c.quietFrom >= 0 && asked >= c.quietFrom && time.Since(c.t0) >= c.quietFrom
	if quiet {
		c.r.Checks++
	}
	return quiet
}

// transient counts an answer by two ARP owners while a fault was in effect
// or settling.
func (c *chaosCheck) transient() {
	c.mu.Lock()
	c.r.Transient++
	c.mu.Unlock()
}

// watchARPOwners checks, every 2 s until ctx ends, that each VIP has one
// ARP owner, asked from the gateway like the upstream router.
func (s *Site) watchARPOwners(ctx context.Context, c *chaosCheck, vips []netip.Addr) {
	for pauseFor(ctx, 2*time.Second) {
		asked := time.Since(c.t0)
		owners, err := s.arpCount("gw", "eth0", vips)
		quiet := c.quiet(asked)
		if err != nil {
			c.violate("asking who has the VIPs: %v", err)
			continue
		}
		for vip, macs := range owners {
			switch {
			case len(macs) == 1:
			case quiet:
				c.violate("%v answered by %d owners %v with no fault in effect", vip, len(macs), macs)
			case len(macs) > 1:
				c.transient()
			}
		}
	}
}

// chaosProgress prints the run's progress every 30 s until ctx ends.
func (s *Site) chaosProgress(ctx context.Context, c *chaosCheck, d time.Duration) {
	every(ctx, c.t0, 30*time.Second, 30*time.Second, d, func(int) {
		c.mu.Lock()
		n := len(c.r.Violations)
		c.mu.Unlock()
		fmt.Fprintf(c.log, "[%5.0fs/%.0fs] %d answered, %d failed, %d violations\n",
			time.Since(c.t0).Seconds(), d.Seconds(), s.answered.Load(), s.failed.Load(), n)
	})
}

// playChaos plays the plan's faults at their times: each is injected, held,
// undone and given settle, then the roles are checked. killed follows the
// lvsd the schedule killed and has not started again.
func (s *Site) playChaos(ctx context.Context, c *chaosCheck, events *incidentLog, settle time.Duration, routers []string, killed map[string]bool) {
	for i, f := range c.r.Plan {
		if !pauseFor(ctx, time.Until(c.t0.Add(f.At))) {
			break
		}
		c.faultBegins()
		in := events.begin(f.Kind, f.String())
		what, err := s.chaosStep(ctx, f, false)
		if err == nil && f.Kind == chaosKill {
			killed[f.Node] = true
		}
		if err == nil && pauseFor(ctx, f.Hold) {
			var again string
			again, err = s.chaosStep(ctx, f, true)
			what += "; " + again
			if err == nil && f.Kind == chaosKill {
				delete(killed, f.Node)
			}
		}
		events.end(in, fmt.Sprintf("%d %s: %s", i+1, f.Kind, what), err)
		if err != nil {
			c.violate("fault %d (%s) could not be played: %v", i+1, f, err)
		}
		c.faultUndone(settle)
		if !pauseFor(ctx, settle) {
			break
		}
		s.chaosRoles(ctx, routers, killed, c.violate)
		c.checked()
	}
}

// chaosRoles checks that exactly one router is active (no split brain, no
// site without a director) and that no lvsd exited that the schedule did
// not kill.
func (s *Site) chaosRoles(ctx context.Context, routers []string, killed map[string]bool, violate func(string, ...any)) {
	var active, states []string
	for _, n := range routers {
		if p := s.Router.Process(n); p == nil || p.Exited() {
			if !killed[n] {
				violate("lvsd on %s exited on its own", n)
			}
			states = append(states, n+" not running")
			continue
		}
		h, err := s.haStatus(ctx, n)
		if err != nil {
			violate("%v", err)
			continue
		}
		states = append(states, n+" "+h.State)
		if h.State == "active" {
			active = append(active, n)
		}
	}
	if len(active) != 1 {
		violate("%d active routers after the fault settled (%s); want one", len(active), strings.Join(states, ", "))
	}
}

// arpCount asks, from node's iface, who has each VIP and returns the MACs
// that answered per VIP (drills.go's arpAsk).
func (s *Site) arpCount(node, iface string, vips []netip.Addr) (map[netip.Addr][]string, error) {
	n := s.nodes[node]
	if n == nil {
		return nil, fmt.Errorf("unknown node %s", node)
	}
	out := map[netip.Addr][]string{}
	err := n.Do(func() error {
		for _, vip := range vips {
			macs, err := arpAsk(iface, vip)
			if err != nil {
				return err
			}
			out[vip] = macs
		}
		return nil
	})
	return out, err
}

// summary is the chaos run's report in Markdown (also printed).
func (r *ChaosResult) summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# lvssim chaos: seed %d, %.0fs on the failover site\n\n", r.Seed, r.Duration.Seconds())
	count := map[string]int{}
	for _, f := range r.Plan {
		count[f.Kind]++
	}
	var kinds []string
	for _, k := range chaosKinds {
		kinds = append(kinds, fmt.Sprintf("%s %d", k, count[k]))
	}
	fmt.Fprintf(&b, "Faults: %d (%s); invariant checks with no fault in effect: %d; two ARP owners seen while a fault was in effect or settling: %d times.\n\n",
		len(r.Plan), strings.Join(kinds, ", "), r.Checks, r.Transient)
	r.Load.writeTraffic(&b, "the fault in effect (or settling)", r.Failed, chaosKinds)
	fmt.Fprintf(&b, "\n## Fault log\n\n")
	for _, e := range r.Events {
		line := fmt.Sprintf("- %.1fs–%.1fs %s", e.Start.Seconds(), e.End.Seconds(), e.What)
		if e.Err != "" {
			line += " — error: " + e.Err
		}
		fmt.Fprintln(&b, line)
	}
	r.Load.writeDownloads(&b)
	if len(r.Violations) == 0 {
		fmt.Fprintf(&b, "\nPASS: one ARP owner per VIP whenever no fault was in effect, one active router after every fault, no lvsd exited on its own, no corrupt transfer (seed %d).\n", r.Seed)
	} else {
		fmt.Fprintf(&b, "\nFAIL (seed %d; replay: lvssim chaos --seed %d --duration %v):\n", r.Seed, r.Seed, r.Planned)
		for _, v := range r.Violations {
			fmt.Fprintf(&b, "- %s\n", v)
		}
	}
	fmt.Fprintf(&b, "\nFiles: %s (chaos.md, faults.txt, failures.csv)\n", r.Out)
	return b.String()
}

// write puts chaos.md and faults.txt (the schedule, then what was done)
// into dir.
func (r *ChaosResult) write(dir string) error {
	var f strings.Builder
	fmt.Fprintf(&f, "# seed %d\n", r.Seed)
	for i, p := range r.Plan {
		fmt.Fprintf(&f, "plan %2d %s\n", i+1, p)
	}
	for _, e := range r.Events {
		fmt.Fprintf(&f, "done %.1fs %.1fs %s", e.Start.Seconds(), e.End.Seconds(), e.What)
		if e.Err != "" {
			fmt.Fprintf(&f, " error: %s", e.Err)
		}
		f.WriteString("\n")
	}
	return errors.Join(
		os.WriteFile(filepath.Join(dir, "chaos.md"), []byte(r.summary()), 0o644),
		os.WriteFile(filepath.Join(dir, "faults.txt"), []byte(f.String()), 0o644),
		os.WriteFile(filepath.Join(dir, "failures.csv"), failuresCSV(r.Events, r.grace, chaosKinds, r.Load.HTTP, r.Load.Downloads), 0o644))
}
