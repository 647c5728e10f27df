package bench

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Report file names in the out dir.
const (
	ReportMarkdown = "report.md"
	ReportJSON     = "report.json"
)

// Baseline is the contender lvsd's ratios divide by: the kernel doing the
// same job (nftables DNAT with numgen load balancing and conntrack).
const baselineContender = "klb"

// WriteReports writes report.md and report.json into dir.
func WriteReports(dir string, r *Report) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating report dir: %w", err)
	}
	j, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding report.json: %w", err)
	}
	files := map[string][]byte{ReportMarkdown: []byte(Markdown(r)), ReportJSON: append(j, '\n')}
	if r.Scaling != nil {
		for name, p := range r.Scaling.plots() {
			files[name] = p.SVG()
		}
	}
	if r.Overload != nil {
		for name, p := range r.Overload.plots() {
			files[name] = p.SVG()
		}
	}
	for name, data := range files {
		tmp := filepath.Join(dir, "."+name+".tmp")
		if err := os.WriteFile(tmp, data, 0o644); err != nil {
			return fmt.Errorf("writing %s: %w", name, err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
			return fmt.Errorf("writing %s: %w", name, err)
		}
	}
	return nil
}

// Markdown renders the report: headline table with lvsd ÷ kernel ratios,
// who ran and how, the method, every repetition, and the micro-benchmarks.
func Markdown(r *Report) string {
	var b strings.Builder
	w := func(f string, a ...any) { fmt.Fprintf(&b, f, a...) }
	s := r.Settings
	w("# lvs-go benchmark: lvsd against the kernel, same topology, same run\n\n")
	w("- **When:** %s (%s mode, %d repetitions interleaved, %s windows after %s warm-up; took %s)\n",
		r.Started.UTC().Format("2006-01-02 15:04 UTC"), s.Mode, s.Reps, dur(s.Window), dur(s.Warmup), dur(r.Duration.Round(time.Second)))
	m := r.Machine
	w("- **Machine:** %d × %s, %.0f GiB, Linux %s, %s; load average at start %s\n", m.CPUs, m.CPUModel, m.MemGiB, m.Kernel, m.Go, m.LoadAvg)
	w("- **Pinning:** %s\n", strings.Join(r.Pinning, "; "))
	w("- **Traffic:** %d-byte UDP frames, %d flows (source address and port pairs); fixed load %s pps with %d latency probes/s; TCP %d workers, connections closed with %s\n\n",
		s.FrameBytes, s.Flows, num(s.LoadPPS), s.ProbeRate, s.TCPWorkers, tcpCloseName(s.TCPClose))
	writeHeadline(&b, r)
	writeIPv6(&b, r) // report6.go
	if r.Overload != nil {
		writeOverload(&b, r.Overload, s)
	}
	writeContenders(&b, r)
	w("## Topology\n\n```\n%s```\n\n", r.Topology)
	w("## Method\n\n%s\n", methodText(s))
	writeReps(&b, r)
	if r.Scaling != nil {
		writeScaling(&b, r.Scaling, s)
	}
	if len(r.Notes) > 0 {
		w("## Notes\n\n")
		for _, n := range r.Notes {
			w("- %s\n", n)
		}
		w("\n")
	}
	if r.Micro != "" {
		w("## Micro-benchmarks (`go test -bench`, benchstat format)\n\n```\n%s\n```\n", strings.TrimRight(r.Micro, "\n"))
	}
	return b.String()
}

// lvsdContenders are the lvsd contenders of r, available or not.
func lvsdContenders(r *Report) []*Contender {
	var out []*Contender
	for _, c := range r.Contenders {
		if c.Kind == "lvsd" {
			out = append(out, c)
		}
	}
	return out
}

