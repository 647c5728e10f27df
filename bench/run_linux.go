//go:build linux

package bench

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"lvs/config"
	"lvs/sim"
)

// ErrNotRoot is returned when the harness does not run as root.
var ErrNotRoot = errors.New("lvsbench needs root (it creates network namespaces); run it with sudo")

// runner holds one run's state.
type runner struct {
	o          Options
	con        *console
	tb         *testbed
	responders []*proc // the real servers' responders, for CPU accounting
	notes      []string
	scaleBase  Baseline       // the idle baseline of the scaling phase
	site6      *config.Config // the IPv6 services (klb6, lvsd6: ipv6_linux.go)
	cf6        string         // lvsd6's lvs.cf
	why6       string         // why the IPv6 contenders cannot run ("": they can)
	duringSeq  int            // --during commands started (during_linux.go)
}

// Run builds the topology, runs every contender o asks for, repetition by
// repetition, and writes report.md and report.json into o.Out. An
// interrupted run (ctx done) still cleans up and writes what it measured.
func Run(ctx context.Context, o Options) (*Report, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	if os.Geteuid() != 0 {
		return nil, ErrNotRoot
	}
	r := &runner{o: o, con: newConsole(o.Log)}
	release, err := r.lockSites(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	if swept, err := Sweep(); err != nil {
		return nil, fmt.Errorf("sweeping leftovers of crashed runs: %w", err)
	} else if len(swept) > 0 {
		r.con.logf("removed leftovers of crashed runs: %s", strings.Join(swept, ", "))
	}
	rep := r.newReport()
	if !o.NoOverload {
		rep.Settings.OverloadWarmup, rep.Settings.OverloadWindow = o.overloadWindows()
	}
	if err := os.MkdirAll(filepath.Join(o.Out, "logs"), 0o755); err != nil {
		return nil, fmt.Errorf("creating %s: %w", o.Out, err)
	}
	err = r.run(ctx, rep)
	rep.Duration = time.Since(rep.Started)
	if errors.Is(err, context.Canceled) {
		rep.Notes = append(rep.Notes, "interrupted: the report holds what was measured before")
	}
	rep.Notes = append(rep.Notes, r.notes...)
	if o.Micro != "" {
		b, rerr := os.ReadFile(o.Micro)
		if rerr != nil {
			err = errors.Join(err, fmt.Errorf("reading micro-benchmarks: %w", rerr))
		}
		rep.Micro = string(b)
	}
	r.con.status("")
	if werr := WriteReports(o.Out, rep); werr != nil {
		return rep, errors.Join(err, werr)
	}
	r.con.logf("report: %s", filepath.Join(o.Out, ReportMarkdown))
	return rep, err
}

// run builds the binaries and the testbed, runs the repetitions and tears
// everything down, whatever happens.
func (r *runner) run(ctx context.Context, rep *Report) (err error) {
	logs := filepath.Join(r.o.Out, "logs")
	r.con.status("building lvssim and lvsd")
	bins, err := os.MkdirTemp("", "lvsbench-bin-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(bins)
	lvssim, lvsd, why, err := r.binaries(bins)
	if err != nil {
		return err
	}
	cf := filepath.Join(logs, "lvs.cf")
	c := siteConfig(siteSpec{primary: directorPub, vip: vip, natRouter: natRouter, reals: realAddrs(r.o.Servers), udpPort: udpPort, tcpPort: tcpPort})
	if err := writeSite(cf, c); err != nil {
		return err
	}
	cfDR := filepath.Join(logs, "lvs-dr.cf")
	err = writeSite(cfDR, siteConfig(siteSpec{primary: directorPub, vip: vipDR, vipDevice: "eth1:1", direct: true,
		reals: realAddrs(r.o.Servers), udpPort: udpPortDR, tcpPort: tcpPort}))
	if err != nil {
		return err
	}
	if r.o.wants6() {
		r.site6, r.cf6 = site6(r.o.Servers), filepath.Join(logs, "lvs6.cf")
		if err := writeSite(r.cf6, r.site6); err != nil {
			return err
		}
	}
	st := newRunState()
	r.con.logf("building the topology in namespaces %s* (%d real servers)", st.prefix(), r.o.Servers)
	r.tb, err = buildTestbed(ctx, st, logs, r.o.Servers, r.o.DirCPU)
	if err != nil {
		return fmt.Errorf("building the topology: %w", err)
	}
	defer func() {
		if cerr := r.tb.close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("removing the topology: %w", cerr))
		}
		if left := Leftovers(); len(left) > 0 {
			err = errors.Join(err, fmt.Errorf("namespaces left after cleanup: %v", left))
		}
	}()
	if r.o.wants6() {
		if err := r.tb.address6(ctx); err != nil { // the IPv4 contenders run on
			r.why6 = fmt.Sprintf("the topology's IPv6 addresses: %v", err)
			r.con.logf("%s", r.why6)
		}
	}
	r.responders, err = r.tb.startResponders(ctx, lvssim, r.o.DirCPU)
	defer func() {
		for _, p := range r.responders {
			p.stop(2 * time.Second)
		}
	}()
	if err != nil {
		return err
	}
	for k, n := range r.tb.rs {
		e, err := startDREcho(ctx, r.tb, n, "rs"+strconv.Itoa(k+1), r.o.DirCPU)
		if err != nil {
			return err
		}
		r.tb.echoes = append(r.tb.echoes, e)
	}
	cs := r.contenders(c, cf, cfDR, lvsd, why)
	for _, x := range cs {
		rep.Contenders = append(rep.Contenders, x.info())
	}
	for n := 1; n <= r.o.Reps && !r.o.scalingOnly(); n++ {
		for _, x := range cs {
			if err := r.repetition(ctx, x, n); err != nil {
				return err // only ctx ends a run early
			}
		}
	}
	if !r.o.NoOverload {
		rep.Overload = &Overload{}
		mk := func(name string) contender { return r.newContender(name, c, cf, cfDR, lvsd, why) }
		if err := r.overload(ctx, rep, mk); err != nil {
			return err
		}
	}
	if r.o.NoScaling {
		return nil
	}
	rep.Scaling = &Scaling{}
	return r.scaling(ctx, rep.Scaling, lvsd, why)
}

