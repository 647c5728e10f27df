package bench

import (
	"math"
	"slices"
	"time"
)

// Spread is the min / median / max of one figure over the repetitions that
// measured it. N is how many did; a zero Spread (N == 0) means none did.
type Spread struct {
	Min    float64 `json:"min"`
	Median float64 `json:"median"`
	Max    float64 `json:"max"`
	N      int     `json:"n"`
}

// SpreadOf returns the min / median / max of xs, ignoring NaNs (a
// repetition that could not measure the figure). The median of an even
// count is the mean of the two middle values.
func SpreadOf(xs []float64) Spread {
	v := make([]float64, 0, len(xs))
	for _, x := range xs {
		if !math.IsNaN(x) && !math.IsInf(x, 0) {
			v = append(v, x)
		}
	}
	if len(v) == 0 {
		return Spread{}
	}
	slices.Sort(v)
	n := len(v)
	med := v[n/2]
	if n%2 == 0 {
		med = (v[n/2-1] + v[n/2]) / 2
	}
	return Spread{Min: v[0], Median: med, Max: v[n-1], N: n}
}

// PairedRatio is the median over the repetitions both measured of
// a's figure ÷ b's in that repetition: each pair ran minutes apart at
// most, one right after the other, so a slow stretch of the machine
// (this VM's neighbours halve some windows) weighs on one pair, where it
// can move one side's median alone. NaN when no repetition has both.
func PairedRatio(a, b []float64) float64 {
	var rs []float64
	for i := range min(len(a), len(b)) {
		if b[i] != 0 && !math.IsNaN(a[i]) && !math.IsNaN(b[i]) {
			rs = append(rs, a[i]/b[i])
		}
	}
	sp := SpreadOf(rs)
	if sp.N == 0 {
		return math.NaN()
	}
	return sp.Median
}

// Ratio returns a.Median / b.Median, or NaN when either is missing or b is 0.
func Ratio(a, b Spread) float64 {
	if a.N == 0 || b.N == 0 || b.Median == 0 {
		return math.NaN()
	}
	return a.Median / b.Median
}

// Percentile returns the p-th percentile (0 < p ≤ 100) of sorted by the
// nearest-rank method, or 0 for an empty slice.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	k := int(math.Ceil(p / 100 * float64(n)))
	k = min(max(k, 1), n)
	return sorted[k-1]
}

// Latency summarises request round trips: nearest-rank percentiles over the
// answered requests; Lost counts requests that got no answer in time.
type Latency struct {
	Sent int           `json:"sent"`
	Lost int           `json:"lost"`
	P50  time.Duration `json:"p50_ns"`
	P99  time.Duration `json:"p99_ns"`
	Max  time.Duration `json:"max_ns"`
}

// LatencyOf summarises samples (sorted in place) of sent requests.
func LatencyOf(samples []time.Duration, sent int) Latency {
	slices.Sort(samples)
	l := Latency{Sent: sent, Lost: sent - len(samples)}
	if len(samples) > 0 {
		l.P50 = Percentile(samples, 50)
		l.P99 = Percentile(samples, 99)
		l.Max = samples[len(samples)-1]
	}
	return l
}

// perSecond returns n / d in events per second, 0 for an empty window.
func perSecond(n uint64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}
