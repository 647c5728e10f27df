package bench

import (
	"fmt"
	"strconv"
	"strings"
)

// metricValue finds the sample of metric name without labels in a
// Prometheus text exposition (lvsd's /metrics).
func metricValue(text, name string) (float64, error) {
	for _, l := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(l, name+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	return 0, fmt.Errorf("lvsd's /metrics has no %s", name)
}

// modeMetric is the gauge lvsd sets to 1 for the dataplane mode it runs
// (`lvs_dataplane_mode{mode="tcx"} 1`).
const modeMetric = "lvs_dataplane_mode"

// dataplaneMode returns the modes whose lvs_dataplane_mode sample is not
// 0, joined by ", " (one, normally); "" when lvsd reports none.
func dataplaneMode(text string) string {
	var modes []string
	for _, l := range strings.Split(text, "\n") {
		rest, ok := strings.CutPrefix(l, modeMetric+"{")
		if !ok {
			continue
		}
		labels, value, ok := strings.Cut(rest, "} ")
		if !ok {
			continue
		}
		if v, err := strconv.ParseFloat(strings.TrimSpace(value), 64); err != nil || v == 0 {
			continue
		}
		for _, kv := range strings.Split(labels, ",") {
			if m, ok := strings.CutPrefix(strings.TrimSpace(kv), `mode="`); ok {
				modes = append(modes, strings.TrimSuffix(m, `"`))
			}
		}
	}
	return strings.Join(modes, ", ")
}
