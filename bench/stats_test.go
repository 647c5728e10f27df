package bench

import (
	"math"
	"testing"
	"time"
)

func TestSpreadOf(t *testing.T) {
	tests := []struct {
		name string
		in   []float64
		want Spread
	}{
		{"empty", nil, Spread{}},
		{"one", []float64{5}, Spread{5, 5, 5, 1}},
		{"odd", []float64{3, 1, 2}, Spread{1, 2, 3, 3}},
		{"even", []float64{4, 1, 3, 2}, Spread{1, 2.5, 4, 4}},
		{"NaN ignored", []float64{math.NaN(), 7, 9, math.Inf(1)}, Spread{7, 8, 9, 2}},
		{"all NaN", []float64{math.NaN()}, Spread{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := SpreadOf(tt.in); got != tt.want {
				t.Errorf("SpreadOf(%v) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestRatio(t *testing.T) {
	a, b := Spread{1, 300, 400, 3}, Spread{1, 400, 500, 3}
	if got := Ratio(a, b); got != 0.75 {
		t.Errorf("Ratio = %v, want 0.75", got)
	}
	for _, tt := range []struct{ a, b Spread }{{a, Spread{}}, {Spread{}, b}, {a, Spread{N: 1}}} {
		if got := Ratio(tt.a, tt.b); !math.IsNaN(got) {
			t.Errorf("Ratio(%+v, %+v) = %v, want NaN", tt.a, tt.b, got)
		}
	}
}

func TestPercentile(t *testing.T) {
	var s []time.Duration
	for i := 1; i <= 100; i++ {
		s = append(s, time.Duration(i))
	}
	tests := []struct {
		p    float64
		want time.Duration
	}{{50, 50}, {99, 99}, {100, 100}, {0.1, 1}, {1, 1}}
	for _, tt := range tests {
		if got := Percentile(s, tt.p); got != tt.want {
			t.Errorf("Percentile(1..100, %v) = %v, want %v", tt.p, got, tt.want)
		}
	}
	if got := Percentile(nil, 50); got != 0 {
		t.Errorf("Percentile(nil, 50) = %v, want 0", got)
	}
	if got := Percentile([]time.Duration{7}, 99); got != 7 {
		t.Errorf("Percentile([7], 99) = %v, want 7", got)
	}
}

func TestLatencyOf(t *testing.T) {
	samples := []time.Duration{30, 10, 20}
	got := LatencyOf(samples, 5)
	want := Latency{Sent: 5, Lost: 2, P50: 20, P99: 30, Max: 30}
	if got != want {
		t.Errorf("LatencyOf = %+v, want %+v", got, want)
	}
	if got := LatencyOf(nil, 3); got != (Latency{Sent: 3, Lost: 3}) {
		t.Errorf("LatencyOf(nil, 3) = %+v, want all lost", got)
	}
}

func TestPerSecond(t *testing.T) {
	if got := perSecond(500, 2*time.Second); got != 250 {
		t.Errorf("perSecond(500, 2s) = %v, want 250", got)
	}
	if got := perSecond(5, 0); got != 0 {
		t.Errorf("perSecond(5, 0) = %v, want 0", got)
	}
}

// TestPairedRatio: the median of the repetitions' own ratios, skipping a
// repetition either side lacks; a slow stretch that halves one window of
// each contender (rep 1 for the kernel, rep 3 for lvsd) moves the ratio
// of medians, not the pairs'.
func TestPairedRatio(t *testing.T) {
	nan := math.NaN()
	for _, tc := range []struct {
		name string
		a, b []float64
		want float64
	}{
		{"slow stretches", []float64{7000, 7200, 3600}, []float64{3500, 7000, 7400}, 7200.0 / 7000},
		{"a repetition missing", []float64{nan, 90, 110}, []float64{50, 100, 100}, 1.0},
		{"a zero kernel figure", []float64{10, 20}, []float64{0, 10}, 2.0},
		{"nothing in common", []float64{nan, 1}, []float64{1, nan}, nan},
	} {
		got := PairedRatio(tc.a, tc.b)
		if math.IsNaN(tc.want) != math.IsNaN(got) || !math.IsNaN(got) && math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("%s: PairedRatio(%v, %v) = %v, want %v", tc.name, tc.a, tc.b, got, tc.want)
		}
	}
	a, b := SpreadOf([]float64{7000, 7200, 3600}), SpreadOf([]float64{3500, 7000, 7400})
	if r := Ratio(a, b); r > 1.01 {
		t.Errorf("the example's ratio of medians is %v: it no longer shows what pairs correct", r)
	}
}
