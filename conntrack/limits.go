package conntrack

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"sync/atomic"

	"lvs/ipvs"
)

// ErrTableFull is returned by Import, and counted in Stats.Full, when the
// table holds MaxEntries entries and none may be evicted.
var ErrTableFull = errors.New("connection table full")

// BytesPerEntry is the memory budget of one flow that DefaultMaxEntries
// sizes the table by (the slab entry, both bucket arrays and slack).
const BytesPerEntry = 160

// DefaultMaxEntries sizes the table to an eighth of physical memory at
// BytesPerEntry per flow, between 64 Ki and 64 Mi entries; 4 Mi when the
// memory size cannot be read.
func DefaultMaxEntries() int {
	const lo, hi, fallback = 1 << 16, 1 << 26, 1 << 22
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return fallback
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "MemTotal:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				return fallback
			}
			return int(min(max(kb*1024/8/BytesPerEntry, lo), hi))
		}
	}
	return fallback
}

type stats struct {
	created atomic.Uint64
	expired atomic.Uint64
	evicted atomic.Uint64
	full    atomic.Uint64
	resched atomic.Uint64
	nodest  atomic.Uint64
	dropped atomic.Uint64
	invalid atomic.Uint64
}

// Stats are the table's counters since it was made.
type Stats struct {
	Entries    int    // live entries, templates included
	MaxEntries int    // the limit
	HalfOpen   int    // TCP entries in SYN_RECV or SYNACK
	Pressure   bool   // above Settings.PressurePercent of MaxEntries
	Created    uint64 // entries created (flows and templates)
	Expired    uint64 // entries removed by timeout, Delete or a dead destination
	Evicted    uint64 // half-open entries dropped to make room
	Full       uint64 // creations refused because the table was full: the daemon logs when this grows
	Resched    uint64 // new SYNs that replaced an old entry (conn_reuse_mode)
	NoDest     uint64 // entries expired because their destination left (expire_nodest_conn)
	Dropped    uint64 // packets refused because their destination left and expire_nodest_conn is off
	Invalid    uint64 // persistence templates invalidated (dead or quiesced destination)
	Bytes      int    // memory the table holds: slabs and buckets (Table.Bytes)
}

// Stats returns a snapshot of the counters.
func (t *Table) Stats() Stats {
	return Stats{
		Entries: t.Len(), MaxEntries: int(t.max.Load()), HalfOpen: int(t.halfOpen.Load()),
		Pressure: t.pressure(), Created: t.st.created.Load(), Expired: t.st.expired.Load(),
		Evicted: t.st.evicted.Load(), Full: t.st.full.Load(), Resched: t.st.resched.Load(),
		NoDest: t.st.nodest.Load(), Dropped: t.st.dropped.Load(), Invalid: t.st.invalid.Load(),
		Bytes: t.Bytes(),
	}
}

// SetMaxEntries changes the limit; existing entries above it stay until
// they expire.
func (t *Table) SetMaxEntries(n int) {
	if n > 0 {
		t.max.Store(int64(n))
	}
}

// pressure reports whether the table is filled above the pressure level.
func (t *Table) pressure() bool {
	return t.count.Load()*100 >= t.max.Load()*int64(t.set.Load().PressurePercent)
}

// Pressure reports whether the table is filled above its pressure level,
// where secure_tcp and the drop strategies start to act: lvsd then
// schedules every new connection in Go, where they apply.
func (t *Table) Pressure() bool { return t.pressure() }

// secure reports whether the secure_tcp table and half-open timeout apply.
func (t *Table) secure(set *Settings) bool {
	return set.SecureTCP >= 2 || set.SecureTCP == 1 && t.pressure()
}

// reserve counts one more entry, evicting a half-open one when the table is
// full. It fails, counting Full, when nothing may be evicted.
func (t *Table) reserve(now ipvs.Tick) bool {
	for try := 0; try < 2; try++ {
		if t.count.Add(1) <= t.max.Load() {
			return true
		}
		t.count.Add(-1)
		if !t.evictOne(now) {
			break
		}
	}
	t.st.full.Add(1)
	return false
}

// evictScan is how many slots one eviction looks at per shard.
const evictScan = 256

// evictOne drops one half-open TCP entry (SYN_RECV or SYNACK), looking at a
// bounded window of shards and slots. Established entries, and every entry
// that is not half-open, are never evicted: a SYN flood can only displace
// itself (the kernel's drop_entry picks SYN_RECV/SYNACK entries first too,
// ip_vs_random_dropentry).
func (t *Table) evictOne(now ipvs.Tick) bool {
	if t.halfOpen.Load() <= 0 {
		return false
	}
	start := t.evictAt.Add(1)
	for i := uint32(0); i < numShards; i++ {
		s := &t.shards[(start+i)%numShards]
		s.mu.Lock()
		h, ok := t.scanHalfOpen(s)
		s.mu.Unlock()
		if ok && t.remove(h, removeEvict, now) {
			return true
		}
	}
	return false
}

// scanHalfOpen looks at up to evictScan slots of s from its eviction cursor
// for a half-open TCP entry. Caller holds s.mu.
func (t *Table) scanHalfOpen(s *shard) (Handle, bool) {
	if s.used <= 1 {
		return 0, false
	}
	for n := 0; n < evictScan; n++ {
		s.evictPos++
		if s.evictPos >= s.used {
			s.evictPos = 1
		}
		ref := mkRef(s.idx, s.evictPos)
		e := t.at(ref)
		if e.live() && !e.has(FlagTemplate) && e.proto() == ipvs.TCP && e.state().halfOpen() {
			return mkHandle(ref, e.gen), true
		}
	}
	return 0, false
}
