//go:build linux

package bench

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// snap is everything read at one edge of a measured window.
type snap struct {
	use       Usage
	delivered uint64    // real servers' eth0 rx_packets, summed
	perServer []uint64  // each real server's eth0 rx_packets
	sent      uint64    // the generator's counter
	backlog   []Backlog // each CPU's receive backlog (/proc/net/softnet_stat)
	// responders is the real servers' responders' CPU times, summed:
	// the same code for every contender.
	responders ProcTimes
}

// split is the delivered packets per real server between a and b.
func split(a, b snap) []uint64 {
	out := make([]uint64, min(len(a.perServer), len(b.perServer)))
	for i := range out {
		out[i] = b.perServer[i] - a.perServer[i]
	}
	return out
}

func readCPU() (CPUSample, error) {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return CPUSample{}, err
	}
	defer f.Close()
	at := time.Now()
	cpus, err := ParseProcStat(f)
	return CPUSample{At: at, CPUs: cpus}, err
}

// readBacklog reads each CPU's receive-backlog counters.
func readBacklog() ([]Backlog, error) {
	f, err := os.Open("/proc/net/softnet_stat")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ParseSoftnet(f)
}

func (r *runner) snap(f *flood, p *proc) (snap, error) {
	var s snap
	var err error
	if s.use.CPU, err = readCPU(); err != nil {
		return s, err
	}
	if s.backlog, err = readBacklog(); err != nil {
		return s, err
	}
	if p != nil {
		s.use.Contender, _ = procTimes(p.pid)
	}
	for _, q := range r.responders {
		t, _ := procTimes(q.pid)
		s.responders.User += t.User
		s.responders.System += t.System
	}
	for _, n := range r.tb.realNodes() {
		st, err := n.stats("eth0")
		if err != nil {
			return s, err
		}
		s.delivered += st.RxPackets
		s.perServer = append(s.perServer, st.RxPackets)
	}
	if f != nil {
		s.sent = f.sent.Load()
	}
	return s, nil
}

// baseline measures each CPU's busy rate over an idle window.
func (r *runner) baseline(ctx context.Context) (Baseline, error) {
	a, err := readCPU()
	if err != nil {
		return Baseline{}, err
	}
	if err := sleepCtx(ctx, r.o.Baseline); err != nil {
		return Baseline{}, err
	}
	b, err := readCPU()
	return BaselineOf(a, b), err
}

