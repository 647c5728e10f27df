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

// A long run (lvssim soak, lvssim chaos) builds one site and drives it for
// minutes: background traffic flows from the clients while a schedule of
// events (reloads, health flaps, failovers, random faults) is played, and
// every request that fails is charged to the event in effect when it ended.

// incident is one event of a long run: a reload, a flap, a failover or an
// injected fault, from when it began until it was undone.
type incident struct {
	N          int
	Kind       string // reload, flap, failover; chaos: the fault kind
	What       string // what was done (and undone)
	Start, End time.Duration
	Err        string // the event itself failed (not a request)
}

// incidentLog records a long run's events; it is safe for concurrent use.
type incidentLog struct {
	mu   sync.Mutex
	t0   time.Time
	list []*incident
	w    io.Writer // one line per event; nil discards
}

func (l *incidentLog) since() time.Duration { return time.Since(l.t0) }

// begin records the start of an event.
func (l *incidentLog) begin(kind, what string) *incident {
	l.mu.Lock()
	defer l.mu.Unlock()
	in := &incident{N: len(l.list) + 1, Kind: kind, What: what, Start: l.since(), End: -1}
	l.list = append(l.list, in)
	return in
}

// end records that an event is over (undone), with what it did or its error.
func (l *incidentLog) end(in *incident, what string, err error) {
	l.mu.Lock()
	in.End = l.since()
	if what != "" {
		in.What = what
	}
	if err != nil {
		in.Err = err.Error()
	}
	line := fmt.Sprintf("%7.1fs  %-9s %s", in.Start.Seconds(), in.Kind, in.What)
	if in.Err != "" {
		line += " — error: " + in.Err
	}
	l.mu.Unlock()
	if l.w != nil {
		fmt.Fprintln(l.w, line)
	}
}

// snapshot returns a copy of the events so far.
func (l *incidentLog) snapshot() []incident {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]incident, len(l.list))
	for i, in := range l.list {
		out[i] = *in
	}
	return out
}

// steady is the charge of a failure no event explains.
const steady = "steady"

// charge returns the kind of the event a failure at t is charged to: among
// the events in effect at t (begun, and not over for longer than their
// kind's grace), the one whose kind comes first in rank; steady when none.
func charge(events []incident, t time.Duration, grace map[string]time.Duration, rank []string) string {
	best, bestRank := steady, len(rank)
	for _, e := range events {
		end := e.End
		if end < 0 {
			end = t
		}
		if t < e.Start || t > end+grace[e.Kind] {
			continue
		}
		r := slices.Index(rank, e.Kind)
		if r < 0 {
			r = len(rank) - 1
		}
		if r < bestRank || best == steady {
			best, bestRank = e.Kind, r
		}
	}
	return best
}

// chargeFailures counts the failed requests of results per charged kind.
func chargeFailures(events []incident, grace map[string]time.Duration, rank []string, results ...*TrafficResult) map[string]int {
	out := map[string]int{}
	for _, r := range results {
		if r == nil {
			continue
		}
		for _, e := range r.Events {
			if e.Err != "" {
				out[charge(events, e.T, grace, rank)]++
			}
		}
	}
	return out
}

// failuresCSV lists every failed request of results: when it ended, the
// traffic kind, the reason and the event kind it is charged to.
func failuresCSV(events []incident, grace map[string]time.Duration, rank []string, results ...*TrafficResult) []byte {
	var b strings.Builder
	b.WriteString("t_s,traffic,reason,charged_to\n")
	for _, r := range results {
		if r == nil {
			continue
		}
		for _, e := range r.Events {
			if e.Err != "" {
				fmt.Fprintf(&b, "%.2f,%s,%q,%s\n", e.T.Seconds(), r.Kind, e.Err, charge(events, e.T, grace, rank))
			}
		}
	}
	return []byte(b.String())
}

// background is a long run's traffic: HTTP requests at a bounded rate from
// one client and checksummed downloads at intervals from another.
type background struct {
	HTTP, Downloads *TrafficResult
	size            int64
	done            chan struct{}
}

