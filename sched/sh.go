package sched

import (
	"slices"
	"sync/atomic"

	"lvs/ipvs"
)

// SH is source-hashing scheduling (ip_vs_sh.c): a 256-bucket table in which
// each destination fills as many consecutive buckets as its weight (at
// least one, so weight 0 still takes a bucket), cycling through the list
// until the table is full, indexed by hash_32 of the client address (plus
// its port with sh-port, SchedFlag2). An unavailable destination means nil,
// or with sh-fallback (SchedFlag1) the kernel's deterministic probe of the
// other buckets. Update publishes a rebuilt table atomically.
type SH struct {
	flags ipvs.SchedFlags
	table atomic.Pointer[[dhSize]*ipvs.Dest]

	prev []*ipvs.Dest // the list of the last Update; only the writer touches it
}

// NewSH returns a source-hashing scheduler with the flags of opts.
func NewSH(opts ipvs.SchedOptions) *SH {
	h := &SH{flags: opts.Flags}
	h.table.Store(new([dhSize]*ipvs.Dest))
	return h
}

// Name returns "sh".
func (h *SH) Name() string { return "sh" }

// Pick returns the destination for f's source as ip_vs_sh_schedule.
func (h *SH) Pick(_ *ipvs.Service, f *ipvs.Flow) *ipvs.Dest {
	var port uint32
	if h.flags&ipvs.SchedFlag2 != 0 {
		port = uint32(f.Src.Port())
	}
	t := h.table.Load()
	ihash := hash32(port+fold(f.Src.Addr()), dhBits) // ip_vs_sh_hashkey, offset 0
	d := t[ihash]
	if d == nil {
		return nil
	}
	if d.Weight > 0 && !d.C.Overloaded() {
		return d
	}
	if h.flags&ipvs.SchedFlag1 == 0 {
		return nil
	}
	// ip_vs_sh_get_fallback: probe hashkey(offset) for offset = ihash,
	// ihash+1, ... which lands on (offset + ihash) & 255.
	for off := uint32(0); off < dhSize; off++ {
		d = t[(off+ihash+ihash)&(dhSize-1)]
		if d == nil {
			return nil
		}
		if d.Weight > 0 && !d.C.Overloaded() {
			return d
		}
	}
	return nil
}

// HashTable returns the 256 buckets (ipvs.Hasher): bucket i is Pick's
// destination for a client whose hash32(port+fold(addr), 8) is i. Nil
// when a bucket's destination has no weight (Pick would return nil or,
// with sh-fallback, probe on), or max is under 256.
func (h *SH) HashTable(_ *ipvs.Service, max int) ([]*ipvs.Dest, ipvs.HashFunc, bool) {
	return hashTable(h.table.Load()[:], max), ipvs.HashSH, h.flags&ipvs.SchedFlag2 != 0
}

// Update refills the buckets by weight as ip_vs_sh_reassign whenever a
// destination changed.
func (h *SH) Update(s *ipvs.Service) {
	if h.prev != nil && slices.Equal(h.prev, s.Dests) {
		return
	}
	h.prev = s.Dests
	h.table.Store(shFill(s.Dests))
}

// shFill is ip_vs_sh_reassign: stay on a destination until it has filled
// weight buckets (++count >= weight), then move on, wrapping at the end.
func shFill(dests []*ipvs.Dest) *[dhSize]*ipvs.Dest {
	t := new([dhSize]*ipvs.Dest)
	if len(dests) == 0 {
		return t
	}
	p, count := 0, int32(0)
	for i := range t {
		d := dests[p]
		t[i] = d
		if count++; count >= d.Weight {
			p, count = (p+1)%len(dests), 0
		}
	}
	return t
}