func writeHeadline(b *strings.Builder, r *Report) {
	w := func(f string, a ...any) { fmt.Fprintf(b, f, a...) }
	lv := lvsdContenders(r)
	w("## Results\n\nMedian (min–max) over the repetitions. Ratios are medians of lvsd ÷ medians of the kernel doing the same job (in brackets, the median of the repetitions' own ratios, lvsd's window ÷ the kernel's of the same repetition, which a slow stretch of the machine moves less): the nftables DNAT (%s) for NAT, nftables ip6 DNAT (%s) for IPv6 NAT, plain forwarding on the DR segment (%s) for direct routing (this kernel has no IPVS); for pps and connections higher is better, for CPU and latency lower is better.\n\n", baselineContender, KernelLB6, KernelDR)
	w("| figure |")
	for _, c := range r.Contenders {
		w(" %s |", headLabel(c))
	}
	for _, c := range lv {
		w(" %s ÷ %s |", c.Name, baseOf(c))
	}
	w("\n|---|")
	for range len(r.Contenders) + len(lv) {
		w("---:|")
	}
	w("\n")
	for _, f := range Figures {
		if !anyMeasured(r, f) {
			continue
		}
		unit := ""
		if f.Unit != "" {
			unit = " (" + f.Unit + ")"
		}
		w("| %s%s |", f.Name, unit)
		for _, c := range r.Contenders {
			w(" %s |", cell(c, f))
		}
		for _, c := range lv {
			if f.Context {
				w(" |")
				continue
			}
			w(" %s |", pairedCell(c, r.Contender(baseOf(c)), f))
		}
		w("\n")
	}
	w("\n")
	for _, c := range lv {
		if n := generatorBound(c, r.Contender(baseOf(c))); n != "" {
			w("- %s\n", n)
		}
	}
	if n := stealNote(r); n != "" {
		w("- %s\n", n)
	}
	w("\n")
}

// stealNote says how many windows the hypervisor took a core during
// (Rep.Remeasured: measured again; CPUCost.Steal of a window kept; of
// those, the ones the figures leave out, Contender.markStolen), by
// contender; "" when none.
func stealNote(r *Report) string {
	var parts []string
	again, kept, out := 0, 0, 0
	for _, c := range r.Contenders {
		c.markStolen()
		a, k, o := 0, 0, 0
		for _, x := range c.Runs {
			a += len(x.Remeasured)
			for w := range winKinds {
				if st, _ := x.steal(w); st > 0 {
					k++
				}
				if x.out[w] {
					o++
				}
			}
		}
		if a+k > 0 {
			parts = append(parts, fmt.Sprintf("%s %d/%d/%d", c.Name, a, k, o))
		}
		again, kept, out = again+a, kept+k, out+o
	}
	if again+kept == 0 {
		return ""
	}
	return fmt.Sprintf("The hypervisor took the generator's or the director's core (/proc/stat steal) during %d windows, "+
		"measured again (up to %d times: --steal-retries), and %d windows kept with it, %d of which the figures leave out "+
		"(a contender's windows of a kind with steal, where it has at least %d of that kind without) "+
		"(contender: again/kept/left out: %s).",
		again, r.Settings.StealRetries, kept, out, minClean, strings.Join(parts, ", "))
}

// busyLimit is how busy a core must be (median over the repetitions) to
// count as the one that bounded a saturation window.
const busyLimit = 0.95

// generatorBound says, when it is so, that the saturation windows of
// lvsd contender c and its kernel base were bound by the generator's
// core rather than the director's (the director core had room in one of
// them while the generator's was full), so their delivered ratio measures
// how fast the generator could send to each, not the director; "" when
// both directors were full, or the figures are missing.
func generatorBound(c, base *Contender) string {
	if base == nil || !c.Available || !base.Available {
		return ""
	}
	dc, db := c.Summary(figure(satDirBusy)), base.Summary(figure(satDirBusy))
	gc, gb := c.Summary(figure(satGenBusy)), base.Summary(figure(satGenBusy))
	if dc.N == 0 || db.N == 0 || gc.N == 0 || gb.N == 0 {
		return ""
	}
	// The rows are in per cent.
	if min(dc.Median, db.Median) >= 100*busyLimit || max(gc.Median, gb.Median) < 100*busyLimit {
		return ""
	}
	return fmt.Sprintf("**%s ÷ %s at saturation was bound by the generator's core**, not the director's: the director core "+
		"was %.0f %% and %.0f %% busy, the generator's %.0f %% and %.0f %% (medians); the delivered ratio says how fast "+
		"the generator could send through each, and the director's cost is its CPU per packet.",
		c.Name, base.Name, dc.Median, db.Median, gc.Median, gb.Median)
}

// headLabel is c's column heading: its label, and for lvsd the dataplane
// mode it reported, so every lvsd figure names the mode it used.
func headLabel(c *Contender) string {
	if c.Kind != "lvsd" || !c.Available {
		return c.Label
	}
	return c.Label + " [" + modeText(c.Modes()) + "]"
}

// baseOf is the kernel contender c's ratios divide by.
func baseOf(c *Contender) string {
	if c.Base != "" {
		return c.Base
	}
	return baselineContender
}

func anyMeasured(r *Report, f Figure) bool {
	for _, c := range r.Contenders {
		if c.Summary(f).N > 0 {
			return true
		}
	}
	return false
}

