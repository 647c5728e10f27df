package sim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// The soak of issue 17: the failover site at moderate load for a long time
// (default 30 minutes) with a reload every 10 s, a health flap every 30 s
// and a takeover and failback every 5 minutes, while lvsd's RSS,
// goroutines, open file descriptors and connection table are sampled on
// both directors. It reports whether each stayed flat after warm-up by a
// stated rule, but never fails on timing: it fails when a download is
// corrupt, an lvsd exits, or a request or download fails with no event to
// explain it (a download cut by a flap — its server killed — is charged to
// the flap).

// SoakOptions tune `lvssim soak`; zero fields take the defaults.
type SoakOptions struct {
	Duration time.Duration // whole run (30 min)
	Reload   time.Duration // edit lvs.cf on the primary and SIGHUP it (10 s)
	Flap     time.Duration // stop a real server's service, start it again (30 s)
	Failover time.Duration // unplug the primary's public link, replug it (5 min)
	Sample   time.Duration // sampling period of both lvsd (5 s)
	Rate     float64       // HTTP requests per second (20)
}

func (so *SoakOptions) defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&so.Duration, 30*time.Minute)
	def(&so.Reload, 10*time.Second)
	def(&so.Flap, 30*time.Second)
	def(&so.Failover, 5*time.Minute)
	def(&so.Sample, 5*time.Second)
	if so.Rate <= 0 {
		so.Rate = 20
	}
}

// The soak's events, most disruptive first (a failure during two of them is
// charged to the first), and how long after an event ends its failures are
// still charged to it: a flapped server is noticed by the health check
// within its timeout (6 s), a failback settles within deadtime (3 s).
var (
	soakRank  = []string{"failover", "flap", "reload"}
	soakGrace = map[string]time.Duration{"failover": 10 * time.Second, "flap": 8 * time.Second, "reload": 3 * time.Second}
)

// flapDown is how long a flapped real server's service stays stopped, and
// unplugged how long the primary's public link stays down.
const (
	flapDown  = 10 * time.Second
	unplugged = 20 * time.Second
)

// usage is one sample of one director's lvsd.
type usage struct {
	T          time.Duration
	Node       string
	State      string // active, standby, … ("" when lvsd did not answer)
	RSS        float64
	Goroutines float64
	FDs        float64
	Conns      float64
	Err        string
}

// measure samples node's lvsd: RSS, goroutines and connection entries from
// its /metrics, open descriptors from /proc/PID/fd, its role from the pair
// status.
func (s *Site) measure(ctx context.Context, node string, t time.Duration) usage {
	u := usage{T: t, Node: node}
	p := s.Router.Process(node)
	if p == nil || p.Exited() {
		u.Err = "lvsd is not running"
		return u
	}
	if fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", p.PID)); err == nil {
		u.FDs = float64(len(fds))
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	fams, err := s.scrape(ctx, node)
	if err != nil {
		u.Err = err.Error()
		return u
	}
	u.RSS = metricSum(fams, "process_resident_memory_bytes")
	u.Goroutines = metricSum(fams, "go_goroutines")
	u.Conns = metricSum(fams, "lvs_connection_table_entries")
	if h, err := s.haStatus(ctx, node); err == nil {
		u.State = h.State
	}
	return u
}

// SoakResult is what a soak found.
type SoakResult struct {
	Duration  time.Duration
	Samples   []usage
	Events    []incident
	Load      *background
	Failed    map[string]int // failed requests per charged event kind
	Flat      []string       // one verdict line per node and measure
	Problems  []string       // what fails the soak
	Out       string
	Interrupt bool
}

// Soak runs the soak on the failover site and writes soak.csv, soak.svg
// and soak.md into the report directory. It returns ErrAssertions when a
// download was corrupt, an lvsd exited, an event failed, or a request or
// download failed with no event in effect.
//
// Downloads start 15 s after the minute, flaps on the half minute, so that
// no download starts at the instant its server is killed.
func Soak(ctx context.Context, o Options, so SoakOptions) (*SoakResult, error) {
	o.defaults()
	so.defaults()
	log := NewConsole(o.Stderr)
	return runLong(ctx, o, "soak", log, func(s *Site) *SoakResult { return s.soak(ctx, so, log) })
}

