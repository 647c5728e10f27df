package daemon

import (
	"net/netip"

	"lvs/config"
	"lvs/health"
)

// srvHealth is what the health checks said of one real server of one
// virtual server.
type srvHealth struct {
	in       bool  // in the table
	weight   int32 // its weight there
	failed   bool  // it has failed a check since lvsd started
	reported bool  // a check has reported at all
}

// healthView is the daemon's record of every monitor's verdict, written
// only by the management goroutine from the runner's events.
type healthView struct {
	srv   map[health.Key]*srvHealth
	sorry map[string]bool // virtual name → its sorry server is in
}

func newHealthView() *healthView {
	return &healthView{srv: map[health.Key]*srvHealth{}, sorry: map[string]bool{}}
}

// apply records one event. It reports whether the table must change.
func (h *healthView) apply(ev health.Event) bool {
	if ev.Sorry {
		in := ev.Action.Kind == health.ActAdd || ev.Action.Kind == health.ActSetWeight
		if ev.Action.Kind == health.ActNotice || h.sorry[ev.Virtual] == in {
			return false
		}
		h.sorry[ev.Virtual] = in
		return true
	}
	k := health.Key{Virtual: ev.Virtual, Server: ev.Server}
	s := h.srv[k]
	if s == nil {
		s = &srvHealth{in: true}
		h.srv[k] = s
	}
	s.reported = true
	switch ev.Action.Kind {
	case health.ActAdd, health.ActSetWeight:
		s.in, s.weight = true, int32(ev.Weight)
	case health.ActRemove:
		s.in, s.failed = false, true
	case health.ActNotice:
		if !ev.State.IsUp() {
			s.in, s.failed = false, true
		}
	}
	return true
}

// filter is the DestFilter of Desired. A server nobody has checked yet is
// in with its configured weight (keepalived's default: real servers start
// alive), so lvsd serves from its first second. Its first check takes it
// out if it fails. Weights from the checks are used once a server has failed
// at least once: nanny's slow start (w>>5, doubling) applies after a
// re-entry, not at start, where it would hold a 1:2:3 site at 1:1:1 for the
// first minute.
func (h *healthView) filter(v *config.Virtual, s *config.Server) (int32, bool) {
	st := h.srv[health.Key{Virtual: v.Name, Server: s.Name}]
	switch {
	case st == nil || !st.reported:
		return int32(s.Weight), true
	case !st.in:
		return 0, false
	case !st.failed:
		return int32(s.Weight), true
	}
	return st.weight, true
}

// specs lists the health checks lvs.cf asks for: one per active real server
// of each active virtual server, as lvs started one nanny each.
func healthSpecs(c *config.Config) []health.Spec {
	var out []health.Spec
	for _, v := range c.Virtuals {
		if !v.Active {
			continue
		}
		proto := health.TCP
		if v.Protocol == config.ProtoUDP {
			proto = health.UDP
		}
		var sorry netip.AddrPort
		if v.SorryServer.IsValid() {
			sorry = netip.AddrPortFrom(v.SorryServer, v.Port)
		}
		for _, s := range v.Servers {
			if !s.Active || !s.Address.IsValid() {
				continue
			}
			out = append(out, health.Spec{
				Virtual: v.Name, Server: s.Name, Addr: netip.AddrPortFrom(s.Address, v.RealPort(s)),
				VPort: v.Port, Protocol: proto, Weight: s.Weight, Timeout: v.Timeout, Reentry: v.Reentry,
				Quiesce: v.QuiesceServer, Sorry: sorry, Send: v.Send, Expect: v.Expect, UseRegex: v.UseRegex,
				SendProgram: v.SendProgram, LoadMonitor: v.LoadMonitor, RshCommand: c.RshCommand,
			})
		}
	}
	return out
}

// syncSpecs makes the runner check exactly specs: new monitors are added,
// changed ones updated (keeping their state), and gone ones removed.
func syncSpecs(r *health.Runner, cur map[health.Key]health.Spec, specs []health.Spec) (map[health.Key]health.Spec, []error) {
	next := make(map[health.Key]health.Spec, len(specs))
	var errs []error
	for _, s := range specs {
		k := s.Key()
		next[k] = s
		old, ok := cur[k]
		var err error
		switch {
		case !ok:
			err = r.Add(s)
		case old != s:
			err = r.Update(s)
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	for k := range cur {
		if _, ok := next[k]; !ok {
			if err := r.Remove(k); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return next, errs
}

// desired is Desired with the health checks' verdicts and the sorry
// servers: a virtual whose servers are all down gets its sorry_server with
// weight 1, as lvs did with `ipvsadm -a … -r SORRY -w 1`.
func (h *healthView) desired(c *config.Config) []WantService {
	want := Desired(c, h.filter)
	method := methodOf(c.Network)
	for i := range want {
		w := &want[i]
		for _, v := range w.From {
			if !v.SorryServer.IsValid() || !h.sorry[v.Name] {
				continue
			}
			port := v.Port
			if w.Spec.Key.FWMark != 0 {
				port = 0
			}
			dup := false
			for _, d := range w.Dests {
				dup = dup || d.Addr == v.SorryServer && d.Port == port
			}
			if !dup {
				w.Dests = append(w.Dests, ipvsDest(v.SorryServer, port, method, 1))
			}
		}
	}
	return want
}