// cell is "median (min–max)", "—" when nothing was measured, or "n/a"
// for a contender that did not run.
func cell(c *Contender, f Figure) string {
	if !c.Available {
		return "n/a"
	}
	sp := c.Summary(f)
	if sp.N == 0 {
		return "—"
	}
	if sp.Min == sp.Max {
		return num(sp.Median)
	}
	return fmt.Sprintf("%s (%s–%s)", num(sp.Median), num(sp.Min), num(sp.Max))
}

func ratioCell(c, base *Contender, f Figure) string {
	if base == nil || !c.Available || !base.Available {
		return "n/a"
	}
	x := Ratio(c.Summary(f), base.Summary(f))
	if math.IsNaN(x) {
		return "—"
	}
	return fmt.Sprintf("%.2f×", x)
}

// pairedCell is ratioCell with, for more than one repetition, the median
// of the repetitions' own ratios beside it (PairedRatio).
func pairedCell(c, base *Contender, f Figure) string {
	cell := ratioCell(c, base, f)
	if !strings.HasSuffix(cell, "×") {
		return cell
	}
	n := max(len(c.Runs), len(base.Runs))
	if p := PairedRatio(c.ByRep(f, n), base.ByRep(f, n)); n > 1 && !math.IsNaN(p) {
		return fmt.Sprintf("%s (pairs %.2f×)", cell, p)
	}
	return cell
}

func writeContenders(b *strings.Builder, r *Report) {
	fmt.Fprintf(b, "## Contenders\n\n| name | who does the director's job | dataplane mode (lvsd's /metrics) | pinning | ran |\n|---|---|---|---|---|\n")
	for _, c := range r.Contenders {
		ran := fmt.Sprintf("%d repetition(s)", len(c.Runs))
		if !c.Available {
			ran = "**not available:** " + oneLine(c.Reason)
		}
		pin := c.Pinning
		if pin == "" {
			pin = "—"
		}
		mode := "—"
		if c.Kind == "lvsd" && c.Available {
			mode = modeText(c.Modes())
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s |\n", c.Name, c.Label, mode, pin, ran)
	}
	b.WriteString("\n")
}

func writeReps(b *strings.Builder, r *Report) {
	w := func(f string, a ...any) { fmt.Fprintf(b, f, a...) }
	w("## Every repetition\n\n| contender | rep | dataplane mode | sat. sent pps | sat. delivered pps | split over real servers | dir. core busy | sat. ns/pkt dir./machine | load delivered pps | load ns/pkt dir./machine | p50 / p99 µs (lost) | conn/s (failed) | error |\n")
	w("|---|---:|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---|\n")
	for _, c := range r.Contenders {
		for _, x := range c.Runs {
			mode := "—"
			if c.Kind == "lvsd" {
				mode = modeText(x.Mode)
			}
			w("| %s | %d | %s |", c.Name, x.Rep, mode)
			if u := x.UDP; u != nil {
				w(" %s | %s | %s | %.0f%% | %s / %s |", num(u.SentPPS), num(u.DeliveredPPS), shares(u.PerServer), 100*u.CPU.DirectorBusy, num(u.CPU.DirectorNs), num(u.CPU.MachineNs))
			} else {
				w(" — | — | — | — | — |")
			}
			if p := x.Paced; p != nil {
				w(" %s | %s / %s | %s / %s (%d) |", num(p.DeliveredPPS), num(p.CPU.DirectorNs), num(p.CPU.MachineNs),
					micros(p.Latency.P50), micros(p.Latency.P99), p.Latency.Lost)
			} else {
				w(" — | — | — |")
			}
			if t := x.TCP; t != nil {
				w(" %s (%d) |", num(t.PerSec), t.Failures)
			} else {
				w(" — |")
			}
			w(" %s |\n", oneLine(x.Err))
		}
	}
	w("\n")
}

// shares renders a split as percentages: "50/50 %"; "—" when empty.
func shares(xs []uint64) string {
	var total uint64
	for _, x := range xs {
		total += x
	}
	if total == 0 {
		return "—"
	}
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = fmt.Sprintf("%.0f", 100*float64(x)/float64(total))
	}
	return strings.Join(parts, "/") + " %"
}

