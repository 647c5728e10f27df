package bench

import (
	"fmt"
	"html"
	"math"
	"strings"
	"unicode/utf8"
)

// Plot is a small line plot rendered as standalone SVG: axes with ticks, an
// optional logarithmic x axis or categorical x axis, one polyline with
// markers per series, and a legend. Points with a NaN or infinite
// coordinate (or x ≤ 0 on a log axis) are skipped.
type Plot struct {
	Title, XLabel, YLabel string
	LogX                  bool
	// Categories, when set, make the x axis categorical: a point's X is
	// the index of its category.
	Categories []string
	Series     []Series
}

// Series is one named line of a Plot.
type Series struct {
	Name   string
	Points []Point
	// Guide marks a reference line (such as "all delivered"): dashed,
	// grey, without markers.
	Guide bool
}

// Point is one (x, y) of a Series.
type Point struct{ X, Y float64 }

// Plot geometry, in SVG user units.
const (
	plotW, plotH                   = 720, 420
	padL, padR, padT, padB         = 80, 170, 40, 60
	innerW, innerH                 = plotW - padL - padR, plotH - padT - padB
	markerR                        = 3.5
	fontSize, smallFont, titleFont = 13, 11, 15
)

// palette holds distinguishable colours for up to eight series (then they
// repeat); guides are drawn in guideColour.
var palette = []string{"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"}

const guideColour = "#888"

// legendChar is the width allowed per character of a legend entry
// (smallFont sans-serif, generously).
const legendChar = 7

// legendExtra is how much wider than plotW the plot is drawn so that its
// longest legend entry fits.
func (p Plot) legendExtra() int {
	longest := 0
	for _, s := range p.Series {
		longest = max(longest, utf8.RuneCountInString(s.Name))
	}
	return max(0, 40+legendChar*longest+10-padR)
}

// SVG renders p.
func (p Plot) SVG() []byte {
	var b strings.Builder
	w := func(f string, a ...any) { fmt.Fprintf(&b, f, a...) }
	width := plotW + p.legendExtra()
	w(`<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif">`+"\n", width, plotH, width, plotH)
	w(`<rect width="%d" height="%d" fill="white"/>`+"\n", width, plotH)
	w(`<text x="%d" y="%d" font-size="%d" text-anchor="middle">%s</text>`+"\n", padL+innerW/2, padT-15, titleFont, esc(p.Title))
	xlo, xhi, ylo, yhi, ok := p.bounds()
	// Axes.
	w(`<path d="M%d %d V%d H%d" stroke="black" fill="none"/>`+"\n", padL, padT, padT+innerH, padL+innerW)
	w(`<text x="%d" y="%d" font-size="%d" text-anchor="middle">%s</text>`+"\n", padL+innerW/2, plotH-15, fontSize, esc(p.XLabel))
	w(`<text x="18" y="%d" font-size="%d" text-anchor="middle" transform="rotate(-90 18 %d)">%s</text>`+"\n", padT+innerH/2, fontSize, padT+innerH/2, esc(p.YLabel))
	if !ok {
		w(`<text x="%d" y="%d" font-size="%d" text-anchor="middle">no data</text>`+"\n", padL+innerW/2, padT+innerH/2, fontSize)
		w("</svg>\n")
		return []byte(b.String())
	}
	sx := func(x float64) float64 {
		if p.LogX {
			return padL + (math.Log10(x)-math.Log10(xlo))/(math.Log10(xhi)-math.Log10(xlo))*innerW
		}
		return padL + (x-xlo)/(xhi-xlo)*innerW
	}
	sy := func(y float64) float64 { return padT + innerH - (y-ylo)/(yhi-ylo)*innerH }
	for _, t := range p.xTicks(xlo, xhi) {
		x := sx(t.v)
		w(`<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#ddd"/>`+"\n", x, padT, x, padT+innerH)
		w(`<text x="%.1f" y="%d" font-size="%d" text-anchor="middle">%s</text>`+"\n", x, padT+innerH+16, smallFont, esc(t.label))
	}
	for _, v := range linearTicks(ylo, yhi, 5) {
		y := sy(v)
		w(`<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/>`+"\n", padL, y, padL+innerW, y)
		w(`<text x="%d" y="%.1f" font-size="%d" text-anchor="end">%s</text>`+"\n", padL-6, y+4, smallFont, esc(shortNum(v)))
	}
	colours := 0
	for i, s := range p.Series {
		col, dash := guideColour, ` stroke-dasharray="6 4"`
		if !s.Guide {
			col, dash = palette[colours%len(palette)], ""
			colours++
		}
		var pts []string
		for _, pt := range s.Points {
			if !p.usable(pt) {
				continue
			}
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", sx(pt.X), sy(pt.Y)))
		}
		if len(pts) > 1 {
			w(`<polyline points="%s" fill="none" stroke="%s" stroke-width="2"%s/>`+"\n", strings.Join(pts, " "), col, dash)
		}
		for _, xy := range pts {
			if s.Guide {
				break
			}
			x, y, _ := strings.Cut(xy, ",")
			w(`<circle cx="%s" cy="%s" r="%.1f" fill="%s"/>`+"\n", x, y, markerR, col)
		}
		ly := padT + 10 + i*20
		w(`<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="2"%s/>`+"\n", padL+innerW+15, ly, padL+innerW+35, ly, col, dash)
		w(`<text x="%d" y="%d" font-size="%d">%s</text>`+"\n", padL+innerW+40, ly+4, smallFont, esc(s.Name))
	}
	w("</svg>\n")
	return []byte(b.String())
}