// longResult of a soak (runLong).
func (r *SoakResult) setOut(dir string) { r.Out = dir }
func (r *SoakResult) failed() bool      { return len(r.Problems) > 0 }
func (r *SoakResult) interrupted() bool { return r.Interrupt }

// soak drives the built site: load, the three event schedules and the
// sampler, all for so.Duration.
func (s *Site) soak(ctx context.Context, so SoakOptions, log io.Writer) *SoakResult {
	t0 := time.Now()
	events := &incidentLog{t0: t0, w: log}
	primary, backup := s.resolve("primary"), s.resolve("backup")
	nodes := []string{primary, backup}
	fmt.Fprintf(log, "soak: %v on the failover site: %.0f HTTP requests/s, a download every 60 s, reload every %v, flap every %v, failover every %v; sampling %s and %s every %v\n",
		so.Duration, so.Rate, so.Reload, so.Flap, so.Failover, primary, backup, so.Sample)
	v := s.Topo.Site.Config.Virtuals[0] // www, port 80
	web := netip.AddrPortFrom(v.Address, v.Port)
	load := s.startLoad(ctx, loadSpec{HTTPFrom: "client1", DownloadFrom: "client2",
		To: web, Rate: so.Rate, DownloadAt: 15 * time.Second, DownloadEvery: time.Minute,
		DownloadSize: 8 << 20, DownloadPace: 512 << 10}, t0, so.Duration)
	var mu sync.Mutex
	var samples []usage
	var wg sync.WaitGroup
	until := so.Duration - 5*time.Second
	wg.Go(func() { // reloads
		every(ctx, t0, so.Reload, so.Reload, until, func(int) {
			node := s.activeOf(ctx, nodes)
			in := events.begin("reload", "edit lvs.cf on "+node+" and SIGHUP")
			what, err := s.editConfig(ctx, node)
			events.end(in, what, err)
		})
	})
	var reals []*Node
	for _, n := range s.Topo.Nodes {
		if n.Role == RoleReal {
			reals = append(reals, n)
		}
	}
	// A flap and a failover never overlap, grace included, so that every
	// failure has one cause: a flap due during a failover is skipped, a
	// failover due during a flap waits for it.
	var disrupt sync.Mutex
	wg.Go(func() { // health flaps, one real server after the other
		every(ctx, t0, so.Flap, so.Flap, until-flapDown, func(i int) {
			if !disrupt.TryLock() {
				fmt.Fprintf(log, "%7.1fs  flap      skipped: a failover is in effect\n", time.Since(t0).Seconds())
				return
			}
			defer disrupt.Unlock()
			defer pauseFor(ctx, soakGrace["flap"])
			rs := reals[i%len(reals)].Name
			in := events.begin("flap", "")
			what, err := s.inject(ctx, &Fault{Kind: FaultStopService, Target: rs, Process: "responder"})
			if err == nil && pauseFor(ctx, flapDown) {
				var again string
				again, err = s.inject(ctx, &Fault{Kind: FaultStartService, Target: rs, Process: "responder"})
				what += "; " + again
			}
			events.end(in, what, err)
		})
	})
	wg.Go(func() { // takeover and failback
		every(ctx, t0, so.Failover, so.Failover, until-unplugged, func(int) {
			disrupt.Lock()
			defer disrupt.Unlock()
			defer pauseFor(ctx, soakGrace["failover"])
			in := events.begin("failover", "")
			what, err := s.failover(ctx, primary)
			events.end(in, what, err)
		})
	})
	wg.Go(func() { // sampler and progress
		every(ctx, t0, 0, so.Sample, so.Duration, func(i int) {
			t := time.Since(t0)
			var line []string
			for _, n := range nodes {
				u := s.measure(ctx, n, t)
				mu.Lock()
				samples = append(samples, u)
				mu.Unlock()
				line = append(line, fmt.Sprintf("%s %s rss %.1f MiB, %0.f goroutines, %.0f fds, %.0f conns",
					n, orDefault(u.State, "?"), u.RSS/(1<<20), u.Goroutines, u.FDs, u.Conns))
			}
			if i%max(1, int(30*time.Second/so.Sample)) == 0 {
				fmt.Fprintf(log, "[%5.0fs/%.0fs] %d answered, %d failed; %s\n", t.Seconds(), so.Duration.Seconds(),
					s.answered.Load(), s.failed.Load(), strings.Join(line, "; "))
			}
		})
	})
	wg.Wait()
	<-load.done
	r := &SoakResult{Duration: time.Since(t0), Samples: samples, Events: events.snapshot(), Load: load, Interrupt: ctx.Err() != nil}
	r.Failed = chargeFailures(r.Events, soakGrace, soakRank, load.HTTP, load.Downloads)
	r.judge(nodes)
	for _, n := range nodes {
		if p := s.Router.Process(n); p == nil || p.Exited() {
			r.Problems = append(r.Problems, "lvsd on "+n+" exited during the soak")
		}
	}
	if _, err := s.checkRoles(ctx); err != nil {
		r.Problems = append(r.Problems, "roles at the end: "+err.Error())
	}
	return r
}

