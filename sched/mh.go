package sched

import (
	"fmt"
	"math/bits"
	"slices"
	"sync/atomic"

	"lvs/ipvs"
)

// The mh constants of ip_vs_mh.c.
const (
	mhDefaultSize = 4093       // primes[CONFIG_IP_VS_MH_TAB_INDEX(12) - 8]
	mhMaxSize     = 131071     // the largest of the kernel's primes
	mhTabBits     = 6          // IP_VS_MH_TAB_BITS: turns keep at most this many bits
	mhKey1        = ipvs.MHKey // generate_hash_secret: hash1 (offset, lookup)
	mhKey2        = 2654446892 // generate_hash_secret: hash2 (skip)
)

// MH is Maglev-hashing scheduling (ip_vs_mh.c): each destination walks its
// own permutation of a prime-sized lookup table (offset and skip from
// hsiphash of its address and port) and claims its next free slot, taking
// last_weight/gcd >> rshift turns per round. The client address (and port
// with mh-port, SchedFlag2) hashes to a slot. Because turns follow
// LastWeight, a quiesced destination keeps its slots: its clients get nil,
// or with mh-fallback (SchedFlag1) the kernel's deterministic probe.
//
// The hash is SipHash-1-3 with the kernel's fixed keys, which is what the
// kernel's hsiphash is on 64-bit builds (see hsiphash32). Update builds a new
// table and publishes it atomically; Pick never locks. With more
// destinations than slots the kernel refuses the change and keeps its old
// table; here the table is filled by the first slots-many turns.
type MH struct {
	flags ipvs.SchedFlags
	size  uint32
	table atomic.Pointer[mhTable]

	prev []*ipvs.Dest // the list of the last Update; only the writer touches it
}

// mhTable is one immutable lookup table.
type mhTable struct {
	slots []*ipvs.Dest // len = size; nil slots only when no dest has a weight
	magic uint64       // fastmod constant for size: ^uint64(0)/size + 1
}

// NewMH returns a Maglev scheduler. opts.MHTableSize must be 0 (the kernel's
// default, 4093) or a prime of at most 131071 so every permutation covers
// the table.
func NewMH(opts ipvs.SchedOptions) (*MH, error) {
	size := opts.MHTableSize
	if size == 0 {
		size = mhDefaultSize
	}
	if size < 2 || size > mhMaxSize || !isPrime(size) {
		return nil, fmt.Errorf("mh table size %d: want a prime in 2..%d", opts.MHTableSize, mhMaxSize)
	}
	m := &MH{flags: opts.Flags, size: uint32(size)}
	m.table.Store(m.newTable())
	return m, nil
}

func isPrime(n int) bool {
	for d := 2; d*d <= n; d++ {
		if n%d == 0 {
			return false
		}
	}
	return n >= 2
}

func (m *MH) newTable() *mhTable {
	return &mhTable{slots: make([]*ipvs.Dest, m.size), magic: ^uint64(0)/uint64(m.size) + 1}
}

// mod returns a % size by Lemire's fastmod, exact for every 32-bit a; it
// keeps a division out of the per-packet path.
func (t *mhTable) mod(a uint32) uint32 {
	hi, _ := bits.Mul64(t.magic*uint64(a), uint64(len(t.slots)))
	return uint32(hi)
}

// Name returns "mh".
func (m *MH) Name() string { return "mh" }

// mhHash is ip_vs_mh_hashkey: hsiphash of offset + port + folded address.
func mhHash(offset, port, addr uint32, key uint64) uint32 {
	return hsiphash32(offset+port+addr, key, key)
}

// Pick returns the destination of f's source slot as ip_vs_mh_schedule
// (ip_vs_mh_get, or ip_vs_mh_get_fallback with mh-fallback).
func (m *MH) Pick(_ *ipvs.Service, f *ipvs.Flow) *ipvs.Dest {
	var port uint32
	if m.flags&ipvs.SchedFlag2 != 0 {
		port = uint32(f.Src.Port())
	}
	addr := fold(f.Src.Addr())
	t := m.table.Load()
	ihash := t.mod(mhHash(0, port, addr, mhKey1))
	d := t.slots[ihash]
	if d == nil {
		return nil
	}
	if d.Weight > 0 && !d.C.Overloaded() {
		return d
	}
	if m.flags&ipvs.SchedFlag1 == 0 {
		return nil
	}
	n := uint32(len(t.slots))
	for off := uint32(0); off < n; off++ {
		roff := (off + ihash) % n
		d = t.slots[t.mod(mhHash(roff, port, addr, mhKey1))]
		if d == nil {
			return nil
		}
		if d.Weight > 0 && !d.C.Overloaded() {
			return d
		}
	}
	return nil
}

