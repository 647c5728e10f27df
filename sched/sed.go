package sched

import "lvs/ipvs"

// SED is shortest-expected-delay scheduling (ip_vs_sed.c): the destination
// with the least (activeconns+1)/weight; inactive connections do not count.
// It is stateless and safe for concurrent use.
type SED struct{}

// Name returns "sed".
func (SED) Name() string { return "sed" }

// Update does nothing: sed keeps no state.
func (SED) Update(*ipvs.Service) {}

// Pick returns the destination as ip_vs_sed_schedule, comparing
// (active+1)*w by cross-multiplication with ties to the earlier destination.
func (SED) Pick(s *ipvs.Service, _ *ipvs.Flow) *ipvs.Dest { return sedPick(s.Dests, nil, 0, 0) }

// sedPick continues the SED walk over dests from a current least (nil for
// none) with overhead loh and weight lw; nq falls back to it. The kernel
// multiplies in unsigned 32 bits; 64 bits here cannot wrap.
func sedPick(dests []*ipvs.Dest, least *ipvs.Dest, loh, lw int64) *ipvs.Dest {
	for _, d := range dests {
		if d.Weight <= 0 || d.C.Overloaded() {
			continue
		}
		doh, dw := int64(d.C.SchedActive())+1, int64(d.Weight)
		if least == nil || loh*dw > doh*lw {
			least, loh, lw = d, doh, dw
		}
	}
	return least
}
