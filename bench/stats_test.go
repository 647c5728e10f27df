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
