package sim

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Report file names in the out dir.
const (
	ReportMarkdown = "report.md"
	ReportChart    = "chart.svg"
	ReportJSON     = "report.json"
)

// WriteReports writes report.md, chart.svg and report.json into dir.
func WriteReports(dir string, r *Result) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating report dir: %w", err)
	}
	j, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	for name, data := range map[string][]byte{
		ReportMarkdown: []byte(Markdown(r)),
		ReportChart:    []byte(Chart(r)),
		ReportJSON:     append(j, '\n'),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return fmt.Errorf("writing %s: %w", name, err)
		}
	}
	return nil
}

func secs(d time.Duration) string { return fmt.Sprintf("%.1fs", d.Seconds()) }

// Verdict is the one-line outcome: "PASS — 5 assertions passed, 2 skipped".
func (r *Result) Verdict() string {
	p, f, s := r.Counts()
	v := "PASS"
	if f > 0 {
		v = "FAIL"
	}
	return fmt.Sprintf("%s — %d assertion(s) passed, %d failed, %d skipped", v, p, f, s)
}

// Markdown renders the report for a person who was not watching.
func Markdown(r *Result) string {
	var b strings.Builder
	w := func(f string, a ...any) { fmt.Fprintf(&b, f, a...) }
	w("# lvssim report: %s\n\n", r.Topology)
	if r.Description != "" {
		w("%s", r.Description)
		if r.Guide != "" {
			w(" (guide %s)", r.Guide)
		}
		w(".\n\n")
	}
	w("**Result: %s.**\n\n", r.Verdict())
	w("- **Router:** %s\n", r.RouterLabel)
	w("- **Site:** `lvssim-%s-*` from `%s`, built in %s; the scenario ran %s (started %s).\n",
		r.SiteID, r.File, secs(r.Setup), secs(r.Duration), r.Started.UTC().Format("2006-01-02 15:04:05 UTC"))
	w("- **Traffic:** %s.\n\n", trafficTotals(r))
	if r.Router == "kernel" {
		w("> The router role was played by the Linux kernel (nftables DNAT or netdev forwarding generated from the\n")
		w("> site's lvs.cf, ip_forward on the primary router), not by lvsd. Shares and failures below describe that\n")
		w("> stand-in; steps needing lvsd-only features (health checks, heartbeat failover) are listed as skipped.\n\n")
	}
	writeTimeline(&b, r)
	writeShares(&b, r)
	writeAsserts(&b, r)
	writeFaults(&b, r)
	writeSite(&b, r)
	w("## Chart\n\n![requests per second per real server, with faults marked](%s)\n\n", ReportChart)
	w("Requests per second answered by each real server (one line each), failed requests in red, faults as dashed\n")
	w("vertical lines.\n")
	if len(r.Notes) > 0 {
		w("\n## Notes\n\n")
		for _, n := range r.Notes {
			w("- %s\n", n)
		}
	}
	if r.RouterSetup != "" {
		w("\n## What the stand-in loaded\n\nThe nftables ruleset generated from lvs.cf (weights become map ranges):\n\n")
		w("```\n%s```\n", r.RouterSetup)
	}
	return b.String()
}

func trafficTotals(r *Result) string {
	var req, ok, failed int
	for _, s := range r.Steps {
		if t := s.Traffic; t != nil {
			req, ok, failed = req+t.Requests, ok+t.OK, failed+t.Failed
		}
	}
	return fmt.Sprintf("%d requests, %d answered, %d failed", req, ok, failed)
}

