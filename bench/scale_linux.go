//go:build linux

package bench

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"lvs/config"
)

// scaling runs the memory and scaling-curve phase into sc. Failures are
// recorded per point; only a cancelled ctx is returned.
func (r *runner) scaling(ctx context.Context, sc *Scaling, lvsd, why string) error {
	tb := r.tb
	saved := r.o
	defer func() { r.o = saved }()
	r.o.Warmup, r.o.Window = r.o.scaleWindows()
	r.con.status("scaling · idle baseline")
	bl, err := r.baseline(ctx)
	if err != nil {
		return ctxErr(ctx, err)
	}
	r.scaleBase = bl
	if err := tb.dirNode.sysctl("net.netfilter.nf_conntrack_udp_timeout", "120"); err != nil {
		sc.Notes = append(sc.Notes, err.Error())
	}
	if err := r.addScaleServers(ctx); err != nil {
		return fmt.Errorf("adding the scaling real servers: %w", err)
	}
	e := &scaleEnv{r: r, sc: sc, lvsd: lvsd, why: why, logs: filepath.Join(r.o.Out, "logs"),
		base: siteSpec{primary: directorPub, vip: vip, natRouter: natRouter, reals: realAddrs(r.o.Servers), udpPort: udpPort, tcpPort: tcpPort}}
	phases := map[string]func(context.Context) error{"flows": e.flows, "servers": e.servers, "schedulers": e.schedulers}
	for _, name := range ScaleCurves {
		if !r.o.scaleCurve(name) {
			continue
		}
		if err := phases[name](ctx); err != nil {
			return err
		}
	}
	return nil
}

// scaleEnv is what the three phases of the scaling run share.
type scaleEnv struct {
	r               *runner
	sc              *Scaling
	lvsd, why, logs string
	base            siteSpec
}

// want reports whether the run includes contender name.
func (e *scaleEnv) want(name string) bool { return slices.Contains(e.r.o.Contenders, name) }

// mk makes the contender of one point: the kernel with pick, or lvsd with
// the site of spec (its lvs.cf kept in the logs).
func (e *scaleEnv) mk(name string, spec siteSpec, pick string) (contender, error) {
	info := &Contender{Name: name, Available: true}
	cfg := siteConfig(spec)
	if pick != "" {
		info.Kind = "kernel"
		return &kernelContender{c: info, mode: KernelLB, rules: kernelLBRules(cfg, lbTable, pick), natRouter: spec.natRouter, udp: spec.udpPort}, nil
	}
	if e.lvsd == "" {
		return nil, fmt.Errorf("%w: %s", errUnavailable, e.why)
	}
	info.Kind = "lvsd"
	cf := filepath.Join(e.logs, "lvs-"+strings.ReplaceAll(name, " ", "-")+".cf")
	if err := writeSite(cf, cfg); err != nil {
		return nil, err
	}
	return &lvsdContender{c: info, bin: e.lvsd, cf: cf, workers: 1, cpus: strconv.Itoa(e.r.o.DirCPU), udp: spec.udpPort, notes: &e.r.notes}, nil
}

// point measures one point of a curve; a failed point carries its error,
// only the run's cancellation is returned.
func (e *scaleEnv) point(ctx context.Context, name string, spec siteSpec, pick string) (CurvePoint, error) {
	var p CurvePoint
	c, err := e.mk(name, spec, pick)
	if err == nil {
		p, err = e.r.pointPPS(ctx, c)
		if l, ok := c.(*lvsdContender); ok {
			p.Mode = l.mode
		}
	}
	if err := ctxErr(ctx, nil); err != nil {
		return p, err
	}
	if err != nil {
		p.Err = err.Error()
	}
	return p, nil
}

// flows: memory and pps against the number of flows, one contender
// instance through every point, flows added in ascending order.
func (e *scaleEnv) flows(ctx context.Context) error {
	for _, x := range []struct{ name, pick string }{{LVSD1, ""}, {KernelLB, pickNumgen}} {
		if !e.want(x.name) {
			continue
		}
		c, err := e.mk(x.name, e.base, x.pick)
		if err != nil {
			e.sc.Notes = append(e.sc.Notes, fmt.Sprintf("%s: %v", x.name, err))
			continue
		}
		if err := e.r.flowCurve(ctx, e.sc, c); err != nil {
			return err
		}
	}
	return nil
}