// recost computes the CPU figures of x again with bl.
func (r *runner) recost(x *Rep, bl Baseline) {
	if u := x.UDP; u != nil {
		u.CPU = CostOf(u.use[0], u.use[1], bl, r.o.DirCPU, u.Delivered)
	}
	if p := x.Paced; p != nil {
		p.CPU = CostOf(p.use[0], p.use[1], bl, r.o.DirCPU, uint64(p.Delivered()+0.5))
	}
	if t := x.TCP; t != nil {
		t.CPU = CostOf(t.use[0], t.use[1], bl, r.o.DirCPU, t.Conns)
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// floodStats is the outcome of one flood window.
type floodStats struct {
	w          window
	a, b       snap
	probes     probeResult
	procPerPkt float64
	progNs     float64 // --prog-stats
}

// flood runs the generator at rate (0: flat out) towards dst for warm-up
// plus window, with latency probes to probe when valid, and reads the
// counters at the window's edges. Every goroutine it starts has ended
// when it returns.
//
// hook names the window for --during (duringSaturation or duringFixed;
// "" for the overload and scaling windows, which run no --during command).
func (r *runner) flood(ctx context.Context, c contender, dst netip.AddrPort, rate float64, probe netip.AddrPort, flows int, hook string) (floodStats, error) {
	tb := r.tb
	f := newFlood(tb.path(c.dr()), dst, flows)
	if s, ok := c.(interface{ spread(*flood) }); ok {
		s.spread(f) // lvsd-ecmp: each flow to one of two directors (ecmp_linux.go)
	}
	gp := tb.path(c.dr())
	start := time.Now()
	out := floodStats{w: window{From: start.Add(r.o.Warmup), To: start.Add(r.o.Warmup + r.o.Window)}}
	deadline := out.w.To.Add(200 * time.Millisecond)
	genErr := make(chan error, 1)
	go func() {
		genErr <- inNS(tb.cli.ns, r.o.GenCPU, func() error {
			fd, err := openPacket(gp.ifindex)
			if err != nil {
				return err
			}
			defer unix.Close(fd)
			return f.run(fd, deadline, rate)
		})
	}()
	probeDone := make(chan error, 1)
	if probe.IsValid() {
		go func() {
			probeDone <- inNS(tb.cli.ns, r.o.GenCPU, func() (err error) {
				out.probes, err = probeLatency(probe, r.o.ProbeRate, out.w)
				return err
			})
		}()
	} else {
		probeDone <- nil
	}
	h := r.during(c, start, hook)
	ps := r.progStats(c, hook)
	var err error
	if err = sleepUntil(ctx, out.w.From); err == nil {
		ps.read(0)
		if out.a, err = r.snap(f, c.process()); err == nil {
			if err = sleepUntil(ctx, out.w.To); err == nil {
				out.b, err = r.snap(f, c.process())
				ps.read(1)
			}
		}
	}
	out.progNs = ps.end()
	if herr := h.end(); herr != nil {
		r.notes = append(r.notes, fmt.Sprintf("%s: --during: %v", c.info().Name, herr))
	}
	f.stop.Store(true)
	if gerr := <-genErr; err == nil && gerr != nil {
		err = fmt.Errorf("generator: %w", gerr)
	}
	if perr := <-probeDone; err == nil && perr != nil {
		err = fmt.Errorf("latency probes: %w", perr)
	}
	if d := out.b.delivered - out.a.delivered; err == nil && d > 0 && c.process() != nil {
		k := out.b.use.Contender.sub(out.a.use.Contender)
		out.procPerPkt = float64(k.User+k.System) / userHZ * 1e9 / float64(d)
	}
	return out, err
}

func sleepUntil(ctx context.Context, t time.Time) error { return sleepCtx(ctx, time.Until(t)) }

// saturation is the flat-out UDP window.
func (r *runner) saturation(ctx context.Context, c contender, bl Baseline) (*UDPRun, error) {
	udp, _ := c.targets()
	fs, err := r.flood(ctx, c, udp, 0, netip.AddrPort{}, r.o.Flows, duringSaturation)
	if err != nil {
		return nil, err
	}
	d := fs.b.use.CPU.At.Sub(fs.a.use.CPU.At)
	sent, delivered := fs.b.sent-fs.a.sent, fs.b.delivered-fs.a.delivered
	return &UDPRun{
		Window: d, Sent: sent, Delivered: delivered,
		SentPPS: perSecond(sent, d), DeliveredPPS: perSecond(delivered, d),
		CPU:           CostOf(fs.a.use, fs.b.use, bl, r.o.DirCPU, delivered),
		ProcNs:        fs.procPerPkt,
		ProgNs:        fs.progNs,
		GeneratorBusy: busyShare(fs.a.use.CPU, fs.b.use.CPU, r.o.GenCPU),
		PerServer:     split(fs.a, fs.b),
		use:           [2]Usage{fs.a.use, fs.b.use},
	}, nil
}

// fixedLoad is the paced UDP window with latency probes.
func (r *runner) fixedLoad(ctx context.Context, c contender, bl Baseline) (*PacedRun, error) {
	udp, _ := c.targets()
	fs, err := r.flood(ctx, c, udp, r.o.LoadPPS, udp, r.o.Flows, duringFixed)
	if err != nil {
		return nil, err
	}
	d := fs.b.use.CPU.At.Sub(fs.a.use.CPU.At)
	sent, delivered := fs.b.sent-fs.a.sent, fs.b.delivered-fs.a.delivered
	return &PacedRun{
		Window: d, OfferedPPS: r.o.LoadPPS,
		SentPPS: perSecond(sent, d), DeliveredPPS: perSecond(delivered, d),
		CPU:     CostOf(fs.a.use, fs.b.use, bl, r.o.DirCPU, delivered),
		ProcNs:  fs.procPerPkt,
		ProgNs:  fs.progNs,
		Latency: LatencyOf(fs.probes.samples, fs.probes.sent),
		use:     [2]Usage{fs.a.use, fs.b.use},
	}, nil
}

// connections is the TCP connection-rate window.
func (r *runner) connections(ctx context.Context, c contender, bl Baseline) (*TCPRun, error) {
	_, dst := c.targets()
	start := time.Now()
	w := window{From: start.Add(r.o.Warmup), To: start.Add(r.o.Warmup + r.o.Window)}
	res := &tcpResult{}
	if r.o.TCPFin { // the clients' ports come back from TIME_WAIT after a second
		if err := r.tb.cli.sysctl("net.ipv4.tcp_tw_reuse", "1"); err != nil {
			return nil, err
		}
	}
	done := make(chan error, r.o.TCPWorkers)
	for range r.o.TCPWorkers {
		go func() {
			done <- inNS(r.tb.cli.ns, r.o.GenCPU, func() error { connectLoop(dst, w, r.o.TCPFin, res); return nil })
		}()
	}
	hook := r.during(c, start, duringTCP)
	var a, b snap
	var cliA, cliB, rsA, rsB TCPCounters
	var procsA, procsB procSnap
	var err error
	if err = sleepUntil(ctx, w.From); err == nil {
		if a, err = r.snap(nil, c.process()); err == nil {
			if cliA, rsA, err = r.tb.tcpCounters(); err == nil {
				procsA = readProcSnap()
				if err = sleepUntil(ctx, w.To); err == nil {
					if b, err = r.snap(nil, c.process()); err == nil {
						cliB, rsB, err = r.tb.tcpCounters()
						procsB = readProcSnap()
					}
				}
			}
		}
	}
	if herr := hook.end(); err == nil && herr != nil {
		r.notes = append(r.notes, fmt.Sprintf("%s: --during: %v", c.info().Name, herr))
	}
	for range r.o.TCPWorkers { // each worker stops by w.To plus one bounded connection
		if werr := <-done; err == nil && werr != nil {
			err = werr
		}
	}
	if err != nil {
		return nil, err
	}
	d := b.use.CPU.At.Sub(a.use.CPU.At)
	var proc, resp float64
	if res.conns > 0 && c.process() != nil {
		k := b.use.Contender.sub(a.use.Contender)
		proc = float64(k.User+k.System) / userHZ * 1e9 / float64(res.conns)
	}
	if res.conns > 0 {
		// utime only: their stime takes in the softirq work that
		// interrupts them, the contender's included.
		resp = float64(b.responders.User-a.responders.User) / userHZ * 1e9 / float64(res.conns)
	}
	return &TCPRun{
		Window: d, Conns: res.conns, Failures: res.failures,
		PerSec:  perSecond(res.conns, w.To.Sub(w.From)),
		CPU:     CostOf(a.use, b.use, bl, r.o.DirCPU, res.conns),
		ProcNs:  proc,
		Latency: LatencyOf(res.times, int(res.conns)),
		Client:  cliB.sub(cliA), Servers: rsB.sub(rsA),
		RespondersNs: resp, ForeignNs: float64(foreignTicks(procsA, procsB, os.Getpid())) / userHZ * 1e9,
		use: [2]Usage{a.use, b.use},
	}, nil
}
