package sim

import (
	"fmt"
	"html"
	"maps"
	"math"
	"slices"
	"strings"
	"time"
)

var chartColors = []string{"#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#17becf", "#bcbd22", "#e377c2"}

// Chart draws requests per second per real server over the scenario as
// SVG: one line per server, failures in red, faults as dashed markers.
func Chart(r *Result) string {
	const w, h, left, right, top, bottom = 900, 360, 60, 150, 30, 40
	secsN := int(math.Ceil(r.Duration.Seconds()))
	if secsN < 1 {
		secsN = 1
	}
	series := map[string][]int{}
	fails := make([]int, secsN) // bucket i counts [i s, i+1 s)
	for _, s := range r.Steps {
		if s.Traffic == nil {
			continue
		}
		for _, e := range s.Traffic.Events {
			i := min(int(e.T/time.Second), secsN-1)
			if e.Server == "" {
				fails[i]++
				continue
			}
			if series[e.Server] == nil {
				series[e.Server] = make([]int, secsN)
			}
			series[e.Server][i]++
		}
	}
	peak := 1
	for _, v := range append(slices.Collect(maps.Values(series)), fails) {
		for _, n := range v {
			peak = max(peak, n)
		}
	}
	x := func(t float64) float64 { return left + t/float64(secsN)*(w-left-right) }
	y := func(n int) float64 { return top + (1-float64(n)/float64(peak))*(h-top-bottom) }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", w, h, w, h)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", w, h)
	fmt.Fprintf(&b, `<text x="%d" y="18" font-size="14">%s: requests per second per real server (%s)</text>`+"\n",
		left, html.EscapeString(r.Topology), html.EscapeString(r.Router))
	fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="black"/>`+"\n", left, y(0), w-right, y(0))
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%.1f" stroke="black"/>`+"\n", left, top, left, y(0))
	for _, n := range []int{0, peak / 2, peak} {
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end">%d</text>`+"\n", left-6, y(n)+4, n)
	}
	step := max(1, secsN/10)
	for t := 0; t <= secsN; t += step {
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%ds</text>`+"\n", x(float64(t)), h-bottom+16, t)
	}
	for _, s := range r.Steps {
		if !strings.HasPrefix(s.Kind, "fault") || s.Skipped != "" {
			continue
		}
		fx := x(s.Start.Seconds())
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%.1f" stroke="#d62728" stroke-dasharray="4 3"/>`+"\n", fx, top, fx, y(0))
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" fill="#d62728" transform="rotate(90 %.1f %d)">%s</text>`+"\n",
			fx+3, top+4, fx+3, top+4, html.EscapeString(s.Name))
	}
	names := slices.Sorted(maps.Keys(series))
	for i, name := range names {
		c := chartColors[i%len(chartColors)]
		polyline(&b, series[name], c, "", x, y)
		legend(&b, w-right+12, top+18*i, c, name)
	}
	if slices.Max(fails) > 0 {
		polyline(&b, fails, "#d62728", ` stroke-dasharray="2 2"`, x, y)
		legend(&b, w-right+12, top+18*len(names), "#d62728", "failed")
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle">seconds since the scenario started</text>`+"\n", (w-right+left)/2, h-6)
	b.WriteString("</svg>\n")
	return b.String()
}

func polyline(b *strings.Builder, v []int, color, extra string, x func(float64) float64, y func(int) float64) {
	var pts []string
	for i, n := range v {
		pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(float64(i)+0.5), y(n)))
	}
	fmt.Fprintf(b, `<polyline fill="none" stroke="%s" stroke-width="2"%s points="%s"/>`+"\n", color, extra, strings.Join(pts, " "))
}

func legend(b *strings.Builder, x, y int, color, name string) {
	fmt.Fprintf(b, `<rect x="%d" y="%d" width="12" height="12" fill="%s"/><text x="%d" y="%d">%s</text>`+"\n",
		x, y, color, x+18, y+11, html.EscapeString(name))
}
