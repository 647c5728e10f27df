package sim

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"
)

// RunScenario runs the topology's scenario on the site, steps in file
// order: each starts at its offset and after the steps it names in after;
// traffic runs concurrently, faults are injected in turn; then every
// assertion is checked. Steps whose features the router
// implementation lacks are skipped with the reason, never faked.
func (s *Site) RunScenario(ctx context.Context) *Result {
	r := s.newResult()
	t0 := time.Now()
	r.Started = t0
	var wg sync.WaitGroup
	done := map[string]chan struct{}{} // closed when a step has finished
	prog := newProgress(s.log, t0, &s.answered, &s.failed)
	defer prog.stop()
	for _, st := range s.Topo.Scenario {
		if st.Assert != nil {
			continue
		}
		sr := &StepResult{Name: st.Name, At: st.At, What: describe(st), Kind: stepKind(st)}
		r.Steps = append(r.Steps, sr)
		fin := make(chan struct{})
		done[st.Name] = fin
		if why := s.skipReason(st); why != "" {
			sr.Skipped = why
			close(fin)
			s.logf("%6.1fs  skip %s: %s", time.Since(t0).Seconds(), st.Name, why)
			continue
		}
		if !waitStart(ctx, t0, st.At, st.After, done) {
			sr.Skipped = "interrupted"
			close(fin)
			continue
		}
		sr.Start = time.Since(t0)
		if st.Fault != nil {
			s.runFault(ctx, st, sr, t0)
			close(fin)
			continue
		}
		s.logf("%6.1fs  start %s: %s", sr.Start.Seconds(), st.Name, sr.What)
		wg.Add(1)
		prog.add()
		go func() {
			defer wg.Done()
			defer close(fin)
			tx0 := s.routerTx()
			tr := s.runTraffic(ctx, st.Traffic, t0)
			tr.RouterTx = s.routerTx() - tx0
			sr.Traffic, sr.End = tr, time.Since(t0)
			prog.done()
			s.logf("%6.1fs  end   %s: %d ok, %d failed%s", sr.End.Seconds(), st.Name, tr.OK, tr.Failed, notRun(tr))
		}()
	}
	wg.Wait()
	r.Duration = time.Since(t0)
	for _, st := range s.Topo.Scenario {
		if st.Assert == nil {
			continue
		}
		if why := s.skipReason(st); why != "" {
			r.Asserts = append(r.Asserts, &AssertResult{Kind: st.Assert.Kind, Of: assertLabel(st.Assert), Skipped: why})
			continue
		}
		r.Asserts = append(r.Asserts, check(r, s.Topo, st))
	}
	return r
}

// waitStart waits until every step in after has finished, then for the
// offset at: counted from the scenario start t0, or, when the step waits
// for others, from when they finished. It reports false when ctx ends first.
func waitStart(ctx context.Context, t0 time.Time, offset time.Duration, after []string, done map[string]chan struct{}) bool {
	for _, a := range after {
		select {
		case <-done[a]:
		case <-ctx.Done():
			return false
		}
	}
	at := t0.Add(offset)
	if len(after) > 0 {
		at = time.Now().Add(offset)
	}
	select {
	case <-ctx.Done():
		return false
	case <-time.After(time.Until(at)):
		return true
	}
}

func (s *Site) runFault(ctx context.Context, st *Step, sr *StepResult, t0 time.Time) {
	detail, err := s.inject(ctx, st.Fault)
	sr.End = time.Since(t0)
	if err != nil {
		sr.Error = err.Error()
	} else {
		sr.What = detail
	}
	s.logf("%6.1fs  fault %s: %s", sr.Start.Seconds(), st.Name, orDefault(sr.Error, detail))
}

func notRun(tr *TrafficResult) string {
	if tr.NotRun == 0 {
		return ""
	}
	return fmt.Sprintf(", %d not sent (duration bound)", tr.NotRun)
}

