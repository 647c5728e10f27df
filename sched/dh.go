package sched

import (
	"slices"
	"sync/atomic"

	"lvs/ipvs"
)

// dhBits is IP_VS_DH_TAB_BITS: dh and sh use 256 buckets.
const (
	dhBits = 8
	dhSize = 1 << dhBits
)

// DH is destination-hashing scheduling (ip_vs_dh.c): a static 256-bucket
// table, filled by walking the list round-robin with one bucket per
// destination (weights are ignored), is indexed by hash_32 of the packet's
// destination address. An unavailable destination means no destination:
// there is no fallback. Update publishes a rebuilt table atomically, so Pick
// never locks.
type DH struct {
	table atomic.Pointer[[dhSize]*ipvs.Dest]

	prev []*ipvs.Dest // the list of the last Update; only the writer touches it
}

// NewDH returns a destination-hashing scheduler with an empty table.
func NewDH() *DH {
	h := &DH{}
	h.table.Store(new([dhSize]*ipvs.Dest))
	return h
}

// Name returns "dh".
func (h *DH) Name() string { return "dh" }

// Pick returns the bucket's destination for f.Dst's address, or nil if it
// is quiesced or overloaded, as ip_vs_dh_schedule.
func (h *DH) Pick(_ *ipvs.Service, f *ipvs.Flow) *ipvs.Dest {
	d := h.table.Load()[hash32(fold(f.Dst.Addr()), dhBits)]
	if d == nil || d.Weight <= 0 || d.C.Overloaded() {
		return nil
	}
	return d
}

// Update refills the buckets as ip_vs_dh_reassign (bucket i gets the i-th
// destination modulo the list length) whenever a destination changed.
func (h *DH) Update(s *ipvs.Service) {
	if h.prev != nil && slices.Equal(h.prev, s.Dests) {
		return
	}
	h.prev = s.Dests
	t := new([dhSize]*ipvs.Dest)
	if n := len(s.Dests); n > 0 {
		for i := range t {
			t[i] = s.Dests[i%n]
		}
	}
	h.table.Store(t)
}