// writeSite formats c into path.
func writeSite(path string, c *config.Config) error {
	text, err := formatSite(c)
	if err != nil {
		return err
	}
	return os.WriteFile(path, text, 0o644)
}

// binaries returns the responder (lvssim) and lvsd binaries, built into
// dir from the module (sim.BuildBinaries) or taken from --bin; lvsd is ""
// with why when it cannot be had.
func (r *runner) binaries(dir string) (lvssim, lvsd, why string, err error) {
	if r.o.BinDir != "" {
		lvssim, lvsd = filepath.Join(r.o.BinDir, "lvssim"), filepath.Join(r.o.BinDir, "lvsd")
		if _, err := os.Stat(lvssim); err != nil {
			return "", "", "", fmt.Errorf("--bin: %w", err)
		}
		if _, err := os.Stat(lvsd); err != nil {
			lvsd, why = "", fmt.Sprintf("no lvsd in %s", r.o.BinDir)
		}
		return lvssim, lvsd, why, nil
	}
	b, err := sim.BuildBinaries(dir)
	if err != nil {
		return "", "", "", err
	}
	for _, n := range b.Notes {
		switch {
		case strings.HasPrefix(n, "lvsd not built"):
			why = n
		case strings.HasPrefix(n, "not inside the lvs module"):
			// BuildBinaries then names the running program as lvssim: find the real one.
			self, _ := os.Executable()
			if b.LVSSim = filepath.Join(filepath.Dir(self), "lvssim"); !fileExists(b.LVSSim) {
				b.LVSSim, _ = exec.LookPath("lvssim")
			}
			if b.LVSSim == "" {
				return "", "", "", errors.New("outside the lvs module and no lvssim next to lvsbench or on PATH (use --bin)")
			}
		}
	}
	if b.LVSD == "" && why == "" {
		why = "lvsd not found"
	}
	return b.LVSSim, b.LVSD, why, nil
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// contenders builds the contenders o asks for, in AllContenders order.
func (r *runner) contenders(cfg *config.Config, cf, cfDR, lvsd, why string) []contender {
	var out []contender
	for _, name := range AllContenders {
		if slices.Contains(r.o.Contenders, name) {
			c := r.newContender(name, cfg, cf, cfDR, lvsd, why)
			if isIPv6(name) && r.why6 != "" {
				c.info().Available, c.info().Reason = false, r.why6
			}
			out = append(out, c)
		}
	}
	return out
}

// newContender builds contender name (one of AllContenders) with a fresh
// report entry: the kernel with the rules of cfg, or lvsd (binary lvsd, or
// unavailable for why) with lvs.cf cf (NAT) or cfDR (direct routing).
func (r *runner) newContender(name string, cfg *config.Config, cf, cfDR, lvsd, why string) contender {
	dirCPU := fmt.Sprint(r.o.DirCPU)
	rps := fmt.Sprintf("softirq on CPU%s (RPS of the director's eth0)", dirCPU)
	rpsDR := fmt.Sprintf("softirq on CPU%s (RPS of the director's eth1; the bridge's work on requests runs on the generator's core)", dirCPU)
	info := &Contender{Name: name, Available: true, Kind: "kernel", Pinning: rps}
	switch name {
	case KernelForward:
		info.Label = "kernel forwarding (ip_forward)"
		return &kernelContender{c: info, mode: name}
	case KernelLB:
		info.Label = "kernel LB (nftables DNAT, numgen)"
		return &kernelContender{c: info, mode: name, rules: kernelLBRules(cfg, lbTable, pickNumgen)}
	case KernelLBJhash:
		info.Label = "kernel LB (nftables DNAT, jhash)"
		return &kernelContender{c: info, mode: name, rules: kernelLBRules(cfg, lbTable, pickJhash)}
	case KernelDR:
		info.Label, info.Pinning = "kernel forwarding on the DR segment (ip_forward)", rpsDR
		return &kernelContender{c: info, mode: name}
	case KernelLB6: // ipv6_linux.go
		info.Label = "IPv6: kernel LB (nftables ip6 DNAT, numgen)"
		return &kernelContender{c: info, mode: name, rules: kernelLBRules(r.site6, lbTable6, pickNumgen)}
	}
	w, cpus, file := 1, dirCPU, cf
	var flags []string
	var nat netip.Addr // the NAT VIP: vip when invalid
	info.Kind, info.Base = "lvsd", KernelLB
	info.Label = "lvsd NAT, 1 worker"
	pin := fmt.Sprintf("; RPS of the director's eth0 to CPU%s", dirCPU)
	switch name {
	case LVSDTC:
		flags = []string{"--dataplane", "tc"}
		info.Label = "lvsd NAT, 1 worker, fast path on the tc hook (--dataplane tc)"
	case LVSDAFP:
		flags = []string{"--dataplane", "afpacket"}
		info.Label = "lvsd NAT, 1 worker, AF_PACKET only (--dataplane afpacket)"
	case LVSD2:
		w, cpus = 2, fmt.Sprintf("0-%d", runtime.NumCPU()-1)
		info.Label = "lvsd NAT, 2 workers"
	case LVSDECMP: // ecmp_linux.go
		c, err := r.newECMPContender(info, cfDR, lvsd)
		if err != nil {
			info.Available, info.Reason = false, err.Error()
		}
		if c != nil {
			return c
		}
	case LVSD6: // ipv6_linux.go
		file, info.Base, nat = r.cf6, KernelLB6, vip6
		info.Label = "IPv6: lvsd NAT66 (nat_router6), 1 worker"
	case LVSDDR:
		file, info.Base = cfDR, KernelDR
		info.Label = "lvsd direct routing, 1 worker"
		pin = fmt.Sprintf("; RPS of the director's eth1 to CPU%s", dirCPU)
	}
	if len(r.o.LVSDFlags) > 0 {
		flags = append(flags, r.o.LVSDFlags...)
		info.Label += " " + strings.Join(r.o.LVSDFlags, " ")
	}
	info.Pinning = fmt.Sprintf("lvsd taskset -c %s", cpus) + pin
	if lvsd == "" {
		info.Available, info.Reason = false, why
	}
	return &lvsdContender{c: info, bin: lvsd, cf: file, workers: w, flags: flags, cpus: cpus, direct: name == LVSDDR, vip: nat, notes: &r.notes}
}

// repetition runs one contender's windows once, between an idle baseline
// before setup and one after teardown; the CPU figures use the smaller of
// the two. Failures are recorded in the report; only a cancelled ctx is
// returned.
func (r *runner) repetition(ctx context.Context, c contender, n int) error {
	info := c.info()
	if !info.Available {
		return nil
	}
	step := func(what string) { r.con.status("rep %d/%d · %s · %s", n, r.o.Reps, info.Name, what) }
	step("idle baseline")
	bl, err := r.baseline(ctx)
	if err != nil {
		return ctxErr(ctx, err)
	}
	step("setting up")
	x := &Rep{Rep: n}
	if err = r.tb.forgetOwned(); err == nil {
		err = c.setup(ctx, r.tb)
	}
	if errors.Is(err, errUnavailable) && len(info.Runs) == 0 {
		r.teardown(ctx, c, n)
		info.Available, info.Reason = false, strings.TrimPrefix(err.Error(), errUnavailable.Error()+": ")
		r.con.logf("%s: not available: %s", info.Name, oneLine(info.Reason))
		return nil
	}
	info.Runs = append(info.Runs, x)
	if err == nil {
		udp, _ := c.targets()
		err = waitFor(ctx, 5*time.Second, nil, func() error { return echoOnce(r.tb, udp) })
	}
	l, isLVSD := lvsdOf(c) // ecmp_linux.go
	if isLVSD {
		x.Mode = l.mode
	}
	if err == nil {
		err = r.windows(ctx, c, x, bl, step)
	}
	if isLVSD && l.p != nil && ctx.Err() == nil {
		x.Mode = l.modeAfter(r.tb)
	}
	if err != nil {
		x.Err = err.Error()
		r.con.logf("rep %d %s: %v", n, info.Name, err)
	}
	r.teardown(ctx, c, n)
	if ctx.Err() == nil {
		step("idle baseline after")
		if after, err := r.baseline(ctx); err == nil {
			r.recost(x, MinBaseline(bl, after))
		}
	}
	return ctxErr(ctx, nil)
}

func (r *runner) teardown(ctx context.Context, c contender, n int) {
	if err := c.teardown(context.WithoutCancel(ctx), r.tb); err != nil {
		r.notes = append(r.notes, fmt.Sprintf("%s rep %d: teardown: %v", c.info().Name, n, err))
	}
}

// windows runs the saturation, fixed-load and TCP windows into x (the
// TCP window alone with Options.TCPOnly).
func (r *runner) windows(ctx context.Context, c contender, x *Rep, bl Baseline, step func(string)) error {
	name := c.info().Name
	var err error
	if r.o.TCPOnly {
		return r.tcpWindow(ctx, c, x, bl, step)
	}
	step("UDP saturation")
	if x.UDP, err = unstolen(r, x, duringSaturation, func() (*UDPRun, error) { return r.saturation(ctx, c, bl) }); err != nil {
		return err
	}
	r.con.logf("rep %d %-8s saturation: %s pps delivered (%s sent)%s", x.Rep, name, num(x.UDP.DeliveredPPS), num(x.UDP.SentPPS), stealText(x.UDP))
	step(fmt.Sprintf("UDP at %s pps + latency probes", num(r.o.LoadPPS)))
	if x.Paced, err = unstolen(r, x, duringFixed, func() (*PacedRun, error) { return r.fixedLoad(ctx, c, bl) }); err != nil {
		return err
	}
	r.con.logf("rep %d %-8s fixed load: %s pps delivered, request p50/p99 %s/%s µs%s", x.Rep, name,
		num(x.Paced.DeliveredPPS), micros(x.Paced.Latency.P50), micros(x.Paced.Latency.P99), stealText(x.Paced))
	if isIPv6(name) {
		return nil // IPv6: saturation and CPU per packet only (ipv6.go)
	}
	return r.tcpWindow(ctx, c, x, bl, step)
}

// tcpWindow runs the TCP connection-rate window into x.
func (r *runner) tcpWindow(ctx context.Context, c contender, x *Rep, bl Baseline, step func(string)) error {
	step("TCP connections")
	var err error
	if x.TCP, err = unstolen(r, x, duringTCP, func() (*TCPRun, error) { return r.connections(ctx, c, bl) }); err != nil {
		return err
	}
	t := x.TCP
	r.con.logf("rep %d %-8s TCP: %s connections/s, %d failed, SYN retransmits %d (servers' SYN-ACK %d), director core %.0f µs/connection (before the baseline after), responders' user %.1f µs/connection, other processes %.0f ms%s",
		x.Rep, c.info().Name, num(t.PerSec), t.Failures, t.Client.SynRetrans, t.Servers.SynRetrans, cost(t.CPU, t.CPU.DirectorNs)/1e3, t.RespondersNs/1e3, t.ForeignNs/1e6, stealText(t))
	return nil
}

// unstolen runs measure, and again up to Options.StealRetries times while
// the window it measured lost time to the hypervisor (steal of it above
// zero), recording each window it throws away in x.Remeasured under
// name. The last window is kept whatever its steal: the report shows it.
func unstolen[T interface{ steal() float64 }](r *runner, x *Rep, name string, measure func() (T, error)) (T, error) {
	for try := 0; ; try++ {
		w, err := measure()
		if err != nil || try >= r.o.StealRetries || w.steal() == 0 {
			return w, err
		}
		x.Remeasured = append(x.Remeasured, name)
		r.con.logf("rep %d: the hypervisor took %.1f %% of a core during the %s window: measuring it again", x.Rep, 100*w.steal(), name)
	}
}

// stealText is ", the hypervisor took N % of a core" for a window kept
// with steal (the retries ran out), "" for one without.
func stealText(w interface{ steal() float64 }) string {
	if st := w.steal(); st > 0 {
		return fmt.Sprintf(", the hypervisor took %.1f %% of a core during it", 100*st)
	}
	return ""
}

// ctxErr returns ctx's error when it is done, else err.
func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// lockSites takes the simulator's site lock (sim.LockSites), so no site
// test of another package runs traffic while the harness measures. It
// says so when it has to wait, and gives up when ctx ends.
func (r *runner) lockSites(ctx context.Context) (func(), error) {
	type res struct {
		release func()
		err     error
	}
	ch := make(chan res, 1)
	go func() {
		rel, err := sim.LockSites()
		ch <- res{rel, err}
	}()
	for warned := false; ; warned = true {
		select {
		case x := <-ch:
			return x.release, x.err
		case <-ctx.Done():
			go func() { // release the lock if it comes later
				if x := <-ch; x.release != nil {
					x.release()
				}
			}()
			return nil, ctx.Err()
		case <-time.After(2 * time.Second):
			if !warned {
				r.con.logf("waiting for %s/lock: a simulator site test is running", sim.StateDir)
			}
		}
	}
}
