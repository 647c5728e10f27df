package sched

import "lvs/ipvs"

// LC is least-connection scheduling (ip_vs_lc.c): the destination with the
// least overhead, activeconns<<8 + inactconns, whatever its weight as long
// as it is not 0. It is stateless and safe for concurrent use.
type LC struct{}

// Name returns "lc".
func (LC) Name() string { return "lc" }

// Update does nothing: lc keeps no state.
func (LC) Update(*ipvs.Service) {}

// Pick returns the least loaded destination as ip_vs_lc_schedule: skip
// overloaded and weight-0 destinations, replace the least only on a strictly
// smaller overhead, so ties go to the earlier destination.
func (LC) Pick(s *ipvs.Service, _ *ipvs.Flow) *ipvs.Dest {
	var least *ipvs.Dest
	var loh int64
	for _, d := range s.Dests {
		if d.Weight <= 0 || d.C.Overloaded() {
			continue
		}
		if doh := d.C.SchedOverhead(); least == nil || doh < loh {
			least, loh = d, doh
		}
	}
	return least
}