// methodText explains exactly what each figure is.
func methodText(s Settings) string {
	return fmt.Sprintf(`- **Order.** Repetition 1 runs every contender, then repetition 2, and so on, so slow drift of a shared machine
  spreads over all contenders. Each contender is set up on the same namespaces and torn down after its windows.
- **Saturation.** A raw-frame generator (AF_PACKET, PACKET_QDISC_BYPASS, sendmmsg of prebuilt frames over %d
  flows: source ports 1024… of addresses in 10.250.1.128/25, or 10.250.3.128/25 on the DR segment) runs on core %d
  in the client namespace as fast as it can. *Delivered* is the sum of the real servers' rx_packets over the
  window (they count and drop the flood at netdev ingress, by its source addresses); *sent* is what the
  generator handed to the kernel; the split over real servers is shown per repetition. NAT contenders get it
  on the director's eth0; the DR contenders on its eth1, through the bridge, from the client's eth1 (the
  bridge's work on the requests runs on the generator's core). The busy rows say which core was full: a
  pair whose director core had room while the generator's was full compared the generator, and says so
  under the table.
- **CPU per packet** comes from /proc/stat (ticks of USER_HZ %d): busy = user + nice + system + irq + softirq
  time over the window, minus each core's busy rate in idle baseline windows of %s (responders up, no
  traffic, no contender: so an lvsd that spins while idle is charged for it) — one just before the contender
  is set up, one just after it is torn down, the smaller rate per core and state (other people's work comes
  in bursts) — divided by the packets delivered. *Director core* is core %d alone: the kernel's forwarding is steered
  there with RPS on the director's public veth and lvsd (1 worker) is pinned there; the real servers' receive
  path and responders run there too, for every contender alike. *Whole machine* adds the generator's core
  (and lvsd's second worker). The same method is used for the kernel and for lvsd, and lvsd's own process time
  (utime + stime from /proc/PID/stat) is shown beside it. Caveats: the accounting is tick-sampled, and on a core
  that idles between bursts the tick stops and misses some softirq work, so figures below saturation lean low;
  and the baseline assumes other people's work (shown as "machine busy in the idle baseline") goes on
  unchanged, while traffic displaces it — read the figures of a loaded machine with care.
- **Fixed load.** The generator offers %s pps (paced in batches) while %d UDP requests/s go from 8 client sockets
  to the UDP echo service through the director; latency is the round trip, nearest-rank p50/p99; a request
  unanswered within 100 ms counts as lost. Delivered (and CPU per packet) count the requests too.
- **TCP connections.** %d client threads on core %d each connect, read the server's greeting, send a 5-byte
  request, read its echo and close with an RST (SO_LINGER 0, so no TIME_WAIT; as in the reference probe), or
  with --tcp-close fin with a FIN, the client first (its TIME_WAIT ports reused after a second, tcp_tw_reuse).
  Failed or timed-out connections are counted, not retried. The real servers' responders and the client's
  TCP receive run on the director's core too, for every contender: most of that core's time per connection is
  theirs. SYN and SYN-ACK retransmits (the client's and the real servers' TcpExt counters) are reported: each
  stalls a client thread for a second. On this VM the same work has taken up to twice as long in some windows
  as in others, for every contender alike. The responders' user CPU per connection (utime) is the same code
  doing the same work whichever contender runs, so it follows the machine's speed inside the window, coarsely:
  it counts 10 ms ticks, about 20 in a 2 s window, and has read up to 40 %% off a perf profile's figure. Other
  processes' CPU is what processes outside the run (other people's builds and tests; not kernel threads) took
  during the window, on any core: it comes out of whichever contender is measured.
- **IPv6 NAT** (%s, %s): the same saturation and fixed-load windows over IPv6 (%d-byte frames, the same payload),
  no TCP window; see the IPv6 section above.
- Timing never fails anything: a window that cannot measure reports "—".
`, s.Flows, s.GenCPU, userHZ, dur(s.Baseline), s.DirectorCPU, num(s.LoadPPS), s.ProbeRate, s.TCPWorkers, s.GenCPU, KernelLB6, LVSD6, frameBytes6)
}

// num formats with thousands separators and at most 2 decimals for small
// numbers; NaN is "—".
func num(x float64) string {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return "—"
	}
	if math.Abs(x) < 100 && x != math.Trunc(x) {
		return fmt.Sprintf("%.2f", x)
	}
	s := fmt.Sprintf("%.0f", math.Abs(x))
	var out []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	if x < 0 {
		return "-" + string(out)
	}
	return string(out)
}

func micros(d time.Duration) string {
	if d == 0 {
		return "—"
	}
	return fmt.Sprintf("%.0f", float64(d)/1e3)
}

func dur(d time.Duration) string {
	if d%time.Second == 0 {
		return fmt.Sprintf("%ds", int(d/time.Second))
	}
	return d.String()
}

// oneLine keeps table cells on one line and short.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	s = strings.ReplaceAll(s, "|", "\\|")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

// tcpCloseName says how the TCP window's connections ended.
func tcpCloseName(c string) string {
	if c == "fin" {
		return "a FIN (the client first)"
	}
	return "an RST"
}