// skipReason says why a step cannot run with this router implementation.
func (s *Site) skipReason(st *Step) string {
	if s.Router == nil {
		return ""
	}
	for _, f := range st.Requires {
		if !s.Router.Supports(Feature(f)) {
			return needs(Feature(f))
		}
	}
	if f := st.Fault; f != nil && f.Process == "router" && s.Router.Name() != "lvsd" {
		return "needs lvsd running as the router (--router lvsd): the kernel stand-in has no process to " + string(f.Kind)
	}
	if st.Traffic != nil && st.Traffic.Kind == TrafficFTP && !haveCommand("lftp") {
		return "needs lftp installed (apt-get install lftp)"
	}
	return ""
}

func (s *Site) newResult() *Result {
	t := s.Topo
	r := &Result{Topology: t.Name, File: t.File, Description: t.Description, Guide: t.Guide, SiteID: s.ID}
	if s.Router != nil {
		r.Router, r.RouterLabel = s.Router.Name(), s.Router.Label()
		if k, ok := s.Router.(*kernelRouter); ok {
			r.RouterSetup = k.rules
		}
	}
	if s.Bins != nil {
		r.Notes = append(r.Notes, s.Bins.Notes...)
	}
	r.Notes = append(r.Notes, s.notes...)
	for _, n := range t.Nodes {
		ni := NodeInfo{Name: n.Name, Role: n.Role}
		for _, i := range n.Interfaces {
			for _, a := range i.Addresses {
				ni.Addresses = append(ni.Addresses, i.Name+" "+a.String())
			}
		}
		for _, a := range n.Loopback {
			ni.Addresses = append(ni.Addresses, "lo "+a.String())
		}
		for _, a := range n.IPIP {
			ni.Addresses = append(ni.Addresses, tunDev+" "+a.String())
		}
		for _, r := range n.Redirect {
			ni.Addresses = append(ni.Addresses, "REDIRECT "+r.String())
		}
		for _, sv := range n.Services {
			ni.Services = append(ni.Services, describeService(sv))
		}
		r.Nodes = append(r.Nodes, ni)
	}
	return r
}

func describeService(sv *Service) string {
	var p []string
	for _, x := range []struct {
		n string
		v int
	}{{"http", sv.HTTP}, {"https", sv.HTTPS}, {"tcp", sv.TCP}, {"udp", sv.UDP}, {"port", sv.Port}} {
		if x.v != 0 {
			p = append(p, fmt.Sprintf("%s %d", x.n, x.v))
		}
	}
	return fmt.Sprintf("%s (%s)", sv.Kind, strings.Join(p, ", "))
}

func stepKind(st *Step) string {
	switch {
	case st.Traffic != nil:
		return string(st.Traffic.Kind)
	case st.Fault != nil:
		return "fault " + string(st.Fault.Kind)
	}
	return "assert"
}

// describe says in one line what a step does.
func describe(st *Step) string {
	if t := st.Traffic; t != nil {
		from := strings.Join(t.From, ", ")
		switch t.Kind {
		case TrafficHTTP:
			return fmt.Sprintf("%d HTTP GETs %s from %s to %v (%d at a time)", t.Count, t.Path, from, t.To, t.Concurrency)
		case TrafficDownload:
			return fmt.Sprintf("%d downloads of %s from %v to %s, checksummed", t.Count, humanBytes(t.Size), t.To, from)
		case TrafficFTP:
			return fmt.Sprintf("%d %s FTP sessions (lftp) from %s to %v", t.Count, t.Mode, from, t.To)
		case TrafficTCP:
			if t.Size > 0 {
				return fmt.Sprintf("%d TCP echo streams of %s from %s to %v, checksummed", t.Count, humanBytes(t.Size), from, t.To)
			}
			return fmt.Sprintf("%d TCP echo exchanges from %s to %v", t.Count, from, t.To)
		default:
			return fmt.Sprintf("%d %s echo exchanges from %s to %v", t.Count, strings.ToUpper(string(t.Kind)), from, t.To)
		}
	}
	f := st.Fault
	where := f.Target
	if f.Interface != "" {
		where += " " + f.Interface
	}
	if f.Process != "" {
		where += " (" + f.Process + ")"
	}
	return fmt.Sprintf("%s %s", f.Kind, strings.TrimSpace(where))
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}