// servers: pps against the number of real servers, the ends measured
// ScaleReps times in turns (serverRuns), each point the median of its
// runs (medianPoint).
func (e *scaleEnv) servers(ctx context.Context) error {
	points := serverPoints[e.r.o.Quick]
	contenders := []struct{ name, pick string }{{LVSD1, ""}, {KernelLB, pickNumgen}}
	runs := map[string]map[int][]CurvePoint{}
	for _, m := range serverRuns(points, e.r.o.ScaleReps) {
		spec := e.base
		spec.reals, spec.tcpPort = scaleAddrs(m), 0
		spec.natRouter, spec.natBits = scaleRouter, scaleNet.Bits()
		// The echo that answers from the address asked (see drEcho): the
		// responder's wildcard socket would answer from the real server's
		// first address, not the scaling one.
		spec.udpPort = udpPortDR
		for _, x := range contenders {
			if !e.want(x.name) {
				continue
			}
			e.r.con.status("scaling · %s · %d real servers", x.name, m)
			p, err := e.point(ctx, fmt.Sprintf("%s-%dservers", x.name, m), spec, x.pick)
			if err != nil {
				return err
			}
			p.X = float64(m)
			if runs[x.name] == nil {
				runs[x.name] = map[int][]CurvePoint{}
			}
			runs[x.name][m] = append(runs[x.name][m], p)
			e.r.con.logf("scaling %-8s %4d real servers: %s pps delivered, %s ns/pkt at fixed load (%s pps delivered, director core %.0f%% busy, softirq %s ns/pkt, process %s ns/pkt) %s",
				x.name, m, num(p.PPS), num(p.DirNs), num(p.FixedPPS), 100*p.DirBusy, num(p.DirSoftNs), num(p.ProcNs), p.Err)
		}
	}
	for _, x := range contenders {
		if runs[x.name] == nil {
			continue
		}
		cv := curve(&e.sc.Servers, x.name)
		for _, m := range points {
			cv.Points = append(cv.Points, medianPoint(runs[x.name][m]))
		}
	}
	return nil
}

// schedulers: pps against the scheduler, lvsd with each, the kernel's two
// choices beside the scheduler that does the same (numgen inc is round
// robin, jhash of the source is a source hash).
func (e *scaleEnv) schedulers(ctx context.Context) error {
	scheds := quickScheds
	if !e.r.o.Quick {
		scheds = nil
		for _, n := range config.SchedulerNames() {
			s, _ := config.ParseScheduler(n)
			scheds = append(scheds, s)
		}
	}
	type job struct {
		name, pick string
		sched      config.Scheduler
		idx        int
	}
	var jobs []job
	for i, s := range scheds {
		if e.want(LVSD1) {
			jobs = append(jobs, job{LVSD1, "", s, i})
		}
		if s == config.SchedRR && e.want(KernelLB) {
			jobs = append(jobs, job{"klb (numgen)", pickNumgen, s, i})
		}
		if s == config.SchedSH && e.want(KernelLBJhash) {
			jobs = append(jobs, job{"klb-jhash", pickJhash, s, i})
		}
	}
	for _, j := range jobs {
		spec := e.base
		spec.sched, spec.tcpPort = j.sched, 0
		e.r.con.status("scaling · %s · scheduler %v", j.name, j.sched)
		p, err := e.point(ctx, fmt.Sprintf("%s-%v", j.name, j.sched), spec, j.pick)
		if err != nil {
			return err
		}
		p.X, p.Label = float64(j.idx), j.sched.String()
		cv := curve(&e.sc.Schedulers, j.name)
		cv.Points = append(cv.Points, p)
		e.r.con.logf("scaling %-12s %-5v: %s pps delivered, %s ns/pkt at fixed load %s", j.name, j.sched, num(p.PPS), num(p.DirNs), p.Err)
	}
	return nil
}

// scaleAddrs returns the first n scaling real servers.
func scaleAddrs(n int) []netip.Addr {
	out := make([]netip.Addr, n)
	for k := range out {
		out[k] = scaleAddr(k)
	}
	return out
}

