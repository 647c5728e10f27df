package sim

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestLongRunSummaries: soak and chaos report their traffic and downloads
// through the same lines (background.writeTraffic, writeDownloads), each
// naming what its failures are charged to.
func TestLongRunSummaries(t *testing.T) {
	s := time.Second
	load := &background{size: 1024,
		HTTP: &TrafficResult{Kind: TrafficHTTP, Requests: 100, OK: 98, Failed: 2, Failures: map[string]int{"timeout": 2},
			Events: []Event{{T: 12 * s, Err: "timeout"}, {T: 50 * s, Err: "timeout"}}},
		Downloads: &TrafficResult{Kind: TrafficDownload, Requests: 2, OK: 1, Failed: 1, Corrupt: 1,
			Events: []Event{{T: 20 * s, Server: "rs1"}, {T: 40 * s, Err: "checksum mismatch"}}}}
	traffic := "HTTP requests: 100, 98 answered, 2 failed; downloads: 2, 1 intact, 1 corrupt.\n\n"
	reasons := "Reasons: HTTP map[timeout:2], downloads map[].\n"
	downloads := fmt.Sprintf("\n## Downloads\n\n- every download is 1024 bytes of the pattern, SHA-256 %x\n"+
		"- download 1 ended at 20.0s from rs1: SHA-256 matches\n- download 2 ended at 40.0s: checksum mismatch\n", patternSum(1024))

	soak := &SoakResult{Duration: 120 * s, Load: load, Events: []incident{{Kind: "flap", Start: 10 * s, End: 20 * s}},
		Failed: map[string]int{"flap": 1, steady: 1}, Problems: []string{"1 downloads corrupt"}, Out: "/tmp/x"}
	chaos := &ChaosResult{Seed: 7, Planned: 100 * s, Duration: 100 * s, Load: load, Failed: map[string]int{"kill": 2},
		Violations: []string{"1 downloads corrupt"}, Out: "/tmp/y"}
	for _, tc := range []struct {
		name, got string
		want      []string
	}{
		{"soak", soak.summary(), []string{traffic +
			"Failed requests charged to the event in effect: failover 0, flap 1, reload 0, steady 1.\n" + reasons,
			downloads + "\nFAIL:\n- 1 downloads corrupt\n"}},
		{"chaos", chaos.summary(), []string{traffic +
			"Failed requests charged to the fault in effect (or settling): " + countLine(chaos.Failed, chaosKinds) + ".\n" + reasons,
			downloads + "\nFAIL (seed 7; replay: lvssim chaos --seed 7 --duration 1m40s):\n"}},
	} {
		for _, w := range tc.want {
			if !strings.Contains(tc.got, w) {
				t.Errorf("%s summary lacks\n%s\nit is:\n%s", tc.name, w, tc.got)
			}
		}
	}
	if !soak.failed() || !chaos.failed() || soak.interrupted() {
		t.Errorf("failed() = %v, %v, interrupted() = %v; want true, true, false", soak.failed(), chaos.failed(), soak.interrupted())
	}
}
