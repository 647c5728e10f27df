package bench

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// parseSVG checks that b is well-formed XML with an <svg> root and returns
// the names of its elements and all its character data.
func parseSVG(t *testing.T, b []byte) (elems []string, text string) {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(b))
	var sb strings.Builder
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed XML: %v\n%s", err, b)
		}
		switch x := tok.(type) {
		case xml.StartElement:
			elems = append(elems, x.Name.Local)
		case xml.CharData:
			sb.Write(x)
			sb.WriteByte('|')
		}
	}
	if len(elems) == 0 || elems[0] != "svg" {
		t.Fatalf("root element = %v, want svg", elems)
	}
	return elems, sb.String()
}

func count(xs []string, x string) int {
	n := 0
	for _, v := range xs {
		if v == x {
			n++
		}
	}
	return n
}

func TestPlotSVG(t *testing.T) {
	tests := []struct {
		name      string
		p         Plot
		polylines int
		circles   int
		texts     []string // each must appear as text
		absent    []string
	}{
		{
			name: "log x, two series, a NaN point and a zero x skipped",
			p: Plot{Title: "pps vs flows <1M>", XLabel: "flows", YLabel: "pps", LogX: true, Series: []Series{
				{Name: "lvsd-1w", Points: []Point{{1e3, 300e3}, {1e4, 290e3}, {1e5, 250e3}, {1e6, 200e3}}},
				{Name: "klb & co", Points: []Point{{1e3, 400e3}, {1e4, math.NaN()}, {0, 5}, {1e5, 380e3}}},
			}},
			polylines: 2, circles: 6,
			texts:  []string{"pps vs flows <1M>", "lvsd-1w", "klb & co", "1k", "10k", "100k", "1M", "flows"},
			absent: []string{"NaN", "Inf"},
		},
		{
			name: "log x over less than two decades: 1, 2, 5 ticks; a guide without markers",
			p: Plot{LogX: true, Series: []Series{
				{Name: "lvsd", Points: []Point{{50e3, 50e3}, {120e3, 110e3}, {300e3, 150e3}}},
				{Name: "all delivered", Guide: true, Points: []Point{{50e3, 50e3}, {300e3, 300e3}}},
			}},
			polylines: 2, circles: 3,
			texts: []string{"50k", "100k", "200k", "all delivered"},
		},
		{
			name: "categories",
			p: Plot{Title: "schedulers", Categories: []string{"rr", "wlc", "sh"}, Series: []Series{
				{Name: "lvsd", Points: []Point{{0, 10}, {1, 12}, {2, 11}}},
				{Name: "kernel", Points: []Point{{0, 15}}},
			}},
			polylines: 1, circles: 4,
			texts: []string{"rr", "wlc", "sh", "kernel"},
		},
		{
			name:  "no data",
			p:     Plot{Title: "empty", LogX: true, Series: []Series{{Name: "x", Points: []Point{{math.NaN(), 1}}}}},
			texts: []string{"no data"},
		},
		{
			name:      "one point on a log axis",
			p:         Plot{LogX: true, Series: []Series{{Name: "one", Points: []Point{{100, 7}}}}},
			circles:   1,
			texts:     []string{"one", "100"},
			absent:    []string{"NaN"},
			polylines: 0,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := tt.p.SVG()
			elems, text := parseSVG(t, b)
			if got := count(elems, "polyline"); got != tt.polylines {
				t.Errorf("SVG() has %d polylines, want %d", got, tt.polylines)
			}
			if got := count(elems, "circle"); got != tt.circles {
				t.Errorf("SVG() has %d markers, want %d", got, tt.circles)
			}
			parts := strings.Split(text, "|")
			for _, want := range tt.texts {
				if !slices.Contains(parts, want) {
					t.Errorf("SVG() lacks the text %q; texts: %q", want, parts)
				}
			}
			for _, bad := range tt.absent {
				if bytes.Contains(b, []byte(bad)) {
					t.Errorf("SVG() contains %q:\n%s", bad, b)
				}
			}
		})
	}
}

