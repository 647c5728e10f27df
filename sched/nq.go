package sched

import "lvs/ipvs"

// NQ is never-queue scheduling (ip_vs_nq.c): the first idle destination
// (no active connections) in list order, else the SED choice. It is
// stateless and safe for concurrent use.
type NQ struct{}

// Name returns "nq".
func (NQ) Name() string { return "nq" }

// Update does nothing: nq keeps no state.
func (NQ) Update(*ipvs.Service) {}

// Pick returns the destination as ip_vs_nq_schedule: one walk that returns
// at the first available destination with activeconns == 0 and otherwise
// keeps the least (active+1)/weight, ties to the earlier destination.
func (NQ) Pick(s *ipvs.Service, _ *ipvs.Flow) *ipvs.Dest {
	var least *ipvs.Dest
	var loh, lw int64
	for _, d := range s.Dests {
		if d.Weight <= 0 || d.C.Overloaded() {
			continue
		}
		active := int64(d.C.SchedActive())
		if active == 0 {
			return d
		}
		doh, dw := active+1, int64(d.Weight)
		if least == nil || loh*dw > doh*lw {
			least, loh, lw = d, doh, dw
		}
	}
	return least
}