// loadSpec sizes a long run's background traffic.
type loadSpec struct {
	HTTPFrom, DownloadFrom string
	To                     netip.AddrPort
	Rate                   float64       // HTTP requests per second
	DownloadAt             time.Duration // the first download starts then
	DownloadEvery          time.Duration // and one more this often
	DownloadSize           int64
	DownloadPace           int64 // bytes per second the client reads
}

// startLoad runs the background traffic of spec for d (and lets requests in
// flight at d finish); done is closed when both have ended.
func (s *Site) startLoad(ctx context.Context, spec loadSpec, t0 time.Time, d time.Duration) *background {
	b := &background{size: spec.DownloadSize, done: make(chan struct{})}
	httpTr := &Traffic{Kind: TrafficHTTP, From: []string{spec.HTTPFrom}, To: spec.To, Path: "/",
		Count: max(1, int(d.Seconds()*spec.Rate)), Concurrency: 4, Rate: spec.Rate,
		Duration: d + 15*time.Second, Timeout: 5 * time.Second}
	dlTimeout := time.Duration(float64(spec.DownloadSize)/float64(spec.DownloadPace)*float64(time.Second)) + 60*time.Second
	dlTr := &Traffic{Kind: TrafficDownload, From: []string{spec.DownloadFrom}, To: spec.To,
		Size: spec.DownloadSize, Pace: spec.DownloadPace, Count: max(1, int((d-spec.DownloadAt)/spec.DownloadEvery)), Concurrency: 2,
		Rate: 1 / spec.DownloadEvery.Seconds(), Duration: d - spec.DownloadAt + dlTimeout, Timeout: dlTimeout}
	var wg sync.WaitGroup
	wg.Go(func() { b.HTTP = s.runTraffic(ctx, httpTr, t0) })
	wg.Go(func() {
		pauseFor(ctx, time.Until(t0.Add(spec.DownloadAt)))
		b.Downloads = s.runTraffic(ctx, dlTr, t0)
	})
	go func() { wg.Wait(); close(b.done) }()
	return b
}

// downloadLines lists every download of a long run: when it ended, who
// served it and whether its SHA-256 matched the pattern's.
func (b *background) downloadLines() []string {
	sum := patternSum(b.size)
	out := []string{fmt.Sprintf("every download is %d bytes of the pattern, SHA-256 %x", b.size, sum)}
	for i, e := range b.Downloads.Events {
		switch {
		case e.Err == "":
			out = append(out, fmt.Sprintf("download %d ended at %.1fs from %s: SHA-256 matches", i+1, e.T.Seconds(), e.Server))
		default:
			out = append(out, fmt.Sprintf("download %d ended at %.1fs: %s", i+1, e.T.Seconds(), e.Err))
		}
	}
	return out
}

// writeTraffic writes a long run's report lines on its traffic: requests
// and downloads made, answered and failed, the failures per kind they are
// charged to (the event in effect, as chargedTo says), and their reasons.
func (b *background) writeTraffic(w *strings.Builder, chargedTo string, failed map[string]int, rank []string) {
	h, d := b.HTTP, b.Downloads
	fmt.Fprintf(w, "HTTP requests: %d, %d answered, %d failed; downloads: %d, %d intact, %d corrupt.\n\n", h.Requests, h.OK, h.Failed, d.Requests, d.OK, d.Corrupt)
	fmt.Fprintf(w, "Failed requests charged to %s: %s.\n", chargedTo, countLine(failed, rank))
	if len(h.Failures)+len(d.Failures) > 0 {
		fmt.Fprintf(w, "Reasons: HTTP %v, downloads %v.\n", h.Failures, d.Failures)
	}
}

// writeDownloads writes a long run's report section on its downloads.
func (b *background) writeDownloads(w *strings.Builder) {
	fmt.Fprintf(w, "\n## Downloads\n\n")
	for _, l := range b.downloadLines() {
		fmt.Fprintf(w, "- %s\n", l)
	}
}

