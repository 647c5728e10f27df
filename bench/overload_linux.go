//go:build linux

package bench

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// overload runs the overload phase into rep.Overload: the curves of
// overloadPlan, each contender made fresh by mk. A contender the
// repetitions found unavailable is reported so again, with their reason.
// Failures are recorded per curve; only a cancelled ctx is returned.
func (r *runner) overload(ctx context.Context, rep *Report, mk func(name string) contender) (err error) {
	ov := rep.Overload
	saved := r.o
	defer func() { r.o = saved }()
	r.o.Warmup, r.o.Window = r.o.overloadWindows()
	steered := true // the director's receive work goes to its core (buildTestbed)
	defer func() {
		if !steered {
			if serr := r.steerReceive(context.WithoutCancel(ctx), true); serr != nil {
				err = errors.Join(err, serr)
			}
		}
	}()
	if err := r.steerSwitch(ctx, true); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		ov.Notes = append(ov.Notes, fmt.Sprintf("the switch's receive work stayed on the director's core: %v", err))
	}
	defer func() {
		if serr := r.steerSwitch(context.WithoutCancel(ctx), false); serr != nil {
			err = errors.Join(err, serr)
		}
	}()
	for _, sp := range overloadPlan(r.o.Contenders) {
		c := mk(sp.contender)
		if l, ok := c.(*lvsdContender); ok { // keep the repetitions' logs
			l.logName = sp.contender + "-overload-" + sp.placement
		}
		info := c.info()
		cv := LoadCurve{Contender: sp.contender, Path: pathOf(sp.contender), Placement: sp.placement, Kind: info.Kind}
		if was := rep.Contender(sp.contender); was != nil && !was.Available {
			cv.Reason = was.Reason
		} else if !info.Available {
			cv.Reason = info.Reason
		}
		if cv.Reason != "" {
			ov.Curves = append(ov.Curves, cv)
			continue
		}
		if want := sp.placement == PlacementFair; want != steered {
			if err := r.steerReceive(ctx, want); err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				cv.Reason = fmt.Sprintf("changing the director's receive steering: %v", err)
				ov.Curves = append(ov.Curves, cv)
				continue
			}
			steered = want
		}
		if err := r.loadCurve(ctx, &cv, c); err != nil {
			return err
		}
		ov.Curves = append(ov.Curves, cv)
	}
	return nil
}

// steerReceive steers the receive work of the director's veths with RPS to
// the director's core (on), or leaves it where the frames are sent (off:
// the generator's core for requests), and checks the kernel took it.
func (r *runner) steerReceive(ctx context.Context, on bool) error {
	var want uint64
	where := "left on the sending core (no RPS)"
	if on {
		want, where = 1<<uint(r.o.DirCPU), fmt.Sprintf("steered to CPU%d (RPS)", r.o.DirCPU)
	}
	if err := setRPS(ctx, r.tb.dirNode, want, "eth0", "eth1"); err != nil {
		return fmt.Errorf("RPS of the director: %w", err)
	}
	r.con.logf("overload: the director's receive work %s", where)
	return nil
}

// steerSwitch steers with RPS the receive work of the switch port the
// director transmits into (sw p0) — the bridge, and behind it the real
// servers' receive and the sink that counts delivered frames — to the
// generator's core (on), or leaves it on the core that transmits (off, as
// the repetitions have it). A veth runs its peer's receive in the sending
// core's backlog: left there, the director's transmitted frames queue
// behind the requests RPS steers to that same backlog, and once a flood
// fills it they are dropped after the director forwarded them, on the
// wire, where a real network (the switch and the real servers are other
// machines) would carry them.
func (r *runner) steerSwitch(ctx context.Context, on bool) error {
	var want uint64
	if on {
		want = 1 << uint(r.o.GenCPU)
	}
	if err := setRPS(ctx, r.tb.sw, want, "p0"); err != nil {
		return fmt.Errorf("RPS of the switch's director port: %w", err)
	}
	if on {
		r.con.logf("overload: the switch's and the real servers' receive work steered to CPU%d (RPS of the switch's director port)", r.o.GenCPU)
	}
	return nil
}

