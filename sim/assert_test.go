package sim

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// events makes n events from src answered by server, starting at t, 10 ms apart.
func events(n int, t time.Duration, src, server, errMsg string) []Event {
	var out []Event
	for i := range n {
		out = append(out, Event{T: t + time.Duration(i)*10*time.Millisecond, Source: src, Server: server, Err: errMsg})
	}
	return out
}

func traffic(evs ...[]Event) *TrafficResult {
	tr := &TrafficResult{PerServer: map[string]int{}, Failures: map[string]int{}}
	for _, es := range evs {
		for _, e := range es {
			tr.Events = append(tr.Events, e)
			tr.Requests++
			if e.Server == "" {
				tr.Failed++
				tr.Failures[e.Err]++
			} else {
				tr.OK++
				tr.PerServer[e.Server]++
			}
		}
	}
	return tr
}

func natTopology(t *testing.T) *Topology {
	t.Helper()
	topo, err := LoadTopology("nat")
	if err != nil {
		t.Fatal(err)
	}
	return topo
}

func TestCheckShare(t *testing.T) {
	topo := natTopology(t)
	tests := []struct {
		name          string
		rs1, rs2, rs3 int
		tol           float64
		want          bool
	}{
		{"exact 1:2:3", 100, 200, 300, 0.05, true},
		{"within 5 points", 120, 190, 290, 0.05, true},
		{"rs3 starved", 200, 250, 150, 0.05, false},
		{"even split is not 1:2:3", 200, 200, 200, 0.05, false},
		{"even split with a wide tolerance", 200, 200, 200, 0.2, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := traffic(events(tc.rs1, 0, "a", "rs1", ""), events(tc.rs2, 0, "a", "rs2", ""), events(tc.rs3, 0, "a", "rs3", ""))
			tr.Target = "192.168.26.10:80"
			r := &Result{Steps: []*StepResult{{Name: "web", Traffic: tr}}}
			st := &Step{Assert: &Assertion{Kind: AssertShare, Of: "web", Tolerance: tc.tol}}
			got := check(r, topo, st)
			if got.Passed != tc.want {
				t.Errorf("check(share %d/%d/%d ±%v) passed = %v, want %v: %s %+v", tc.rs1, tc.rs2, tc.rs3, tc.tol, got.Passed, tc.want, got.Summary, got.Shares)
			}
			if len(got.Shares) != 3 || got.Shares[2].Weight != 3 || got.Shares[2].Server != "rs3" {
				t.Errorf("shares = %+v, want rows rs1..rs3 with rs3 weight 3", got.Shares)
			}
		})
	}
}

func TestCheckShareStrangerServer(t *testing.T) {
	tr := traffic(events(100, 0, "a", "rs1", ""), events(200, 0, "a", "rs2", ""), events(300, 0, "a", "rs3", ""),
		events(1, 0, "a", "intruder", ""))
	tr.Target = "192.168.26.10:80"
	r := &Result{Steps: []*StepResult{{Name: "web", Traffic: tr}}}
	got := check(r, natTopology(t), &Step{Assert: &Assertion{Kind: AssertShare, Of: "web", Tolerance: 0.05}})
	if got.Passed || !strings.Contains(strings.Join(got.Details, "\n"), "intruder") {
		t.Errorf("check = %+v, want a failure naming the unknown server", got)
	}
}

func TestCheckFailuresIntactPersistence(t *testing.T) {
	ok := traffic(events(10, 0, "a", "rs1", ""), events(10, 0, "b", "rs2", ""))
	bad := traffic(events(10, 0, "a", "rs1", ""), events(2, 0, "a", "", "connection refused"), events(3, 0, "b", "rs2", ""), events(1, 0, "b", "rs3", ""))
	bad.Corrupt = 1
	cut := traffic(events(5, 0, "a", "rs1", ""))
	cut.NotRun = 5
	ok.Bytes, ok.RouterTx = 64<<20, 100<<10  // direct routing: replies bypass the router
	bad.Bytes, bad.RouterTx = 64<<20, 70<<20 // NAT: replies cross it
	r := &Result{Steps: []*StepResult{{Name: "ok", Traffic: ok}, {Name: "bad", Traffic: bad}, {Name: "cut", Traffic: cut},
		{Name: "skipped", Skipped: "needs failover in lvsd (issue 9)"}}}
	tests := []struct {
		a    Assertion
		want bool
		text string
	}{
		{Assertion{Kind: AssertFailures, Of: "ok"}, true, "0 of 20 requests failed"},
		{Assertion{Kind: AssertFailures, Of: "bad", Max: 1}, false, "2 × connection refused"},
		{Assertion{Kind: AssertFailures, Of: "bad", Max: 2}, true, "2 of 16 requests failed (allowed: 2)"},
		{Assertion{Kind: AssertFailures, Of: "cut"}, false, "never sent"},
		{Assertion{Kind: AssertIntact, Of: "ok"}, true, "20 of 20 transfers"},
		{Assertion{Kind: AssertIntact, Of: "bad"}, false, "1 corrupt"},
		{Assertion{Kind: AssertPersistence, Of: "ok"}, true, "a → rs1×10"},
		{Assertion{Kind: AssertPersistence, Of: "bad"}, false, "b → rs2×3, rs3×1"},
		{Assertion{Kind: AssertPersistence, Of: "ok", Also: []string{"cut"}}, true, "a → rs1×15"},
		{Assertion{Kind: AssertBypass, Of: "ok", Tolerance: 0.1}, true, "sent 100 KiB while 64 MiB"},
		{Assertion{Kind: AssertBypass, Of: "bad", Tolerance: 0.1}, false, "sent 70 MiB"},
		{Assertion{Kind: AssertServedBy, Of: "cut", Server: "rs1"}, true, "5 of 5 successful requests answered by rs1"},
		{Assertion{Kind: AssertServedBy, Of: "ok", Server: "rs1"}, false, `10 requests answered by "rs2"`},
		{Assertion{Kind: AssertServedBy, Of: "cut", Server: "sorry"}, false, "0 of 5 successful requests answered by sorry"},
	}
	for _, tc := range tests {
		got := check(r, nil, &Step{Assert: &tc.a})
		all := got.Summary + "\n" + strings.Join(got.Details, "\n")
		if got.Passed != tc.want || !strings.Contains(all, tc.text) {
			t.Errorf("check(%s of %s) = %v %q, want %v and %q", tc.a.Kind, tc.a.Of, got.Passed, all, tc.want, tc.text)
		}
	}
	got := check(r, nil, &Step{Assert: &Assertion{Kind: AssertFailures, Of: "skipped"}})
	if got.Skipped != "needs failover in lvsd (issue 9)" {
		t.Errorf("check over a skipped step: Skipped = %q, want the step's reason", got.Skipped)
	}
}

