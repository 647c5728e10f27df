package sim

import (
	"fmt"
	"maps"
	"math"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// check evaluates one assertion against the results. An assertion over a
// step that was skipped is skipped with the same reason.
func check(r *Result, t *Topology, st *Step) *AssertResult {
	a := st.Assert
	ar := &AssertResult{Kind: a.Kind, Of: assertLabel(a)}
	of := r.step(a.Of)
	switch {
	case of == nil:
		ar.Skipped = "step " + a.Of + " did not run"
		return ar
	case of.Skipped != "":
		ar.Skipped = of.Skipped
		return ar
	case of.Traffic == nil:
		ar.Skipped = "step " + a.Of + " has no traffic results"
		return ar
	}
	tr := of.Traffic
	switch a.Kind {
	case AssertShare:
		checkShare(ar, a, t, of)
	case AssertFailures:
		ar.Passed = tr.Failed <= a.Max
		ar.Summary = fmt.Sprintf("%d of %d requests failed (allowed: %d)", tr.Failed, tr.Requests, a.Max)
		ar.Details = failureLines(tr)
		if tr.NotRun > 0 {
			ar.Passed = false
			ar.Details = append(ar.Details, fmt.Sprintf("%d requests were never sent: the step hit its duration bound", tr.NotRun))
		}
	case AssertIntact:
		ar.Passed = tr.Corrupt == 0 && tr.Failed == 0 && tr.OK > 0
		ar.Summary = fmt.Sprintf("%d of %d transfers complete with the right SHA-256 (%s in all), %d corrupt",
			tr.OK, tr.Requests, humanBytes(tr.Bytes), tr.Corrupt)
		ar.Details = failureLines(tr)
	case AssertPersistence:
		evs := slices.Clone(tr.Events)
		for _, name := range a.Also {
			if o := r.step(name); o != nil && o.Traffic != nil {
				evs = append(evs, o.Traffic.Events...)
			}
		}
		checkPersistence(ar, evs)
	case AssertTakeover:
		checkTakeover(ar, a, r, tr)
	case AssertServedBy:
		others := 0
		for srv, n := range tr.PerServer {
			if srv != a.Server {
				others += n
				ar.Details = append(ar.Details, fmt.Sprintf("%d requests answered by %q", n, srv))
			}
		}
		slices.Sort(ar.Details)
		ar.Passed = tr.PerServer[a.Server] > 0 && others == 0
		ar.Summary = fmt.Sprintf("%d of %d successful requests answered by %s", tr.PerServer[a.Server], tr.OK, a.Server)
	case AssertBypass:
		ar.Passed = tr.OK > 0 && float64(tr.RouterTx) <= a.Tolerance*float64(tr.Bytes)
		ar.Summary = fmt.Sprintf("the active router sent %s while %s of replies reached the clients (allowed: %.0f%%)",
			humanBytes(tr.RouterTx), humanBytes(tr.Bytes), a.Tolerance*100)
	}
	return ar
}

func failureLines(tr *TrafficResult) []string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(tr.Failures)) {
		out = append(out, fmt.Sprintf("%d × %s", tr.Failures[k], k))
	}
	return out
}

// assertLabel names what an assertion judges: "web", "http, https",
// "load after kill-primary".
func assertLabel(a *Assertion) string {
	l := strings.Join(append([]string{a.Of}, a.Also...), ", ")
	if a.Kind == AssertTakeover {
		l += " after " + a.After
	}
	return l
}