// activeOf returns the first of nodes whose lvsd says it is active (config
// sync goes from the active router to the standby, so an administrator
// edits the active one's lvs.cf), or nodes[0].
func (s *Site) activeOf(ctx context.Context, nodes []string) string {
	for _, n := range nodes {
		if h, err := s.haStatus(ctx, n); err == nil && h.State == "active" {
			return n
		}
	}
	return nodes[0]
}

// failover unplugs node's public link (monitor_links: the backup takes
// over), plugs it back after unplugged and waits for the failback.
func (s *Site) failover(ctx context.Context, node string) (string, error) {
	down, err := s.inject(ctx, &Fault{Kind: FaultLinkDown, Target: node, Interface: "eth0"})
	if err != nil {
		return "", err
	}
	if !pauseFor(ctx, unplugged) {
		return down, ctx.Err()
	}
	up, err := s.inject(ctx, &Fault{Kind: FaultLinkUp, Target: node, Interface: "eth0"})
	if err != nil {
		return down, err
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		roles, err := s.checkRoles(ctx)
		if err == nil {
			return down + "; " + up + "; failback: " + roles, nil
		}
		if time.Now().After(deadline) || !pauseFor(ctx, time.Second) {
			return down + "; " + up, fmt.Errorf("no failback within 30s: %w", err)
		}
	}
}

// Flat after warm-up: the first third of a run is warm-up; a measure is
// flat when the median of the last third exceeds the median of the middle
// third by at most flatRatio, or by at most its slack (small absolute
// numbers: a few goroutines or descriptors come and go with requests).
const flatRatio = 0.10

var flatSlack = map[string]float64{"rss": 4 << 20, "goroutines": 8, "fds": 4, "conns": 64}

// flatness judges one series by the rule above.
func flatness(v []float64, slack float64) (mid, last float64, flat bool) {
	n := len(v)
	if n < 6 {
		return 0, 0, true
	}
	mid, last = median(v[n/3:2*n/3]), median(v[2*n/3:])
	return mid, last, last-mid <= max(slack, flatRatio*mid)
}

func median(v []float64) float64 {
	w := slices.Clone(v)
	slices.Sort(w)
	if len(w) == 0 {
		return 0
	}
	if len(w)%2 == 1 {
		return w[len(w)/2]
	}
	return (w[len(w)/2-1] + w[len(w)/2]) / 2
}

// measures are the sampled series, in the CSV's and the plot's order.
var measures = []struct {
	Name, Unit string
	Scale      float64
	Get        func(usage) float64
}{
	{"rss", "MiB", 1 << 20, func(u usage) float64 { return u.RSS }},
	{"goroutines", "", 1, func(u usage) float64 { return u.Goroutines }},
	{"fds", "", 1, func(u usage) float64 { return u.FDs }},
	{"conns", "", 1, func(u usage) float64 { return u.Conns }},
}

// series returns node's good samples of one measure.
func (r *SoakResult) series(node string, get func(usage) float64) []float64 {
	var v []float64
	for _, u := range r.Samples {
		if u.Node == node && u.Err == "" {
			v = append(v, get(u))
		}
	}
	return v
}

