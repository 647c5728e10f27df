package sched

import "lvs/ipvs"

// OVF is overflow-connection scheduling (ip_vs_ovf.c): connections go to the
// highest-weight destination until its active connections exceed its
// weight, then overflow to the next. Only active connections count, so the
// kernel warns it does not suit UDP. It is stateless and safe for
// concurrent use.
type OVF struct{}

// Name returns "ovf".
func (OVF) Name() string { return "ovf" }

// Update does nothing: ovf keeps no state.
func (OVF) Update(*ipvs.Service) {}

// Pick returns the destination as ip_vs_ovf_schedule: skip overloaded,
// weight-0 and active > weight destinations; keep the first of the highest
// weight.
func (OVF) Pick(s *ipvs.Service, _ *ipvs.Flow) *ipvs.Dest {
	var best *ipvs.Dest
	var hw int32
	for _, d := range s.Dests {
		w := d.Weight
		if w <= 0 || d.C.Overloaded() || d.C.SchedActive() > w {
			continue
		}
		if best == nil || w > hw {
			best, hw = d, w
		}
	}
	return best
}