// checkShare compares each real server's share of successful requests with
// its share of the total weight of the virtual server the traffic hit.
func checkShare(ar *AssertResult, a *Assertion, t *Topology, of *StepResult) {
	tr := of.Traffic
	var target = tr.Target
	v, err := t.Site.virtualFor(mustAddrPort(target), a.Virtual)
	if err != nil {
		ar.Summary = err.Error()
		return
	}
	servers := activeServers(v)
	total := 0
	for _, s := range servers {
		total += s.Weight
	}
	names := serverNames(t)
	ar.Passed = tr.OK > 0
	for _, s := range servers {
		name := names[s.Address.String()]
		row := ShareRow{Server: name, Address: s.Address.String(), Weight: s.Weight,
			Want: float64(s.Weight) / float64(total), Requests: tr.PerServer[name]}
		if tr.OK > 0 {
			row.Got = float64(row.Requests) / float64(tr.OK)
		}
		row.OK = math.Abs(row.Got-row.Want) <= a.Tolerance+1e-9
		ar.Passed = ar.Passed && row.OK
		ar.Shares = append(ar.Shares, row)
	}
	for srv, n := range tr.PerServer {
		if !slices.ContainsFunc(ar.Shares, func(r ShareRow) bool { return r.Server == srv }) {
			ar.Passed = false
			ar.Details = append(ar.Details, fmt.Sprintf("%d requests answered by %q, which is not an active server of %s", n, srv, v.Name))
		}
	}
	ar.Summary = fmt.Sprintf("shares of %d successful requests within ±%.0f points of the %s weights of virtual %s",
		tr.OK, a.Tolerance*100, v.Scheduler, v.Name)
	if a.Tolerance*float64(tr.OK) < 1 {
		// Less than one request of leeway: rr's exact rotation, 20/20/20 of 60.
		ar.Summary = fmt.Sprintf("shares of %d successful requests exactly those of the %s weights of virtual %s",
			tr.OK, v.Scheduler, v.Name)
	}
}

// serverNames maps real server addresses to node names.
func serverNames(t *Topology) map[string]string {
	m := map[string]string{}
	for _, n := range t.Nodes {
		for _, i := range n.Interfaces {
			for _, a := range i.Addresses {
				m[a.Addr().String()] = n.Name
			}
		}
	}
	return m
}

// checkPersistence requires every source address to have been answered by
// one real server only.
func checkPersistence(ar *AssertResult, events []Event) {
	seen := map[string]map[string]int{}
	for _, e := range events {
		if e.Server == "" {
			continue
		}
		if seen[e.Source] == nil {
			seen[e.Source] = map[string]int{}
		}
		seen[e.Source][e.Server]++
	}
	ar.Passed = len(seen) > 0
	for _, src := range slices.Sorted(maps.Keys(seen)) {
		servers := slices.Sorted(maps.Keys(seen[src]))
		if len(servers) > 1 {
			ar.Passed = false
		}
		var parts []string
		for _, s := range servers {
			parts = append(parts, fmt.Sprintf("%s×%d", s, seen[src][s]))
		}
		ar.Details = append(ar.Details, fmt.Sprintf("%s → %s", src, strings.Join(parts, ", ")))
	}
	ar.Summary = fmt.Sprintf("each of %d client addresses stayed on one real server", len(seen))
}

// checkTakeover measures, from the fault, how long until requests succeed
// again for good: the time of the first success after the last failure
// before the next fault (a later fault's failures are that fault's).
func checkTakeover(ar *AssertResult, a *Assertion, r *Result, tr *TrafficResult) {
	f := r.step(a.After)
	if f == nil || f.Skipped != "" {
		ar.Skipped = "fault step " + a.After + " did not run"
		return
	}
	until := nextFault(r, f)
	var lastFail, recovered time.Duration = -1, -1
	for _, e := range tr.Events {
		if e.T >= f.Start && e.T < until && e.Server == "" && e.T > lastFail {
			lastFail = e.T
		}
	}
	for _, e := range tr.Events {
		if e.T > lastFail && e.T >= f.Start && e.T < until && e.Server != "" && (recovered < 0 || e.T < recovered) {
			recovered = e.T
		}
	}
	if recovered < 0 {
		ar.Summary = fmt.Sprintf("service never recovered after %s", a.After)
		return
	}
	took := recovered - f.Start
	if lastFail < 0 {
		took = 0
	}
	ar.Measure = &took
	ar.Passed = took <= a.Within
	ar.Summary = fmt.Sprintf("service answered again %.1fs after %s (allowed: %v)", took.Seconds(), a.After, a.Within)
	ar.Details = failureLines(tr)
}

// nextFault returns when the first fault step after f started, or the end
// of time when none did.
func nextFault(r *Result, f *StepResult) time.Duration {
	until := time.Duration(math.MaxInt64)
	for _, s := range r.Steps {
		if s != f && strings.HasPrefix(s.Kind, "fault") && s.Skipped == "" && s.Start > f.Start && s.Start < until {
			until = s.Start
		}
	}
	return until
}

func mustAddrPort(s string) netip.AddrPort {
	ap, _ := netip.ParseAddrPort(s)
	return ap
}
