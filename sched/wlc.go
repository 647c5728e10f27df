package sched

import "lvs/ipvs"

// WLC is weighted least-connection scheduling, the default of ipvsadm and
// Piranha (ip_vs_wlc.c): the destination with the least
// overhead/weight, overhead being activeconns<<8 + inactconns
// (ip_vs_dest_conn_overhead). It is stateless and safe for concurrent use.
type WLC struct{}

// Name returns "wlc".
func (WLC) Name() string { return "wlc" }

// Update does nothing: wlc keeps no state (ip_vs_wlc_scheduler has no hooks).
func (WLC) Update(*ipvs.Service) {}

// Pick returns the least loaded destination as ip_vs_wlc_schedule.
func (WLC) Pick(s *ipvs.Service, _ *ipvs.Flow) *ipvs.Dest { return wlcPick(s.Dests) }

// wlcPick is ip_vs_wlc_schedule (and __ip_vs_lblc_schedule,
// __ip_vs_lblcr_schedule, which are the same walk): the first available
// destination starts as least; a later one replaces it only when
// loh*w_d > doh*w_least, strictly, so ties stay with the earlier one.
// Overloaded destinations are skipped; weight 0 can never compare lower
// (the kernel relies on the product; the explicit test keeps that true
// even if a count were transiently negative).
func wlcPick(dests []*ipvs.Dest) *ipvs.Dest {
	var least *ipvs.Dest
	var loh, lw int64
	for _, d := range dests {
		if d.Weight <= 0 || d.C.Overloaded() {
			continue
		}
		doh, dw := d.C.SchedOverhead(), int64(d.Weight)
		if least == nil || loh*dw > doh*lw {
			least, loh, lw = d, doh, dw
		}
	}
	return least
}
