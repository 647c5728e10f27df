package sched

import (
	"net/netip"
	"testing"
	"time"

	"lvs/ipvs"
)

const minute = ipvs.Tick(60_000)

// ip_vs_lblc_schedule: the first pick per destination address is WLC and
// is cached; a cached server is kept while it is usable, and replaced when
// active > weight while another server is below half its weight.
func TestLBLCCache(t *testing.T) {
	f := newFixture(t, "lblc", ipvs.SchedOptions{}, 1, 1)
	expectSeq(t, "x1 first", f.picks(1, flowTo("10.9.0.1", 0)), "A") // WLC tie → A
	f.conns("A", 1, 0)
	expectSeq(t, "x2 first", f.picks(1, flowTo("10.9.0.2", 0)), "B") // WLC → B
	f.conns("B", 0, 3)
	// A (256) is now busier than B (3), but x1 stays on A: active 1 <= weight 1.
	expectSeq(t, "x1 cached", f.picks(2, flowTo("10.9.0.1", 0)), "AA")
	// A: active 2 > weight 1, and B has 0*2 < 1: reschedule x1 to B, and cache it.
	f.conns("A", 1, 0)
	expectSeq(t, "x1 moved", f.picks(1, flowTo("10.9.0.1", 0)), "B")
	f.conns("B", 2, 0) // B active 2 > 1, but no server below half its weight: stays
	expectSeq(t, "x1 stays", f.picks(1, flowTo("10.9.0.1", 0)), "B")
	// Quiescing the cached server reschedules (weight > 0 test).
	f.edit("B", 0, 0)
	expectSeq(t, "x1 quiesced", f.picks(1, flowTo("10.9.0.1", 0)), "A")
	// Deleting it too (IP_VS_DEST_F_AVAILABLE test).
	f.edit("B", 1, 0)
	f.del("A")
	expectSeq(t, "x1 deleted", f.picks(1, flowTo("10.9.0.1", 0)), "B")
	// Over the upper threshold (see LBLC's deviation note).
	f.add("C", 1, 0)
	f.overload("B")
	expectSeq(t, "x1 overloaded", f.picks(1, flowTo("10.9.0.1", 0)), "C")
	if n := f.svc().Sched.(*LBLC).Len(); n != 2 {
		t.Errorf("cache holds %d addresses, want 2", n)
	}
}

// ip_vs_lblc_check_expire: ticks every 60 s; the 30th tick is a full check
// that drops entries idle for the expiration.
func TestLBLCExpiry(t *testing.T) {
	for _, name := range []string{"lblc", "lblcr"} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, name, ipvs.SchedOptions{Expiration: 10 * time.Minute}, 1)
			f.pick(flowTo("10.9.0.1", 0)) // arms the first tick at 1 min
			f.pick(flowTo("10.9.0.2", 0))
			gc := f.svc().Sched.(interface{ GC(ipvs.Tick) })
			ln := f.svc().Sched.(interface{ Len() int })
			for k := ipvs.Tick(1); k <= 29; k++ {
				if k == 25 {
					f.pick(flowTo("10.9.0.2", k*minute)) // refresh x2
				}
				gc.GC(k * minute)
			}
			if n := ln.Len(); n != 2 {
				t.Fatalf("after 29 ticks the cache holds %d, want 2 (no full check yet)", n)
			}
			// Tick 30, run by a pick: the full check drops x1 (idle 30 min)
			// and keeps x2 (idle 5 min, and just used).
			f.pick(flowTo("10.9.0.2", 30*minute))
			if n := ln.Len(); n != 1 {
				t.Fatalf("after the full check the cache holds %d, want 1", n)
			}
			gc.GC(30*minute + 1000) // not due: nothing happens
			if n := ln.Len(); n != 1 {
				t.Fatalf("an early GC changed the cache: %d", n)
			}
		})
	}
}

// Over max_size (16384) the tick drops entries idle >= 6 min until
// (entries - max) * 4/3 are gone, whole chains at a time.
func TestLBLCOverflowGC(t *testing.T) {
	f := newFixture(t, "lblc", ipvs.SchedOptions{}, 1)
	l := f.svc().Sched.(*LBLC)
	const extra = 300
	for i := range cacheMax + extra {
		f.pick(&ipvs.Flow{Dst: netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), 80)})
	}
	if n := l.Len(); n != cacheMax+extra {
		t.Fatalf("cache holds %d, want %d", n, cacheMax+extra)
	}
	l.GC(5 * minute) // tick 1 at 5 min: nothing idle for 6 min yet
	if n := l.Len(); n != cacheMax+extra {
		t.Fatalf("GC at 5 min dropped entries: %d left", n)
	}
	l.GC(20 * minute) // tick 2: goal 400
	n := l.Len()
	if goal := extra * 4 / 3; n > cacheMax+extra-goal || n < cacheMax+extra-goal-200 {
		t.Errorf("after GC the cache holds %d, want about %d", n, cacheMax+extra-goal)
	}
}

// ip_vs_lblcr_schedule: the set grows when its least member is overloaded
// (lblc's rule) and, once the set is older than the expiration, loses its
// most loaded member.
func TestLBLCRSet(t *testing.T) {
	f := newFixture(t, "lblcr", ipvs.SchedOptions{Expiration: time.Hour}, 1, 1, 1)
	l := f.svc().Sched.(*LBLCR)
	set := func() string {
		b := l.c.bucketOf(netip.MustParseAddr("10.9.0.1"))
		e := b.entries[b.find(netip.MustParseAddr("10.9.0.1"))]
		s := ""
		for k := len(e.set) - 1; k >= 0; k-- { // newest first, the kernel's order
			s += nameOf(l.c.resolve(e.set[k].id))
		}
		return s
	}
	x := func(now ipvs.Tick) *ipvs.Flow { return flowTo("10.9.0.1", now) }
	expectSeq(t, "first", f.picks(1, x(0)), "A")
	f.conns("A", 2, 0) // active 2 > 1 and B is idle: add the WLC choice B
	expectSeq(t, "grow", f.picks(1, x(minute)), "B")
	expectSeq(t, "set", set(), "BA")
	f.conns("B", 1, 1) // set min: B 257 vs A 512 → B (still not overloaded)
	expectSeq(t, "min", f.picks(1, x(2*minute)), "B")
	f.conns("B", 1, 0) // B active 2 > 1 and C idle: add C
	expectSeq(t, "grow again", f.picks(1, x(3*minute)), "C")
	expectSeq(t, "set", set(), "CBA")
	// Within the expiration of the last change (3 min) nothing is dropped.
	expectSeq(t, "kept", f.picks(1, x(63*minute)), "C")
	expectSeq(t, "set", set(), "CBA")
	// After it, the most loaded member (B, 2*256+1 = 513 > A's 512) goes;
	// C is still picked.
	expectSeq(t, "shrink", f.picks(1, x(63*minute+1)), "C")
	expectSeq(t, "set", set(), "CA")
	// Members not in the service are skipped by set_min: A is left, and with
	// no server below half its weight it is not "overloaded".
	f.del("C")
	expectSeq(t, "deleted", f.picks(1, x(64*minute)), "A")
	if n := l.Len(); n != 1 {
		t.Errorf("cache holds %d, want 1", n)
	}
}
