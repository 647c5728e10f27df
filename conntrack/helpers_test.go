package conntrack

import (
	"net/netip"
	"sync/atomic"
	"testing"

	"lvs/ipvs"
)

// rrSched is a tiny round-robin scheduler for tests (package sched is
// written elsewhere): the next available destination after the last pick.
type rrSched struct{ n atomic.Uint32 }

func (r *rrSched) Name() string         { return "rr" }
func (r *rrSched) Update(*ipvs.Service) {}
func (r *rrSched) Pick(s *ipvs.Service, _ *ipvs.Flow) *ipvs.Dest {
	for range s.Dests {
		d := s.Dests[int(r.n.Add(1)-1)%len(s.Dests)]
		if d.Available() {
			return d
		}
	}
	return nil
}

func newSched(string, ipvs.SchedOptions) (ipvs.Scheduler, error) { return &rrSched{}, nil }

var (
	vip   = netip.MustParseAddr("192.168.26.10")
	rip1  = netip.MustParseAddr("10.11.12.1")
	rip2  = netip.MustParseAddr("10.11.12.2")
	cli   = netip.MustParseAddr("172.16.1.5")
	vip6  = netip.MustParseAddr("2001:db8:26::10")
	rip61 = netip.MustParseAddr("2001:db8:11::1")
	rip62 = netip.MustParseAddr("2001:db8:11::2")
	cli6  = netip.MustParseAddr("2001:db8:1:2::5")
	web   = ipvs.ServiceKey{Proto: ipvs.TCP, Addr: vip, Port: 80}
	dns   = ipvs.ServiceKey{Proto: ipvs.UDP, Addr: vip, Port: 53}
	sec   = ipvs.Tick(1000)
	start = ipvs.Tick(1_000_000)
)

// env is a service table with counters and a connection table over it.
type env struct {
	t   testing.TB
	reg *ipvs.Registry
	tbl *ipvs.Table
	ct  *Table
}

func newEnv(t testing.TB, cfg Config) *env {
	t.Helper()
	reg := ipvs.NewRegistry()
	if cfg.Seed == 0 {
		cfg.Seed = 0x5eed
	}
	return &env{t: t, reg: reg, tbl: ipvs.NewTable(reg, newSched), ct: NewTable(reg, cfg)}
}

func (v *env) must(tb *ipvs.Table, err error) {
	v.t.Helper()
	if err != nil {
		v.t.Fatal(err)
	}
	v.tbl = tb
}

// service adds a service with destinations rip1, rip2 (port 80 unless the
// key is port 0 or a mark) by method m.
func (v *env) service(spec ipvs.ServiceSpec, m ipvs.Method, rips ...netip.Addr) *ipvs.Service {
	v.t.Helper()
	v.must(v.tbl.AddService(spec))
	for _, r := range rips {
		port := spec.Key.Port
		v.must(v.tbl.AddDest(spec.Key, ipvs.DestSpec{Addr: r, Port: port, Method: m, Weight: 1}))
	}
	return v.tbl.Service(spec.Key)
}

func (v *env) svc(k ipvs.ServiceKey) *ipvs.Service { return v.tbl.Service(k) }

func (v *env) counters(k ipvs.ServiceKey, rip netip.Addr) *ipvs.Counters {
	v.t.Helper()
	for _, d := range v.tbl.Service(k).Dests {
		if d.Addr == rip {
			return d.C
		}
	}
	v.t.Fatalf("no dest %v in %v", rip, k)
	return nil
}

func ap(a netip.Addr, p uint16) netip.AddrPort { return netip.AddrPortFrom(a, p) }

func tcpKey(c netip.Addr, cport uint16, vport uint16) Key {
	return Key{Proto: ipvs.TCP, Client: ap(c, cport), Virtual: ap(vip, vport)}
}

// schedule makes a flow and fails the test unless it was scheduled.
func (v *env) schedule(s *ipvs.Service, k Key, fl TCPFlags, now ipvs.Tick) Conn {
	v.t.Helper()
	c, st := v.ct.Schedule(s, k, s.Key.FWMark, fl, now)
	if st != Scheduled {
		v.t.Fatalf("Schedule(%v) = %v", k, st)
	}
	return c
}