func esc(s string) string { return html.EscapeString(s) }

// usable reports whether pt can be drawn on p's axes.
func (p Plot) usable(pt Point) bool {
	if math.IsNaN(pt.X) || math.IsNaN(pt.Y) || math.IsInf(pt.X, 0) || math.IsInf(pt.Y, 0) {
		return false
	}
	return !p.LogX || pt.X > 0
}

// bounds returns the axes' ranges: x over the points (padded by half a
// category on a categorical axis), y from 0 (or the lowest negative value)
// to the highest value plus 10 %.
func (p Plot) bounds() (xlo, xhi, ylo, yhi float64, ok bool) {
	xlo, xhi, ylo, yhi = math.Inf(1), math.Inf(-1), 0, math.Inf(-1)
	for _, s := range p.Series {
		for _, pt := range s.Points {
			if !p.usable(pt) {
				continue
			}
			ok = true
			xlo, xhi = min(xlo, pt.X), max(xhi, pt.X)
			ylo, yhi = min(ylo, pt.Y), max(yhi, pt.Y)
		}
	}
	if len(p.Categories) > 0 {
		xlo, xhi = -0.5, float64(len(p.Categories))-0.5
	}
	if !ok {
		return 0, 1, 0, 1, false
	}
	switch {
	case len(p.Categories) > 0:
	case xhi == xlo && p.LogX:
		xlo, xhi = xlo/10, xhi*10
	case xhi == xlo:
		xlo, xhi = xlo-1, xhi+1
	case p.LogX: // keep the end markers off the axis
		xlo, xhi = xlo/1.25, xhi*1.25
	default:
		pad := (xhi - xlo) * 0.04
		xlo, xhi = xlo-pad, xhi+pad
	}
	if yhi <= ylo {
		yhi = ylo + 1
	}
	yhi += (yhi - ylo) * 0.1
	return xlo, xhi, ylo, yhi, true
}

type tick struct {
	v     float64
	label string
}

// xTicks are the categories, the powers of ten of a log axis (with 2 and
// 5 times them on a short one), or five round values.
func (p Plot) xTicks(lo, hi float64) []tick {
	var out []tick
	switch {
	case len(p.Categories) > 0:
		for i, c := range p.Categories {
			out = append(out, tick{float64(i), c})
		}
	case p.LogX:
		// Powers of ten; 1, 2 and 5 times them on an axis that spans
		// less than two decades.
		mults := []float64{1}
		if hi/lo < 100 {
			mults = []float64{1, 2, 5}
		}
		for e := math.Floor(math.Log10(lo)); e <= math.Ceil(math.Log10(hi)); e++ {
			for _, m := range mults {
				if v := m * math.Pow(10, e); v >= lo*(1-1e-9) && v <= hi*(1+1e-9) {
					out = append(out, tick{v, shortNum(v)})
				}
			}
		}
	default:
		for _, v := range linearTicks(lo, hi, 5) {
			out = append(out, tick{v, shortNum(v)})
		}
	}
	return out
}

// linearTicks returns round values (1, 2 or 5 × 10^k apart) covering
// [lo, hi] with about n intervals.
func linearTicks(lo, hi float64, n int) []float64 {
	if !(hi > lo) || n < 1 {
		return nil
	}
	raw := (hi - lo) / float64(n)
	e := math.Floor(math.Log10(raw))
	mag := math.Pow(10, e)
	m := 10.0
	for _, c := range []float64{1, 2, 5} {
		if c*mag >= raw {
			m = c
			break
		}
	}
	step := m * mag
	// k·m·10^e, computed so that decimal steps stay exact (0.6, not
	// 0.6000000000000001).
	at := func(k float64) float64 {
		if e < 0 {
			return k * m / math.Pow(10, -e)
		}
		return k * m * mag
	}
	var out []float64
	for k := math.Ceil(lo / step); at(k) <= hi+step*1e-9; k++ {
		out = append(out, at(k))
	}
	return out
}

// shortNum formats axis values: 1k, 2.5M, 0.5, 300.
func shortNum(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 1e6:
		return trimZero(fmt.Sprintf("%.1f", v/1e6)) + "M"
	case a >= 1e3:
		return trimZero(fmt.Sprintf("%.1f", v/1e3)) + "k"
	case a == math.Trunc(a):
		return fmt.Sprintf("%.0f", v)
	default:
		return trimZero(fmt.Sprintf("%.2f", v))
	}
}

func trimZero(s string) string {
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}
