package web

import (
	"context"
	"fmt"
	"html/template"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"lvs/admin"
)

// The charts keep one sample every sampleEvery for the last ten minutes.
const (
	sampleEvery = 5 * time.Second
	sampleKeep  = 120
)

// point is one real server's reading at one sample.
type point struct {
	at       time.Time
	conns    uint64 // cumulative
	bytes    uint64 // cumulative, both directions
	active   int32
	latency  time.Duration // last check's; 0 when not reported
	hasCheck bool
}

// series is one real server's ring of samples.
type series struct {
	name string // "virtual/server" or "service dest"
	pts  []point
}

// sampler keeps the recent history of every destination's counters.
type sampler struct {
	every time.Duration
	keep  int

	mu  sync.Mutex // guards all
	all map[string]*series
}

func newSampler(every time.Duration, keep int) *sampler {
	return &sampler{every: every, keep: keep, all: map[string]*series{}}
}

// Run samples the backend every interval until ctx ends. lvsd runs it for
// as long as it serves the tool.
func (s *Server) Run(ctx context.Context) error {
	t := time.NewTicker(s.samples.every)
	defer t.Stop()
	s.samples.take(s.b, s.now())
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			s.samples.take(s.b, s.now())
		}
	}
}

// take records one sample of every destination.
func (sp *sampler) take(b Backend, now time.Time) {
	st := b.Status()
	lat := map[string]admin.HealthStatus{}
	for _, h := range b.Health() {
		if !h.Sorry {
			lat[h.Addr.String()] = h
		}
	}
	sp.mu.Lock()
	defer sp.mu.Unlock()
	seen := map[string]bool{}
	for _, svc := range st.Services {
		for _, d := range svc.Dests {
			key := serviceLabel(svc) + " → " + hostPort(d.Addr, d.Port)
			seen[key] = true
			sr := sp.all[key]
			if sr == nil {
				sr = &series{name: key}
				sp.all[key] = sr
			}
			p := point{at: now, conns: d.Stats.Conns, bytes: d.Stats.InBytes + d.Stats.OutBytes, active: d.Active}
			if h, ok := lat[hostPort(d.Addr, d.Port)]; ok && h.Latency > 0 {
				p.latency, p.hasCheck = h.Latency, true
			}
			sr.pts = append(sr.pts, p)
			if len(sr.pts) > sp.keep {
				sr.pts = sr.pts[len(sr.pts)-sp.keep:]
			}
		}
	}
	for k, sr := range sp.all { // forget servers gone for the whole window
		if !seen[k] && now.Sub(sr.pts[len(sr.pts)-1].at) > time.Duration(sp.keep)*sp.every {
			delete(sp.all, k)
		}
	}
}

func serviceLabel(svc admin.ServiceStatus) string {
	if svc.FWMark != 0 {
		return fmt.Sprintf("FWM %d", svc.FWMark)
	}
	return svc.Proto + " " + hostPort(svc.Addr, svc.Port)
}

// chartSet is the four charts of one real server.
type chartSet struct {
	Name    string
	Charts  []template.HTML
	Latency bool // a check latency series exists
}

// charts renders the history as SVG, one set per destination.
func (sp *sampler) charts() []chartSet {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	var out []chartSet
	for _, sr := range sp.all {
		var cps, bps, act, lat []float64
		var at []time.Time
		hasLat := false
		for i, p := range sr.pts {
			at = append(at, p.at)
			act = append(act, float64(p.active))
			lat = append(lat, p.latency.Seconds()*1000)
			hasLat = hasLat || p.hasCheck
			if i == 0 {
				cps, bps = append(cps, 0), append(bps, 0)
				continue
			}
			dt := p.at.Sub(sr.pts[i-1].at).Seconds()
			if dt <= 0 {
				dt = 1
			}
			cps = append(cps, float64(sub(p.conns, sr.pts[i-1].conns))/dt)
			bps = append(bps, float64(sub(p.bytes, sr.pts[i-1].bytes))/dt)
		}
		cs := chartSet{Name: sr.name, Latency: hasLat}
		cs.Charts = append(cs.Charts, svgChart("connections/s", at, cps), svgChart("active connections", at, act),
			svgChart("bytes/s", at, bps))
		if hasLat {
			cs.Charts = append(cs.Charts, svgChart("check latency (ms)", at, lat))
		}
		out = append(out, cs)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// sub is a-b for counters that a zeroing (ipvsadm -Z) may have reset.
func sub(a, b uint64) uint64 {
	if a < b {
		return a
	}
	return a - b
}

// svgChart draws one series as a small line chart over the ten-minute
// window ending at the last sample. Everything in it is numbers and a
// fixed title, so it is safe as template.HTML.
func svgChart(title string, at []time.Time, v []float64) template.HTML {
	const w, h, pad = 300.0, 90.0, 4.0
	peak := 0.0
	for _, x := range v {
		peak = max(peak, x)
	}
	scale := peak
	if scale == 0 {
		scale = 1
	}
	var pts []string
	if len(at) > 0 {
		end := at[len(at)-1]
		span := (sampleKeep * sampleEvery).Seconds()
		for i := range v {
			x := w - (end.Sub(at[i]).Seconds()/span)*w
			y := h - pad - (v[i]/scale)*(h-2*pad)
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x, y))
		}
	}
	last := 0.0
	if len(v) > 0 {
		last = v[len(v)-1]
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<figure class="chart"><figcaption>%s: now %s, peak %s</figcaption>`, template.HTMLEscapeString(title), human(last), human(peak))
	fmt.Fprintf(&b, `<svg viewBox="0 0 %.0f %.0f" width="%.0f" height="%.0f" role="img" aria-label="%s over the last 10 minutes">`, w, h, w, h, template.HTMLEscapeString(title))
	fmt.Fprintf(&b, `<rect x="0" y="0" width="%.0f" height="%.0f" class="bg"/>`, w, h)
	if len(pts) > 0 {
		fmt.Fprintf(&b, `<polyline points="%s" class="line"/>`, strings.Join(pts, " "))
	}
	b.WriteString(`<text x="2" y="10" class="axis">` + human(peak) + `</text><text x="2" y="87" class="axis">−10 min</text></svg></figure>`)
	return template.HTML(b.String())
}

func human(x float64) string {
	switch {
	case x >= 1e9:
		return fmt.Sprintf("%.1fG", x/1e9)
	case x >= 1e6:
		return fmt.Sprintf("%.1fM", x/1e6)
	case x >= 1e3:
		return fmt.Sprintf("%.1fk", x/1e3)
	case x == float64(int64(x)):
		return fmt.Sprintf("%d", int64(x))
	}
	return fmt.Sprintf("%.2f", x)
}

func (s *Server) chartsPage(w http.ResponseWriter, r *http.Request, ss *session) {
	s.render(w, r, ss, "charts", http.StatusOK, s.samples.charts())
}

// Sample takes one sample now; lvsd's Run does it every few seconds, tests
// call it with a fake clock.
func (s *Server) Sample() { s.samples.take(s.b, s.now()) }