func writeTimeline(b *strings.Builder, r *Result) {
	fmt.Fprintf(b, "## Timeline\n\n| when | step | what | outcome |\n|---|---|---|---|\n")
	for _, s := range r.Steps {
		when := secs(s.At)
		out := "done"
		switch {
		case s.Skipped != "":
			when, out = "—", "skipped: "+s.Skipped
		case s.Error != "":
			out = "**failed:** " + s.Error
		case s.Traffic != nil:
			when = secs(s.Start) + "–" + secs(s.End)
			t := s.Traffic
			out = fmt.Sprintf("%d ok, %d failed", t.OK, t.Failed)
			if t.NotRun > 0 {
				out += fmt.Sprintf(", %d not sent (time bound)", t.NotRun)
			}
			if len(t.PerServer) > 0 {
				out += " (" + perServer(t.PerServer) + ")"
			}
		default:
			when = secs(s.Start)
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s |\n", when, s.Name, s.What, out)
	}
	b.WriteString("\n")
}

func perServer(m map[string]int) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

func writeShares(b *strings.Builder, r *Result) {
	for _, a := range r.Asserts {
		if a.Kind != AssertShare || len(a.Shares) == 0 {
			continue
		}
		fmt.Fprintf(b, "## Requests per real server: %s\n\n%s.\n\n", a.Of, capitalize(a.Summary))
		b.WriteString("| real server | address | weight | expected share | requests | actual share | within tolerance |\n")
		b.WriteString("|---|---|---:|---:|---:|---:|---|\n")
		for _, s := range a.Shares {
			fmt.Fprintf(b, "| %s | %s | %d | %.1f%% | %d | %.1f%% | %s |\n", s.Server, s.Address, s.Weight,
				s.Want*100, s.Requests, s.Got*100, yesNo(s.OK))
		}
		b.WriteString("\n")
	}
}

func writeAsserts(b *strings.Builder, r *Result) {
	b.WriteString("## Assertions\n\n")
	for _, a := range r.Asserts {
		mark, text := assertMark(a, "PASS", "SKIPPED")
		fmt.Fprintf(b, "- **%s** %s of `%s`: %s\n", mark, a.Kind, a.Of, text)
		if a.Skipped == "" {
			for _, d := range a.Details {
				fmt.Fprintf(b, "  - %s\n", d)
			}
		}
	}
	b.WriteString("\n")
}

// assertMark returns the mark of a (FAIL; skip when it was skipped; pass
// when it passed) and the text to show beside it: why it was skipped, or
// else its summary.
func assertMark(a *AssertResult, pass, skip string) (mark, text string) {
	switch {
	case a.Skipped != "":
		return skip, a.Skipped
	case a.Passed:
		return pass, a.Summary
	}
	return "FAIL", a.Summary
}

// writeFaults lists each injected fault with the failures seen until the
// next fault: how many, why, and when they started and stopped.
func writeFaults(b *strings.Builder, r *Result) {
	var faults []*StepResult
	for _, s := range r.Steps {
		if strings.HasPrefix(s.Kind, "fault") && s.Skipped == "" && s.Error == "" {
			faults = append(faults, s)
		}
	}
	if len(faults) == 0 {
		return
	}
	b.WriteString("## Faults and what they caused\n\n")
	b.WriteString("Failed requests counted from each fault until the next one.\n\n")
	b.WriteString("| at | fault | failed requests | reasons | failures seen | answered after the last failure |\n")
	b.WriteString("|---|---|---:|---|---|---|\n")
	for i, f := range faults {
		end := r.Duration + time.Hour
		if i+1 < len(faults) {
			end = faults[i+1].Start
		}
		im := impact(r, f.Start, end)
		seen, after := "—", "—"
		if im.failed > 0 {
			seen = fmt.Sprintf("+%s to +%s", secs(im.first-f.Start), secs(im.last-f.Start))
			after = "no requests after it"
			if im.answeredAfter {
				after = "yes"
			}
		}
		fmt.Fprintf(b, "| %s | %s | %d | %s | %s | %s |\n", secs(f.Start), f.What, im.failed,
			orDefault(im.reasons, "—"), seen, after)
	}
	for _, a := range r.Asserts {
		if a.Kind == AssertTakeover && a.Measure != nil && a.Skipped == "" {
			fmt.Fprintf(b, "\nTakeover (%s): %s.\n", a.Of, a.Summary)
		}
	}
	b.WriteString("\n")
}

// faultImpact is what happened to requests between a fault and the next.
type faultImpact struct {
	failed        int
	reasons       string
	first, last   time.Duration // first and last failure
	answeredAfter bool          // some request succeeded after the last failure
}

func impact(r *Result, from, to time.Duration) faultImpact {
	im := faultImpact{first: -1, last: -1}
	reasons := map[string]int{}
	var evs []Event
	for _, s := range r.Steps {
		if s.Traffic != nil {
			evs = append(evs, s.Traffic.Events...)
		}
	}
	for _, e := range evs {
		if e.T >= from && e.T < to && e.Server == "" {
			im.failed++
			reasons[e.Err]++
			if im.first < 0 || e.T < im.first {
				im.first = e.T
			}
			im.last = max(im.last, e.T)
		}
	}
	for _, e := range evs {
		if im.failed > 0 && e.T > im.last && e.Server != "" {
			im.answeredAfter = true
		}
	}
	var rs []string
	for _, k := range slices.Sorted(maps.Keys(reasons)) {
		rs = append(rs, fmt.Sprintf("%d × %s", reasons[k], k))
	}
	im.reasons = strings.Join(rs, "; ")
	return im
}

func writeSite(b *strings.Builder, r *Result) {
	b.WriteString("## Site\n\n| node | role | addresses | services |\n|---|---|---|---|\n")
	for _, n := range r.Nodes {
		fmt.Fprintf(b, "| %s | %s | %s | %s |\n", n.Name, n.Role, strings.Join(n.Addresses, ", "),
			orDefault(strings.Join(n.Services, ", "), "—"))
	}
	b.WriteString("\n")
}

func yesNo(ok bool) string {
	if ok {
		return "yes"
	}
	return "**no**"
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// Summary is the short text printed to stdout after a run.
func Summary(r *Result, dir string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "lvssim %s: %s\n", r.Topology, r.Verdict())
	fmt.Fprintf(&b, "router: %s\n", r.RouterLabel)
	fmt.Fprintf(&b, "traffic: %s; setup %s, scenario %s\n", trafficTotals(r), secs(r.Setup), secs(r.Duration))
	for _, a := range r.Asserts {
		mark, text := assertMark(a, "ok  ", "skip")
		fmt.Fprintf(&b, "  %s %s of %s: %s\n", mark, a.Kind, a.Of, text)
		for _, s := range a.Shares {
			fmt.Fprintf(&b, "         %-6s weight %d: want %5.1f%%, got %5.1f%% (%d requests)\n",
				s.Server, s.Weight, s.Want*100, s.Got*100, s.Requests)
		}
	}
	for _, st := range r.Steps {
		if t := st.Traffic; t != nil && t.Failed > 0 {
			fmt.Fprintf(&b, "  failures in %s: %s\n", st.Name, strings.Join(failureLines(t), ", "))
		}
	}
	if dir != "" {
		fmt.Fprintf(&b, "report: %s (chart: %s)\n", filepath.Join(dir, ReportMarkdown), filepath.Join(dir, ReportChart))
	}
	return b.String()
}