// TestPlotCoordinates checks that the log axis places points by decade and
// that y grows upwards.
func TestPlotCoordinates(t *testing.T) {
	p := Plot{LogX: true, Series: []Series{{Name: "s", Points: []Point{{10, 0}, {100, 50}, {1000, 100}}}}}
	b := p.SVG()
	var cx, cy []float64
	d := xml.NewDecoder(bytes.NewReader(b))
	for {
		tok, err := d.Token()
		if err != nil {
			break
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "circle" {
			var x, y float64
			for _, a := range se.Attr {
				switch a.Name.Local {
				case "cx":
					x = mustFloat(t, a.Value)
				case "cy":
					y = mustFloat(t, a.Value)
				}
			}
			cx, cy = append(cx, x), append(cy, y)
		}
	}
	if len(cx) != 3 {
		t.Fatalf("got %d markers, want 3", len(cx))
	}
	if d1, d2 := cx[1]-cx[0], cx[2]-cx[1]; math.Abs(d1-d2) > 0.2 || d1 <= 0 {
		t.Errorf("decades are %v and %v wide, want equal and positive", d1, d2)
	}
	if !(cy[0] > cy[1] && cy[1] > cy[2]) {
		t.Errorf("y coordinates %v do not rise with the value", cy)
	}
	if cy[0] != padT+innerH {
		t.Errorf("y = 0 at %v, want the x axis at %d", cy[0], padT+innerH)
	}
}

func mustFloat(t *testing.T, s string) float64 {
	t.Helper()
	var f float64
	if _, err := fmt.Sscan(s, &f); err != nil {
		t.Fatalf("parsing %q: %v", s, err)
	}
	return f
}

func TestLinearTicks(t *testing.T) {
	tests := []struct {
		lo, hi float64
		want   []float64
	}{
		{0, 100, []float64{0, 20, 40, 60, 80, 100}},
		{0, 440_000, []float64{0, 100_000, 200_000, 300_000, 400_000}},
		{0, 1, []float64{0, 0.2, 0.4, 0.6, 0.8, 1}},
		{5, 5, nil},
	}
	for _, tt := range tests {
		if got := linearTicks(tt.lo, tt.hi, 5); !slices.Equal(got, tt.want) {
			t.Errorf("linearTicks(%v, %v, 5) = %v, want %v", tt.lo, tt.hi, got, tt.want)
		}
	}
	for _, x := range []struct {
		v    float64
		want string
	}{{1000, "1k"}, {2.5e6, "2.5M"}, {300, "300"}, {0.25, "0.25"}, {100_000, "100k"}} {
		if got := shortNum(x.v); got != x.want {
			t.Errorf("shortNum(%v) = %q, want %q", x.v, got, x.want)
		}
	}
}

func TestParseSlabInfo(t *testing.T) {
	text := `slabinfo - version: 2.1
# name            <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab> : tunables <limit> <batchcount> <sharedfactor> : slabdata <active_slabs> <num_slabs> <sharedavail>
nf_conntrack_expect      0      0    208   19    1 : tunables    0    0    0 : slabdata      0      0      0
nf_conntrack          48    112    256   16    1 : tunables    0    0    0 : slabdata      7      7      0
`
	objs, size, err := parseSlabInfo(text, "nf_conntrack")
	if err != nil || objs != 48 || size != 256 {
		t.Errorf("parseSlabInfo(nf_conntrack) = %d, %d, %v; want 48, 256, nil", objs, size, err)
	}
	if _, _, err := parseSlabInfo(text, "kmalloc-64"); err == nil {
		t.Errorf("parseSlabInfo found a cache that is not there")
	}
}

// sampleScaling is a scaling phase as a run would record it, with a point
// over the kernel's conntrack limit.
func sampleScaling() *Scaling {
	return &Scaling{
		Memory: []MemPoint{
			{Contender: LVSD1, Flows: 10_000, Entries: 10_000, Bytes: 3_300_000, BytesPerFlow: 330, RSS: 40 << 20, Method: "VmRSS"},
			{Contender: LVSD1, Flows: 1_000_000, Entries: 999_973, Bytes: 79_600_000, BytesPerFlow: 79.6, RSS: 120 << 20, Method: "VmRSS", Mode: "tcx+afpacket"},
			{Contender: KernelLB, Flows: 100_000, Entries: 100_000, Bytes: 25_600_000, BytesPerFlow: 256, SlabWide: 30 << 20, Method: "slab"},
			{Contender: KernelLB, Flows: 1_000_000, Method: "slab", Err: "over nf_conntrack_max 262,144"},
		},
		Flows: []Curve{
			{Contender: LVSD1, Points: []CurvePoint{{X: 1000, PPS: 50_000, Sent: 90_000, DirNs: 3000, Mode: "tcx+afpacket"}, {X: 1e6, PPS: 45_000, Sent: 90_000, DirNs: 3500, Mode: "tcx+afpacket"}}},
			{Contender: KernelLB, Points: []CurvePoint{{X: 1000, PPS: 150_000, Sent: 300_000}, {X: 1e6, Err: "over nf_conntrack_max 262,144"}}},
		},
		Servers:    []Curve{{Contender: LVSD1, Points: []CurvePoint{{X: 2, PPS: 50_000}, {X: 1000, PPS: 40_000}}}},
		Schedulers: []Curve{{Contender: LVSD1, Points: []CurvePoint{{X: 0, Label: "rr", PPS: 50_000}, {X: 1, Label: "sh", PPS: 48_000}}}, {Contender: "klb-jhash", Points: []CurvePoint{{X: 1, Label: "sh", PPS: 150_000}}}},
		Notes:      []string{"a scaling note"},
	}
}

func TestScalingReport(t *testing.T) {
	r := sampleReport()
	r.Scaling = sampleScaling()
	md := Markdown(r)
	for _, want := range []string{
		"## Director memory per concurrent flow",
		"| lvsd-1w | 1,000,000 | 999,973 | 75.9 MiB | 79.60 | VmRSS; VmRSS 120.0 MiB; dataplane tcx+afpacket |",
		"| flows | lvsd-1w [tcx+afpacket] delivered pps (sent) | lvsd-1w ns/pkt at fixed load | klb delivered pps (sent) |",
		"| real servers | lvsd-1w delivered pps (sent) |",
		"| klb | 1,000,000 | — | — | — | over nf_conntrack_max 262,144 |",
		"| 1,000,000 | 45,000 (90,000) | 3,500 | failed: over nf_conntrack_max 262,144 | — |",
		"| 1,000 | 50,000 (90,000) | 3,000 | 150,000 (300,000) | — |",
		"| sh | 48,000 (0) | — | 150,000 (0) | — |",
		"![Scaling: pps vs real servers](" + PlotServers + ")",
		"- a scaling note",
		"- lvsd-1w: pps at 1,000,000 flows ÷ pps at 1,000 flows = 0.90×",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("Markdown lacks %q", want)
		}
	}
	dir := t.TempDir()
	if err := WriteReports(dir, r); err != nil {
		t.Fatalf("WriteReports: %v", err)
	}
	for _, name := range []string{PlotFlows, PlotServers, PlotSchedulers, PlotMemory, PlotFlowsCPU} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatalf("plot %s: %v", name, err)
		}
		elems, _ := parseSVG(t, b)
		if count(elems, "circle") == 0 {
			t.Errorf("plot %s has no points", name)
		}
	}
}