// longResult is what a long run's driver returns (*SoakResult,
// *ChaosResult), as runLong needs it.
type longResult interface {
	setOut(dir string)      // the report directory, named in the summary
	failed() bool           // a problem or violation: keep the logs, ErrAssertions
	interrupted() bool      // ctx ended the run
	write(dir string) error // the report files
	summary() string        // the report in Markdown, printed too
}

// runLong is a long run from start to end: it builds the failover site with
// lvsd, drives it, tears it down (keeping the services' logs when the run
// failed), writes the report into o.Out or a new directory named after kind
// and prints its summary. It returns ErrAssertions when the run failed.
func runLong[R longResult](ctx context.Context, o Options, kind string, log io.Writer, drive func(*Site) R) (R, error) {
	var none R
	s, closeSite, err := openLongRun(ctx, o, "failover", log)
	if err != nil {
		return none, err
	}
	out, err := outDir(o, kind, s.ID)
	if err != nil {
		closeSite(false)
		return none, err
	}
	r := drive(s)
	r.setOut(out)
	closeErr := closeSite(r.failed())
	if err := r.write(out); err != nil {
		return r, err
	}
	fmt.Fprint(o.Stdout, r.summary())
	switch {
	case r.interrupted():
		return r, fmt.Errorf("interrupted: %w", errors.Join(ctx.Err(), closeErr))
	case closeErr != nil:
		return r, fmt.Errorf("tearing down: %w", closeErr)
	case r.failed():
		return r, ErrAssertions
	}
	return r, nil
}

// openLongRun builds a shipped topology with lvsd as the router for a long
// run; close tears it down and removes the run dir unless keep is set.
func openLongRun(ctx context.Context, o Options, topo string, log io.Writer) (s *Site, closeSite func(keep bool) error, err error) {
	t, err := LoadTopology(topo)
	if err != nil {
		return nil, nil, err
	}
	if os.Geteuid() != 0 {
		return nil, nil, ErrNotRoot
	}
	runDir, err := os.MkdirTemp("", "lvssim-run-")
	if err != nil {
		return nil, nil, err
	}
	fmt.Fprintf(log, "building lvssim, lvsd and lvsadm ...\n")
	bins, err := binaries(o.BinDir, filepath.Join(runDir, "bin"))
	if err != nil {
		os.RemoveAll(runDir)
		return nil, nil, err
	}
	s, err = NewSite(ctx, t, SiteOptions{Dir: runDir, Bins: bins, Router: "lvsd", Log: log})
	if err != nil {
		return nil, nil, fmt.Errorf("building site %s: %w (logs in %s)", t.Name, err, runDir)
	}
	return s, func(keep bool) error {
		err := s.Close()
		if keep {
			fmt.Fprintf(log, "service logs and configs kept in %s\n", runDir)
		} else {
			os.RemoveAll(runDir)
		}
		return err
	}, nil
}

// outDir returns o.Out or a new report directory for a long run.
func outDir(o Options, kind, id string) (string, error) {
	out := o.Out
	if out == "" {
		out = filepath.Join(os.TempDir(), "lvssim-"+kind+"-"+id)
	}
	return out, os.MkdirAll(out, 0o755)
}

// every calls f at offset, offset+period, … until ctx ends or the next call
// would start after until (measured from t0); calls that fall due while f
// still runs are skipped, not made up.
func every(ctx context.Context, t0 time.Time, offset, period, until time.Duration, f func(i int)) {
	for i := 0; ; i++ {
		at := offset + time.Duration(i)*period
		if late := time.Since(t0) - at; late > 0 {
			i += int(late / period)
			if late%period != 0 {
				i++
			}
			at = offset + time.Duration(i)*period
		}
		if at > until {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Until(t0.Add(at))):
		}
		f(i)
	}
}

// pauseFor sleeps for d or until ctx ends; it reports whether d passed.
func pauseFor(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}

// countLine formats failures per charged kind in rank order, then steady.
func countLine(failed map[string]int, rank []string) string {
	var parts []string
	for _, k := range append(slices.Clone(rank), steady) {
		parts = append(parts, fmt.Sprintf("%s %d", k, failed[k]))
	}
	return strings.Join(parts, ", ")
}