// judge states, per node and measure, start → end and the flat verdict,
// and lists the soak's failures.
func (r *SoakResult) judge(nodes []string) {
	for _, n := range nodes {
		for _, m := range measures {
			v := r.series(n, m.Get)
			if len(v) == 0 {
				r.Flat = append(r.Flat, fmt.Sprintf("%s %s: no samples", n, m.Name))
				continue
			}
			mid, last, flat := flatness(v, flatSlack[m.Name])
			verdict := "flat"
			if !flat {
				verdict = fmt.Sprintf("GREW %.0f%%", 100*(last-mid)/max(mid, 1))
			}
			f := func(x float64) string { return fmt.Sprintf("%.1f%s", x/m.Scale, unitSuffix(m.Unit)) }
			r.Flat = append(r.Flat, fmt.Sprintf("%s %s: %s → %s (max %s); median middle third %s, last third %s: %s",
				n, m.Name, f(v[0]), f(v[len(v)-1]), f(slices.Max(v)), f(mid), f(last), verdict))
		}
	}
	if c := r.Load.Downloads.Corrupt; c > 0 {
		r.Problems = append(r.Problems, fmt.Sprintf("%d downloads corrupt", c))
	}
	if d := r.Load.Downloads; !r.Interrupt && (d.Requests == 0 || d.NotRun > 0) {
		r.Problems = append(r.Problems, fmt.Sprintf("%d downloads made, %d not started", d.Requests, d.NotRun))
	}
	if n := r.Failed[steady]; n > 0 {
		r.Problems = append(r.Problems, fmt.Sprintf("%d requests failed with no event in effect", n))
	}
	for _, e := range r.Events {
		if e.Err != "" {
			r.Problems = append(r.Problems, fmt.Sprintf("%s at %.1fs failed: %s", e.Kind, e.Start.Seconds(), e.Err))
		}
	}
}

func unitSuffix(u string) string {
	if u == "" {
		return ""
	}
	return " " + u
}

// summary is the soak's report in Markdown (also printed).
func (r *SoakResult) summary() string {
	var b strings.Builder
	count := map[string]int{}
	for _, e := range r.Events {
		count[e.Kind]++
	}
	fmt.Fprintf(&b, "# lvssim soak: %.0fs on the failover site\n\n", r.Duration.Seconds())
	fmt.Fprintf(&b, "Events: %d reloads, %d health flaps, %d failovers (takeover and failback).\n\n", count["reload"], count["flap"], count["failover"])
	r.Load.writeTraffic(&b, "the event in effect", r.Failed, soakRank)
	fmt.Fprintf(&b, "\n## Resources (flat: last-third median ≤ middle-third median + max(%.0f%%, slack %v))\n\n", 100*flatRatio, flatSlackText())
	for _, l := range r.Flat {
		fmt.Fprintf(&b, "- %s\n", l)
	}
	r.Load.writeDownloads(&b)
	if len(r.Problems) == 0 {
		fmt.Fprintf(&b, "\nPASS: no corrupt download, both lvsd running, every failed request or download during an event, roles back at the end.\n")
	} else {
		fmt.Fprintf(&b, "\nFAIL:\n")
		for _, p := range r.Problems {
			fmt.Fprintf(&b, "- %s\n", p)
		}
	}
	fmt.Fprintf(&b, "\nFiles: %s (soak.csv, soak.svg, soak.md, events.txt, failures.csv)\n", r.Out)
	return b.String()
}

func flatSlackText() string {
	return fmt.Sprintf("RSS %d MiB, goroutines %.0f, fds %.0f, conns %.0f",
		int(flatSlack["rss"])>>20, flatSlack["goroutines"], flatSlack["fds"], flatSlack["conns"])
}