// addScaleServers spreads the scaling real servers' addresses over the
// real-server namespaces, gives the director an address in their subnet,
// and routes what they send from those addresses through their own
// nat_router (scaleRouter), as a NAT site of that size would.
func (r *runner) addScaleServers(ctx context.Context) error {
	tb := r.tb
	if err := tb.dirNode.addAddr("eth1", directorScale, scaleNet.Bits()); err != nil {
		return err
	}
	top := serverPoints[false][len(serverPoints[false])-1]
	for k := range top {
		if err := tb.rs[k%len(tb.rs)].addAddr("eth0", scaleAddr(k), scaleNet.Bits()); err != nil {
			return err
		}
	}
	routes := fmt.Sprintf("rule add from %v lookup 100 priority 100\nroute add %v dev eth0 table 100\nroute add default via %v dev eth0 table 100\n",
		scaleNet, scaleNet, scaleRouter)
	for _, n := range tb.rs {
		if err := n.run(ctx, routes, "ip", "-batch", "-"); err != nil {
			return err
		}
	}
	return nil
}

// pointPPS sets c up, measures delivered pps at saturation over the run's
// flows, and tears it down. A contender that does not come up is tried
// once more (lvsd has been seen not to answer for 15 s after a restart,
// then to answer at the next start); both errors are kept.
func (r *runner) pointPPS(ctx context.Context, c contender) (CurvePoint, error) {
	p, err := r.pointOnce(ctx, c)
	if !errors.Is(err, errUnavailable) || ctx.Err() != nil {
		return p, err
	}
	p, again := r.pointOnce(ctx, c)
	if again != nil {
		return p, fmt.Errorf("twice: %w; then: %v", err, again)
	}
	note := fmt.Sprintf("scaling point %s came up only at the second start; the first: %s", c.info().Name, oneLine(err.Error()))
	r.con.logf("%s", note)
	r.notes = append(r.notes, note)
	return p, nil
}

func (r *runner) pointOnce(ctx context.Context, c contender) (CurvePoint, error) {
	if err := r.tb.forgetOwned(); err != nil {
		return CurvePoint{}, err
	}
	defer r.teardown(ctx, c, 0)
	if err := c.setup(ctx, r.tb); err != nil {
		return CurvePoint{}, err
	}
	udp, _ := c.targets()
	if err := r.warm(ctx, c, udp, r.o.Flows); err != nil {
		return CurvePoint{}, err
	}
	return r.measurePoint(ctx, c, udp, r.o.Flows)
}

// warmPasses bounds the passes of warm.
const warmPasses = 5

// warm sends every one of the flows once, paced at fillRate, until a pass
// is delivered whole (99 %), so that a point measures the director's
// steady state and not its first resolution of the real servers' MAC
// addresses: with 1,000 real servers lvsd, which resolves them itself,
// held and dropped the first frames to each (neighbour_queue_full) and
// its ring overflowed with what the fast path could not yet forward —
// 530-640k ring drops in the windows of a 1,000-server point, none at
// 2 servers. Every contender gets the same passes.
func (r *runner) warm(ctx context.Context, c contender, dst netip.AddrPort, flows int) error {
	var got uint64
	for pass := range warmPasses {
		before := r.tb.delivered()
		if err := r.pacedPass(c, dst, flows, time.Second); err != nil {
			return err
		}
		if err := sleepCtx(ctx, warmSettle); err != nil {
			return err
		}
		if got = r.tb.delivered() - before; got >= uint64(flows)*99/100 {
			if pass > 0 {
				r.con.logf("scaling %s: warm after %d passes of %s flows", c.info().Name, pass+1, num(float64(flows)))
			}
			return nil
		}
	}
	note := fmt.Sprintf("scaling point %s: the last of %d warm-up passes delivered %s of %s frames; measured anyway", c.info().Name, warmPasses, num(float64(got)), num(float64(flows)))
	r.con.logf("%s", note)
	r.notes = append(r.notes, note)
	return nil
}

