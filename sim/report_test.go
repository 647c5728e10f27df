package sim

import (
	"encoding/json"
	"encoding/xml"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// fixedResult is a run of the default site with the stand-in, frozen, so
// the report's layout can be compared byte for byte.
func fixedResult() *Result {
	web := traffic(events(100, 0, "203.0.113.11", "rs1", ""), events(200, 0, "203.0.113.12", "rs2", ""),
		events(300, 0, "203.0.113.21", "rs3", ""))
	web.Kind, web.Target = TrafficHTTP, "192.168.26.10:80"
	outage := traffic(events(60, 3500*time.Millisecond, "203.0.113.11", "rs1", ""),
		events(60, 3500*time.Millisecond, "203.0.113.11", "", "connection refused"))
	outage.Kind, outage.Target = TrafficHTTP, "192.168.26.10:80"
	dl := traffic(events(2, 900*time.Millisecond, "203.0.113.11", "rs2", ""))
	dl.Kind, dl.Target, dl.Bytes = TrafficDownload, "192.168.26.10:80", 64<<20
	took := 1800 * time.Millisecond
	return &Result{
		Topology: "nat", File: "embedded:nat.yaml", SiteID: "c0ffee",
		Description: "NAT, active and backup router, three real servers weighted 1:2:3 (wrr)",
		Guide:       "§1.1 figure 1.1, §3.1 NAT network",
		Router:      "kernel", RouterLabel: StandinLabel,
		Started: time.Date(2026, 11, 25, 20, 0, 0, 0, time.UTC), Setup: 700 * time.Millisecond, Duration: 5300 * time.Millisecond,
		Nodes: []NodeInfo{
			{Name: "client1", Role: RoleClient, Addresses: []string{"eth0 203.0.113.11/24"}},
			{Name: "lvs1", Role: RoleRouter, Addresses: []string{"eth0 192.168.26.9/24", "eth1 10.11.12.9/24"}},
			{Name: "rs1", Role: RoleReal, Addresses: []string{"eth0 10.11.12.1/24"}, Services: []string{"responder (http 80)"}},
		},
		Steps: []*StepResult{
			{Name: "web", Kind: "http", Start: 0, End: 3 * time.Second, What: "600 HTTP GETs / from client1, client2 to 192.168.26.10:80 (6 at a time)", Traffic: web},
			{Name: "big-download", Kind: "download", End: time.Second, What: "2 downloads of 32 MiB from 192.168.26.10:80 to client1, checksummed", Traffic: dl},
			{Name: "rs3-down", Kind: "fault stop-service", Start: 3 * time.Second, End: 3 * time.Second, What: "sent SIGKILL to responder on rs3 (pid 4242)"},
			{Name: "during-outage", Kind: "http", Start: 3500 * time.Millisecond, End: 5300 * time.Millisecond, What: "120 HTTP GETs / from client1 to 192.168.26.10:80 (4 at a time)", Traffic: outage},
			{Name: "primary-dies", Kind: "fault kill", What: "kill primary (router)", Skipped: "needs failover in lvsd (issue 9)"},
		},
		Asserts: []*AssertResult{
			{Kind: AssertShare, Of: "web", Passed: true, Summary: "shares of 600 successful requests within ±5 points of the wrr weights of virtual www",
				Shares: []ShareRow{
					{Server: "rs1", Address: "10.11.12.1", Weight: 1, Want: 1.0 / 6, Requests: 100, Got: 1.0 / 6, OK: true},
					{Server: "rs2", Address: "10.11.12.2", Weight: 2, Want: 2.0 / 6, Requests: 200, Got: 2.0 / 6, OK: true},
					{Server: "rs3", Address: "10.11.12.3", Weight: 3, Want: 3.0 / 6, Requests: 300, Got: 3.0 / 6, OK: true},
				}},
			{Kind: AssertIntact, Of: "big-download", Passed: true, Summary: "2 of 2 transfers complete with the right SHA-256 (64 MiB in all), 0 corrupt"},
			{Kind: AssertFailures, Of: "during-outage", Summary: "60 of 120 requests failed (allowed: 0)", Details: []string{"60 × connection refused"}},
			{Kind: AssertTakeover, Of: "after-takeover after primary-dies", Skipped: "needs failover in lvsd (issue 9)", Measure: &took},
		},
		Notes:       []string{"lvsd -t -f lvs.cf on lvs1: configuration OK: 3 virtual servers"},
		RouterSetup: "# on lvs1\ntable ip lvssim_standin {\n}\n",
	}
}

func TestMarkdownGolden(t *testing.T) {
	got := Markdown(fixedResult())
	golden := filepath.Join("testdata", "report.golden.md")
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("reading golden file (run go test ./sim -run Golden -update): %v", err)
	}
	if got != string(want) {
		t.Errorf("Markdown(fixedResult()) differs from %s (rerun with -update and review the diff):\n%s", golden, got)
	}
}

func TestReportContents(t *testing.T) {
	r := fixedResult()
	md := Markdown(r)
	for _, want := range []string{
		"**Result: FAIL — 2 assertion(s) passed, 1 failed, 1 skipped.**",
		StandinLabel,
		"| rs3 | 10.11.12.3 | 3 | 50.0% | 300 | 50.0% | yes |",
		"- **FAIL** failures of `during-outage`: 60 of 120 requests failed (allowed: 0)",
		"  - 60 × connection refused",
		"skipped: needs failover in lvsd (issue 9)",
		"| 3.0s | sent SIGKILL to responder on rs3 (pid 4242) | 60 | 60 × connection refused | +0.5s to +1.1s | no requests after it |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("Markdown lacks %q", want)
		}
	}
	if r.Passed() {
		t.Errorf("Passed() = true with a failed assertion")
	}
	sum := Summary(r, "/tmp/x")
	if !strings.Contains(sum, "lvssim nat: FAIL") || !strings.Contains(sum, "/tmp/x/report.md") {
		t.Errorf("Summary = %q, want the verdict and the report path", sum)
	}
}

func TestChartIsSVG(t *testing.T) {
	svg := Chart(fixedResult())
	var doc struct {
		XMLName   xml.Name
		Polylines []struct{} `xml:"polyline"`
	}
	if err := xml.Unmarshal([]byte(svg), &doc); err != nil {
		t.Fatalf("Chart is not XML: %v", err)
	}
	if doc.XMLName.Local != "svg" || len(doc.Polylines) != 4 { // rs1..rs3 and failures
		t.Errorf("Chart: root %q with %d polylines, want svg with 4", doc.XMLName.Local, len(doc.Polylines))
	}
	for _, want := range []string{"rs3-down", "failed", "seconds since the scenario started"} {
		if !strings.Contains(svg, want) {
			t.Errorf("Chart lacks %q", want)
		}
	}
}

func TestWriteReports(t *testing.T) {
	dir := t.TempDir()
	if err := WriteReports(dir, fixedResult()); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, ReportJSON))
	if err != nil {
		t.Fatal(err)
	}
	var back Result
	if err := json.Unmarshal(b, &back); err != nil || back.Topology != "nat" || len(back.Asserts) != 4 {
		t.Errorf("report.json round trip = %+v, %v", back, err)
	}
	for _, name := range []string{ReportMarkdown, ReportChart} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("WriteReports did not write %s: %v", name, err)
		}
	}
}