// write puts soak.csv, soak.svg, soak.md and events.txt into dir.
func (r *SoakResult) write(dir string) error {
	var csv strings.Builder
	csv.WriteString("t_s,node,state,rss_bytes,goroutines,fds,conns,error\n")
	for _, u := range r.Samples {
		fmt.Fprintf(&csv, "%.1f,%s,%s,%.0f,%.0f,%.0f,%.0f,%q\n", u.T.Seconds(), u.Node, u.State, u.RSS, u.Goroutines, u.FDs, u.Conns, u.Err)
	}
	var ev strings.Builder
	for _, e := range r.Events {
		fmt.Fprintf(&ev, "%d\t%.1fs\t%.1fs\t%s\t%s", e.N, e.Start.Seconds(), e.End.Seconds(), e.Kind, e.What)
		if e.Err != "" {
			fmt.Fprintf(&ev, "\terror: %s", e.Err)
		}
		ev.WriteString("\n")
	}
	return errors.Join(
		os.WriteFile(filepath.Join(dir, "soak.csv"), []byte(csv.String()), 0o644),
		os.WriteFile(filepath.Join(dir, "soak.svg"), []byte(r.chart()), 0o644),
		os.WriteFile(filepath.Join(dir, "soak.md"), []byte(r.summary()), 0o644),
		os.WriteFile(filepath.Join(dir, "events.txt"), []byte(ev.String()), 0o644),
		os.WriteFile(filepath.Join(dir, "failures.csv"), failuresCSV(r.Events, soakGrace, soakRank, r.Load.HTTP, r.Load.Downloads), 0o644))
}

// chart draws one panel per measure, one line per director, and the
// failovers as dashed markers (chart.go's polyline and legend).
func (r *SoakResult) chart() string {
	const w, ph, left, right, top, gap = 900, 170, 70, 150, 30, 40
	var nodes []string
	for _, u := range r.Samples {
		if !slices.Contains(nodes, u.Node) {
			nodes = append(nodes, u.Node)
		}
	}
	h := top + len(measures)*(ph+gap)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", w, h, w, h)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", w, h)
	fmt.Fprintf(&b, `<text x="%d" y="18" font-size="14">lvssim soak: lvsd on both directors over %.0f s (dashed: failovers)</text>`+"\n", left, r.Duration.Seconds())
	secs := max(r.Duration.Seconds(), 1)
	for pi, m := range measures {
		y0 := top + pi*(ph+gap)
		per := map[string][]int{}
		peak := 1
		var ts []float64
		for _, n := range nodes {
			for _, u := range r.Samples {
				if u.Node != n {
					continue
				}
				v := int(m.Get(u) / m.Scale)
				if n == nodes[0] {
					ts = append(ts, u.T.Seconds())
				}
				per[n] = append(per[n], v)
				peak = max(peak, v)
			}
		}
		// polyline puts sample i at x(i+0.5): map that back to its time.
		x := func(f float64) float64 {
			i := min(max(int(f-0.5), 0), max(len(ts)-1, 0))
			t := 0.0
			if len(ts) > 0 {
				t = ts[i]
			}
			return left + t/secs*(w-left-right)
		}
		y := func(n int) float64 { return float64(y0) + 20 + (1-float64(n)/float64(peak))*float64(ph-20) }
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="13">%s%s</text>`+"\n", left, y0+12, m.Name, unitSuffix(m.Unit))
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="black"/>`+"\n", left, y(0), w-right, y(0))
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="black"/>`+"\n", left, y(peak), left, y(0))
		for _, v := range []int{0, peak / 2, peak} {
			fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end">%d</text>`+"\n", left-6, y(v)+4, v)
		}
		for _, e := range r.Events {
			if e.Kind == "failover" {
				fx := left + e.Start.Seconds()/secs*(w-left-right)
				fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#d62728" stroke-dasharray="4 3"/>`+"\n", fx, y(peak), fx, y(0))
			}
		}
		for t := 0.0; t <= secs; t += max(60, float64(int(secs/10/60+1)*60)) {
			fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%.0fs</text>`+"\n", left+t/secs*(w-left-right), y(0)+15, t)
		}
		for i, n := range nodes {
			c := chartColors[i%len(chartColors)]
			polyline(&b, per[n], c, "", x, y)
			legend(&b, w-right+12, y0+20+18*i, c, n)
		}
	}
	b.WriteString("</svg>\n")
	return b.String()
}
