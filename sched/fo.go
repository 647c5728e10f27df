package sched

import "lvs/ipvs"

// FO is weighted fail-over scheduling (ip_vs_fo.c): every new connection
// goes to the available destination with the highest weight. It is
// stateless and safe for concurrent use.
type FO struct{}

// Name returns "fo".
func (FO) Name() string { return "fo" }

// Update does nothing: fo keeps no state.
func (FO) Update(*ipvs.Service) {}

// Pick returns the highest-weight destination that is not overloaded, as
// ip_vs_fo_schedule: a strictly greater weight replaces the choice, so the
// first of equal weights wins and weight 0 never does.
func (FO) Pick(s *ipvs.Service, _ *ipvs.Flow) *ipvs.Dest {
	var best *ipvs.Dest
	var hw int32
	for _, d := range s.Dests {
		if d.Weight > hw && !d.C.Overloaded() {
			best, hw = d, d.Weight
		}
	}
	return best
}