// measurePoint runs a scaling point's two windows over flows flows: flat
// out (delivered and sent pps), then at the run's fixed load (the
// director core's ns per packet).
func (r *runner) measurePoint(ctx context.Context, c contender, udp netip.AddrPort, flows int) (CurvePoint, error) {
	var p CurvePoint
	fs, err := r.flood(ctx, c, udp, 0, netip.AddrPort{}, flows, "")
	if err != nil {
		return p, err
	}
	d := fs.b.use.CPU.At.Sub(fs.a.use.CPU.At)
	p.PPS, p.Sent = perSecond(fs.b.delivered-fs.a.delivered, d), perSecond(fs.b.sent-fs.a.sent, d)
	fs, err = r.flood(ctx, c, udp, r.o.LoadPPS, netip.AddrPort{}, flows, "")
	if err != nil {
		return p, err
	}
	delivered := fs.b.delivered - fs.a.delivered
	p.FixedPPS = perSecond(delivered, fs.b.use.CPU.At.Sub(fs.a.use.CPU.At))
	if cost := CostOf(fs.a.use, fs.b.use, r.scaleBase, r.o.DirCPU, delivered); cost.Valid {
		p.DirNs, p.DirBusy, p.DirSoftNs = cost.DirectorNs, cost.DirectorBusy, cost.DirectorSoftNs
	}
	p.ProcNs = fs.procPerPkt
	return p, nil
}

// tableReader reads the number of entries in a contender's flow table and
// the memory the contender holds.
type tableReader struct {
	entries func() (int64, error)
	memory  func() (mem, wide int64, err error)
	method  string
	max     int64 // the table's hard limit, 0 if none that matters
}

func (r *runner) tableOf(c contender) tableReader {
	if p := c.process(); p != nil {
		return tableReader{
			entries: func() (int64, error) { return lvsdEntries(r.tb) },
			memory: func() (int64, int64, error) {
				rss, err := vmRSS(p.pid)
				return rss, 0, err
			},
			method: "lvsd VmRSS",
		}
	}
	max, _ := readIntIn(r.tb.dirNode, "/proc/sys/net/netfilter/nf_conntrack_max")
	return tableReader{
		entries: func() (int64, error) { return readIntIn(r.tb.dirNode, "/proc/sys/net/netfilter/nf_conntrack_count") },
		memory: func() (int64, int64, error) {
			objs, size, err := slabInfo("nf_conntrack")
			if err != nil {
				return 0, 0, err
			}
			wide, err := meminfoSlab()
			return objs * size, wide, err
		},
		method: "nf_conntrack slab",
		max:    max,
	}
}

// flowCurve sets c up once and, for each flow count in ascending order,
// opens the flows, reads the memory and measures pps over them.
func (r *runner) flowCurve(ctx context.Context, sc *Scaling, c contender) error {
	name := c.info().Name
	if err := r.tb.forgetOwned(); err != nil {
		return err
	}
	defer r.teardown(ctx, c, 0)
	r.con.status("scaling · %s · setting up", name)
	cv := curve(&sc.Flows, name)
	if err := c.setup(ctx, r.tb); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		sc.Notes = append(sc.Notes, fmt.Sprintf("%s: flows and memory not measured: %v", name, err))
		return nil
	}
	mode := ""
	if l, ok := c.(*lvsdContender); ok {
		mode = l.mode
	}
	tr := r.tableOf(c)
	sleepCtx(ctx, 300*time.Millisecond) // let the probes' entries settle
	e0, err0 := tr.entries()
	m0, w0, errm := tr.memory()
	if err := errors.Join(err0, errm); err != nil {
		sc.Notes = append(sc.Notes, fmt.Sprintf("%s: reading the idle table: %v", name, err))
		return nil
	}
	udp, _ := c.targets()
	for _, n := range flowPoints {
		p := CurvePoint{X: float64(n), Mode: mode}
		mp := MemPoint{Contender: name, Flows: n, Method: tr.method, Mode: mode}
		if tr.max > 0 && int64(n) > tr.max*9/10 {
			p.Err = fmt.Sprintf("over nf_conntrack_max %s (a host-wide setting lvsbench does not change)", num(float64(tr.max)))
			mp.Err = p.Err
			cv.Points = append(cv.Points, p)
			sc.Memory = append(sc.Memory, mp)
			continue
		}
		r.con.status("scaling · %s · opening %s flows", name, num(float64(n)))
		got, err := r.fill(ctx, c, udp, n, func() (int64, error) {
			e, err := tr.entries()
			return e - e0, err
		})
		if err := ctxErr(ctx, nil); err != nil {
			return err
		}
		if err == nil && got < int64(n)/2 {
			err = fmt.Errorf("only %s of %s flows reached the table", num(float64(got)), num(float64(n)))
		}
		if err == nil && got < int64(n)*99/100 {
			sc.Notes = append(sc.Notes, fmt.Sprintf("%s at %s flows: the table held %s of them after the fill passes (first packets lost at %s pps); bytes per flow divide by what it held",
				name, num(float64(n)), num(float64(got)), num(fillRate)))
		}
		if err != nil {
			mp.Err, p.Err = err.Error(), err.Error()
		} else {
			m, w, err := tr.memory()
			mp.Entries, mp.Bytes = got, m-m0
			mp.BytesPerFlow = float64(mp.Bytes) / float64(got)
			if c.process() != nil {
				mp.RSS = m
			} else {
				mp.SlabWide = w - w0
			}
			if err != nil {
				mp.Err = err.Error()
			}
		}
		if n >= 10_000 {
			sc.Memory = append(sc.Memory, mp)
		}
		if p.Err == "" {
			r.con.status("scaling · %s · pps over %s flows", name, num(float64(n)))
			m, err := r.measurePoint(ctx, c, udp, n)
			if err := ctxErr(ctx, nil); err != nil {
				return err
			}
			m.X, m.Mode = p.X, p.Mode
			if p = m; err != nil {
				p.Err = err.Error()
			}
		}
		cv.Points = append(cv.Points, p)
		r.con.logf("scaling %-8s %9s flows: %s entries, %s B/flow, %s pps delivered, %s ns/pkt at fixed load %s", name, num(float64(n)),
			num(float64(mp.Entries)), num(mp.BytesPerFlow), num(p.PPS), num(p.DirNs), p.Err)
	}
	return nil
}