// HashTable returns the current lookup table (ipvs.Hasher): slot i is
// Pick's destination for a client whose mhHash(0, port, fold(addr),
// mhKey1) mod len(slots) is i. Nil when a slot is empty or its
// destination has no weight (Pick would return nil or, with mh-fallback,
// probe on), or the table is longer than max.
func (m *MH) HashTable(_ *ipvs.Service, max int) ([]*ipvs.Dest, ipvs.HashFunc, bool) {
	return hashTable(m.table.Load().slots, max), ipvs.HashMH, m.flags&ipvs.SchedFlag2 != 0
}

// hashTable is a copy of slots for ipvs.Hasher, nil when one is empty or
// its destination has no weight, or there are more than max.
func hashTable(slots []*ipvs.Dest, max int) []*ipvs.Dest {
	if len(slots) > max {
		return nil
	}
	for _, d := range slots {
		if d == nil || d.Weight <= 0 {
			return nil
		}
	}
	return slices.Clone(slots)
}

// Update rebuilds the lookup table as ip_vs_mh_dest_changed whenever a
// destination changed: gcd and rshift of the last weights, the permutation,
// then the population.
func (m *MH) Update(s *ipvs.Service) {
	if m.prev != nil && slices.Equal(m.prev, s.Dests) {
		return
	}
	m.prev = s.Dests
	t := m.newTable()
	mhPopulate(t, s.Dests)
	m.table.Store(t)
}

// mhSetup is ip_vs_mh_dest_setup: one destination's walk of the table.
type mhSetup struct {
	perm, skip uint32
	turns      int32
}

// mhPopulate fills t as ip_vs_mh_permutate and ip_vs_mh_populate. The kernel
// refuses more destinations than slots (-EINVAL, keeping the old table);
// here the first slots-many turns simply fill the table.
func mhPopulate(t *mhTable, dests []*ipvs.Dest) {
	var g, maxw int32
	for _, d := range dests {
		if d.LastWeight > 0 {
			g = gcd(g, d.LastWeight)
			maxw = max(maxw, d.LastWeight)
		}
	}
	if g < 1 {
		return // no last weights: every slot stays nil (ip_vs_mh_reset)
	}
	rshift := max(bits.Len32(uint32(maxw/g))-mhTabBits, 0) // ip_vs_mh_shift_weight
	size := uint32(len(t.slots))
	setup := make([]mhSetup, len(dests))
	for i, d := range dests {
		addr := fold(d.Addr)
		ds := &setup[i]
		ds.perm = t.mod(mhHash(0, uint32(d.Port), addr, mhKey1))
		ds.skip = mhHash(0, uint32(d.Port), addr, mhKey2)%(size-1) + 1
		if ds.turns = (d.LastWeight / g) >> rshift; ds.turns == 0 && d.LastWeight != 0 {
			ds.turns = 1
		}
	}
	mhFill(t.slots, dests, setup)
}

// mhFill is ip_vs_mh_populate: in rounds over the list, each destination
// with turns takes that many slots, each time its next free slot along
// offset, offset+skip, offset+2*skip, ... (mod the table size).
func mhFill(slots, dests []*ipvs.Dest, setup []mhSetup) {
	size := uint32(len(slots))
	taken := make([]uint64, (size+63)/64)
	for n, p, count := uint32(0), 0, int32(0); ; {
		if p == len(dests) {
			p = 0
		}
		ds := &setup[p]
		if ds.turns < 1 {
			p++
			continue
		}
		c := ds.perm
		for taken[c/64]&(1<<(c%64)) != 0 {
			if ds.perm += ds.skip; ds.perm >= size {
				ds.perm -= size
			}
			c = ds.perm
		}
		taken[c/64] |= 1 << (c % 64)
		slots[c] = dests[p]
		if n++; n == size {
			return
		}
		if count++; count >= ds.turns {
			p, count = p+1, 0
		}
	}
}
