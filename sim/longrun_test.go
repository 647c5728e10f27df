package sim

import (
	"testing"
	"time"
)

func TestCharge(t *testing.T) {
	s := time.Second
	events := []incident{
		{Kind: "reload", Start: 10 * s, End: 11 * s},
		{Kind: "failover", Start: 20 * s, End: 40 * s},
		{Kind: "reload", Start: 30 * s, End: 31 * s},
		{Kind: "flap", Start: 60 * s, End: -1}, // still in effect
	}
	grace := map[string]time.Duration{"failover": 10 * s, "flap": 8 * s, "reload": 3 * s}
	rank := []string{"failover", "flap", "reload"}
	for _, tc := range []struct {
		at   time.Duration
		want string
	}{
		{5 * s, steady},
		{10 * s, "reload"},
		{14 * s, "reload"},                     // within the reload's grace
		{15 * s, steady},                       // past it
		{30500 * time.Millisecond, "failover"}, // a reload during a failover: the failover
		{49 * s, "failover"},                   // the failover's grace
		{51 * s, steady},
		{90 * s, "flap"}, // not over yet
	} {
		if got := charge(events, tc.at, grace, rank); got != tc.want {
			t.Errorf("charge(%v) = %q, want %q", tc.at, got, tc.want)
		}
	}
	r := &TrafficResult{Events: []Event{{T: 5 * s, Err: "timeout"}, {T: 12 * s, Err: "connection refused"}, {T: 12 * s}, {T: 25 * s, Err: "timeout"}}}
	got := chargeFailures(events, grace, rank, r, nil)
	if got[steady] != 1 || got["reload"] != 1 || got["failover"] != 1 || len(got) != 3 {
		t.Errorf("chargeFailures = %v, want steady 1, reload 1, failover 1", got)
	}
}