// pacedPass sends each of n flows to dst once, paced at fillRate, from
// the generator's core, giving up after 1.5 times the pass's time and
// slack.
func (r *runner) pacedPass(c contender, dst netip.AddrPort, n int, slack time.Duration) error {
	gp := r.tb.path(c.dr())
	f := newFlood(gp, dst, n)
	f.limit = uint64(n)
	deadline := time.Now().Add(time.Duration(float64(n)/fillRate*1.5*float64(time.Second)) + slack)
	err := inNS(r.tb.cli.ns, r.o.GenCPU, func() error {
		fd, err := openPacket(gp.ifindex)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		return f.run(fd, deadline, fillRate)
	})
	if err != nil {
		return fmt.Errorf("generator: %w", err)
	}
	return nil
}

// fill sends every one of n flows once, paced at fillRate, until the
// table holds 99 % of them or a pass adds almost nothing (at most three
// passes), and returns how many entries the table gained.
func (r *runner) fill(ctx context.Context, c contender, dst netip.AddrPort, n int, entries func() (int64, error)) (int64, error) {
	var got int64
	for pass := range 3 {
		if err := r.pacedPass(c, dst, n, 2*time.Second); err != nil {
			return got, err
		}
		if err := sleepCtx(ctx, 300*time.Millisecond); err != nil {
			return got, err
		}
		e, err := entries()
		if err != nil {
			return got, err
		}
		grew := e - got
		got = e
		r.con.logf("scaling %s: fill pass %d of %s flows: the table holds %s", c.info().Name, pass+1, num(float64(n)), num(float64(got)))
		if got >= int64(n)*99/100 || (pass > 0 && grew < int64(n)/200) {
			break
		}
	}
	return got, nil
}

// lvsdEntries reads lvs_connection_table_entries from lvsd's /metrics.
func lvsdEntries(tb *testbed) (int64, error) {
	text, err := lvsdMetrics(tb)
	if err != nil {
		return 0, err
	}
	v, err := metricValue(text, "lvs_connection_table_entries")
	return int64(v), err
}

// vmRSS is the resident set of process pid, in bytes.
func vmRSS(pid int) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			f := strings.Fields(v)
			kb, err := strconv.ParseInt(f[0], 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmRSS for process %d", pid)
}

// readIntIn reads an integer file (a per-namespace sysctl) inside n.
func readIntIn(n *nsNode, path string) (int64, error) {
	var v int64
	err := inNS(n.ns, -1, func() error {
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		v, err = strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		return err
	})
	return v, err
}

// slabInfo returns the active objects and the object size of a slab cache.
func slabInfo(cache string) (objs, size int64, err error) {
	b, err := os.ReadFile("/proc/slabinfo")
	if err != nil {
		return 0, 0, err
	}
	return parseSlabInfo(string(b), cache)
}

// meminfoSlab is /proc/meminfo's Slab, in bytes.
func meminfoSlab() (int64, error) {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "Slab:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("/proc/meminfo has no Slab line")
}