func TestCheckTakeover(t *testing.T) {
	fault := &StepResult{Name: "kill", Start: 5 * time.Second}
	tests := []struct {
		name   string
		evs    [][]Event
		within time.Duration
		want   bool
		took   string
	}{
		{"recovers in 3s", [][]Event{events(50, 0, "a", "rs1", ""), events(30, 5*time.Second, "a", "", "timeout"),
			events(20, 8*time.Second, "a", "rs2", "")}, 10 * time.Second, true, "3.0s"},
		{"too slow", [][]Event{events(30, 5*time.Second, "a", "", "timeout"), events(20, 8*time.Second, "a", "rs2", "")},
			2 * time.Second, false, "3.0s"},
		{"never recovers", [][]Event{events(30, 5*time.Second, "a", "", "timeout")}, 10 * time.Second, false, "never"},
		{"no interruption", [][]Event{events(200, 4*time.Second, "a", "rs1", "")}, time.Second, true, "0.0s"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := &Result{Steps: []*StepResult{fault, {Name: "load", Traffic: traffic(tc.evs...)}}}
			got := check(r, nil, &Step{Assert: &Assertion{Kind: AssertTakeover, Of: "load", After: "kill", Within: tc.within}})
			if got.Passed != tc.want || !strings.Contains(got.Summary, tc.took) {
				t.Errorf("takeover = %v %q, want %v and %q", got.Passed, got.Summary, tc.want, tc.took)
			}
		})
	}
}

func TestStandinRules(t *testing.T) {
	topo := natTopology(t)
	rules, err := standinRules(topo.Site.Config, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"ip daddr 192.168.26.10 tcp dport 80 dnat to numgen inc mod 6 map { 0 : 10.11.12.1, 1-2 : 10.11.12.2, 3-5 : 10.11.12.3 }",
		"ip daddr 192.168.26.10 udp dport 7 dnat to numgen inc mod 3 map { 0 : 10.11.12.1, 1 : 10.11.12.2, 2 : 10.11.12.3 }",
		"type nat hook prerouting priority dstnat",
	} {
		if !strings.Contains(rules, want) {
			t.Errorf("standinRules(nat) lacks %q:\n%s", want, rules)
		}
	}
	ftp, err := LoadTopology("ftp")
	if err != nil {
		t.Fatal(err)
	}
	rules, err = standinRules(ftp.Site.Config, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"ip daddr 192.168.26.10/32 tcp dport { 21, 10000-20000 } meta mark set 21",
		"meta mark 21 dnat to jhash ip saddr mod 2 seed 0x4c5653 map { 0 : 10.11.12.1, 1 : 10.11.12.2 }",
		"type nat hook postrouting priority srcnat",
		"ip saddr 10.11.12.0/24 tcp sport 20 masquerade",
	} {
		if !strings.Contains(rules, want) {
			t.Errorf("standinRules(ftp) lacks %q:\n%s", want, rules)
		}
	}
	dr, err := LoadTopology("direct")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := standinRules(dr.Site.Config, nil, nil); err == nil || !strings.Contains(err.Error(), "no MAC") {
		t.Errorf("standinRules(direct) without MACs: err = %v, want a missing-MAC error", err)
	}
}

func TestChooseRouter(t *testing.T) {
	topo := natTopology(t)
	for _, tc := range []struct{ impl, lvsd, want string }{
		{"auto", "", "kernel"},
		{"auto", "/bin/lvsd", fmt.Sprint(map[bool]string{true: "lvsd", false: "kernel"}[len(lvsdFeatures) > 0 && (&lvsdRouter{}).Supports(FeatureNAT)])},
		{"kernel", "/bin/lvsd", "kernel"},
		{"lvsd", "/bin/lvsd", "lvsd"},
	} {
		r, err := chooseRouter(tc.impl, topo.Site.Config, tc.lvsd)
		if err != nil || r.Name() != tc.want {
			t.Errorf("chooseRouter(%s, lvsd=%q) = %v, %v; want %s", tc.impl, tc.lvsd, r, err, tc.want)
		}
	}
	if _, err := chooseRouter("lvsd", topo.Site.Config, ""); err == nil {
		t.Errorf("chooseRouter(lvsd) without a binary: want an error")
	}
}