// check verifies the table's invariants: every entry is found by its key
// and (connections) by its reply key, per-destination active, inactive and
// persist counts equal the entries bound there and are never negative,
// templates count the connections they control, and the table's counts
// match the slabs.
func check(t testing.TB, ct *Table, reg *ipvs.Registry) {
	t.Helper()
	type counts struct{ act, inact, persist int32 }
	per := map[ipvs.DestID]*counts{}
	ctl := map[uint32]uint32{}
	live, half := 0, 0
	for i := range ct.shards {
		s := &ct.shards[i]
		s.mu.Lock()
		checkChains(t, ct, s)
		checkRecords(t, ct, s)
		for local := uint32(1); local < s.used; local++ {
			ref := mkRef(s.idx, local)
			e := ct.at(ref)
			if !e.live() {
				continue
			}
			live++
			c := per[ipvs.DestID(e.dest)]
			if c == nil {
				c = &counts{}
				per[ipvs.DestID(e.dest)] = c
			}
			switch {
			case e.flags&uint32(FlagTemplate) != 0:
				c.persist++
			case e.flags&uint32(FlagInactive) != 0:
				c.inact++
			default:
				c.act++
			}
			if !e.template() && e.aux != 0 {
				ctl[e.aux]++
			}
			if e.flags&uint32(FlagTemplate) == 0 && e.proto() == ipvs.TCP && e.state().halfOpen() {
				half++
			}
			if e.flags&uint32(FlagTemplate) == 0 && e.flags&uint32(FlagNoOutput) == 0 && e.state() != StateNone &&
				e.proto() == ipvs.TCP && !e.state().active() && e.flags&uint32(FlagInactive) == 0 {
				t.Errorf("entry %#x in %v counted active", ref, e.state())
			}
		}
		s.mu.Unlock()
	}
	if live != ct.Len() {
		t.Errorf("Len() = %d, slabs hold %d", ct.Len(), live)
	}
	if got := int(ct.halfOpen.Load()); got != half {
		t.Errorf("halfOpen = %d, entries %d", got, half)
	}
	ct.Walk(0, func(in Info) bool {
		if in.Controls != ctl[in.Handle.ref()] {
			t.Errorf("template %v controls %d, %d entries point to it", in.Conn, in.Controls, ctl[in.Handle.ref()])
		}
		if in.Flags()&(FlagTemplate|FlagInvalid) != 0 {
			return true
		}
		if c, ok := ct.Lookup(Key{Proto: in.Proto(), Client: in.Client(), Virtual: in.Virtual()}); !ok || c.Handle != in.Handle {
			t.Errorf("Lookup(%v) = %v %v, want handle %#x", in.Conn, c.Handle, ok, in.Handle)
		}
		if c, ok := ct.LookupReply(ReplyKey{Proto: in.Proto(), Real: in.Real(), Client: in.Client()}); !ok || c.Handle != in.Handle {
			t.Errorf("LookupReply(%v) = %#x %v, want %#x", in.Conn, c.Handle, ok, in.Handle)
		}
		return true
	})
	for id := ipvs.DestID(1); reg.Dest(id) != nil; id++ {
		c, want := reg.Dest(id), per[id]
		if want == nil {
			want = &counts{}
		}
		a, i, p := c.Active.Load(), c.Inactive.Load(), c.Persist.Load()
		if a < 0 || i < 0 || p < 0 || a != want.act || i != want.inact || p != want.persist {
			t.Errorf("dest %d: active/inactive/persist = %d/%d/%d, entries %d/%d/%d", id, a, i, p,
				want.act, want.inact, want.persist)
		}
	}
}

// checkChains verifies that the chains of s hold as many entries as s
// counts (and are not cyclic). Caller holds s.mu.
func checkChains(t testing.TB, ct *Table, s *shard) {
	t.Helper()
	n, rn := 0, 0
	for _, head := range *s.heads.Load() {
		for ref := head; ref != 0 && n <= int(s.used); ref = ct.at(ref).next {
			n++
		}
	}
	for _, head := range *s.rheads.Load() {
		for ref := head; ref != 0 && rn <= ct.Len(); ref = ct.at(ref).rnext {
			rn++
		}
	}
	if n != s.n || rn != s.rn {
		t.Errorf("shard %d: chains hold %d/%d entries, counted %d/%d", s.idx, n, rn, s.n, s.rn)
	}
}

// checkRecords verifies that every address record of s is either held by
// exactly one live IPv6 entry or on the free list, or in a chunk given
// back (compact.go), which no entry holds a record of, and that the
// shard's counts of held records and of chunks given back are right.
// Caller holds s.mu.
func checkRecords(t testing.TB, ct *Table, s *shard) {
	t.Helper()
	cs := *s.chunks6.Load()
	given := func(r uint32) bool { c := int(r >> chunkBits); return c >= len(cs) || cs[c] == emptyChunk6 }
	held := map[uint32]bool{}
	for local := uint32(1); local < s.used; local++ {
		ref := mkRef(s.idx, local)
		e := ct.at(ref)
		if !e.live() || !e.hasRec() {
			continue
		}
		r := uint32(e.d>>32) & localMask
		if r == 0 || r >= max(s.used6, 1) || held[r] || given(r) {
			t.Errorf("shard %d: IPv6 entry %#x has record %d (used %d, held twice %v, chunk given back %v)",
				s.idx, ref, r, s.used6, held[r], given(r))
		}
		held[r] = true
	}
	free := 0
	for r := s.free6; r != 0 && free <= int(s.used6); free++ {
		if held[r] || r >= s.used6 || given(r) {
			t.Errorf("shard %d: free record %d is held (%v), at or above used %d or in a chunk given back (%v)",
				s.idx, r, held[r], s.used6, given(r))
			break
		}
		r = uint32(ct.rec6(mkRef(s.idx, 0), uint64(r)<<32).w[0])
	}
	gone, holes := 0, 0 // records in chunks given back below used6, and those chunks
	for c := range cs {
		if cs[c] != emptyChunk6 || max(uint32(c)<<chunkBits, 1) >= s.used6 {
			continue
		}
		holes++
		gone += int(min(uint32(c+1)<<chunkBits, s.used6) - max(uint32(c)<<chunkBits, 1))
	}
	if s.used6 > 0 && len(held)+free+gone != int(s.used6)-1 {
		t.Errorf("shard %d: %d records held, %d free, %d in chunks given back, %d handed out",
			s.idx, len(held), free, gone, s.used6-1)
	}
	if int(s.n6) != len(held) || int(s.holes6) != holes {
		t.Errorf("shard %d: counts %d records held and %d chunks given back below used, slab has %d and %d",
			s.idx, s.n6, s.holes6, len(held), holes)
	}
}