// setRPS writes mask to the RPS CPUs of ifaces' receive queue in n and
// checks the kernel took it.
func setRPS(ctx context.Context, n *nsNode, mask uint64, ifaces ...string) error {
	hex := strconv.FormatUint(mask, 16)
	for _, iface := range ifaces {
		f := "/sys/class/net/" + iface + "/queues/rx-0/rps_cpus"
		if err := n.run(ctx, "", "sh", "-c", "echo "+hex+" > "+f); err != nil {
			return fmt.Errorf("%s: %w", iface, err)
		}
		got, err := n.output(ctx, "cat", f)
		if err != nil {
			return fmt.Errorf("%s: %w", iface, err)
		}
		if v, err := parseCPUMask(got); err != nil || v != mask {
			return fmt.Errorf("%s: rps_cpus is %q after writing %s", iface, strings.TrimSpace(got), hex)
		}
	}
	return nil
}

// loadCurve sets c up once, runs the generator flat out to find its
// maximum (cv.Probe), measures the paced points from overloadFloor up
// towards that maximum and then flat out again, and tears it down. A
// contender that does not come up is recorded in cv; only a cancelled ctx
// is returned.
func (r *runner) loadCurve(ctx context.Context, cv *LoadCurve, c contender) error {
	r.con.status("overload · %s · setting up", cv.Name())
	if err := r.tb.forgetOwned(); err != nil {
		cv.Reason = err.Error()
		return nil
	}
	defer r.teardown(ctx, c, 0)
	err := c.setup(ctx, r.tb)
	udp, _ := c.targets()
	if err == nil {
		err = waitFor(ctx, 5*time.Second, nil, func() error { return echoOnce(r.tb, udp) })
	}
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		cv.Reason = fmt.Sprintf("setting up: %v", err)
		r.con.logf("overload %s: %s", cv.Name(), oneLine(cv.Reason))
		return nil
	}
	l, isLVSD := c.(*lvsdContender)
	if isLVSD {
		cv.Mode = l.mode
	}
	name := cv.Name()
	probe, err := r.loadPoint(ctx, c, udp, 0)
	if err := ctxErr(ctx, nil); err != nil {
		return err
	}
	if err != nil {
		probe.Err = err.Error()
	}
	cv.Probe = &probe
	r.con.logf("overload %-24s flat out, to find the maximum: %s sent, %s delivered %s", name, kpps(probe.Sent), kpps(probe.Delivered), probe.Err)
	for _, t := range append(loadTargets(probe.Sent, r.o.overloadSteps()), 0) {
		r.con.status("overload · %s · %s", name, targetText(t))
		p, err := r.loadPoint(ctx, c, udp, t)
		if err := ctxErr(ctx, nil); err != nil {
			return err
		}
		if err != nil {
			p.Err = err.Error()
		}
		r.con.logf("overload %-24s %8s: %s sent, %s delivered %s", name, targetText(t), kpps(p.Sent), kpps(p.Delivered), p.Err)
		cv.Points = append(cv.Points, p)
	}
	if isLVSD {
		cv.Mode = l.modeAfter(r.tb)
		r.con.logf("overload %s: lvsd's dataplane mode: %s", name, modeText(cv.Mode))
	}
	return nil
}

// loadPoint runs one overload window towards udp at rate pps (0: flat
// out) over the run's flows.
func (r *runner) loadPoint(ctx context.Context, c contender, udp netip.AddrPort, rate float64) (LoadPoint, error) {
	p := LoadPoint{Target: rate}
	fs, err := r.flood(ctx, c, udp, rate, netip.AddrPort{}, r.o.Flows, "")
	if err != nil {
		return p, err
	}
	a, b := fs.a.use.CPU, fs.b.use.CPU
	d := b.At.Sub(a.At)
	p.Sent = perSecond(fs.b.sent-fs.a.sent, d)
	p.Delivered = perSecond(fs.b.delivered-fs.a.delivered, d)
	busy := func(cpu int) float64 {
		if cpu >= len(a.CPUs) || cpu >= len(b.CPUs) || d <= 0 {
			return 0
		}
		return float64(b.CPUs[cpu].Busy()-a.CPUs[cpu].Busy()) / (d.Seconds() * userHZ)
	}
	p.DirBusy, p.GenBusy = busy(r.o.DirCPU), busy(r.o.GenCPU)
	p.DirDrops = perSecond(backlogDrops(fs.a.backlog, fs.b.backlog, r.o.DirCPU), d)
	p.GenDrops = perSecond(backlogDrops(fs.a.backlog, fs.b.backlog, r.o.GenCPU), d)
	return p, nil
}
