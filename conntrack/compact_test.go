package conntrack

import (
	"testing"

	"lvs/ipvs"
)

// TestCompactAfterFlood fills a table as a SYN flood does (half-open flows
// that expire after SYN_RECV's 60 s), keeps a few of them established, lets
// the sweep expire the rest and checks, by the table's own accounting, that
// it gives back the memory the flood grew (slab chunks and buckets), that
// the survivors and the invariants are intact, that no handle of an
// expired flow matches one of the flows that refill the slots given back,
// and that the table grows again and drains again.
func TestCompactAfterFlood(t *testing.T) {
	small, big := 1<<16, 1<<20 // a million flows, as a flood leaves
	if testing.Short() || raceEnabled {
		small, big = 1<<15, 1<<15
	}
	for _, tt := range []struct {
		name string
		n    int
		keep int // every keep-th flow becomes established and outlives the flood; 0: none
	}{
		{"drained", small, 0},
		{"survivors", big, 4093},
	} {
		t.Run(tt.name, func(t *testing.T) { compactAfterFlood(t, tt.n, tt.keep) })
	}
}

func compactAfterFlood(t *testing.T, n, keep int) {
	v, s, hs := filledFamily(t, n, false)
	base := v.ct.Bytes()
	var kept []Handle
	for i := 0; keep > 0 && i < n; i += keep {
		c, _ := v.ct.In(flowKey(i), ACK, start+30*sec)
		if c.State() != StateEstablished {
			t.Fatalf("In(ACK) on flow %d: state %v, want ESTABLISHED", i, c.State())
		}
		kept = append(kept, hs[i])
	}
	after := start + 61*sec // past SYN_RECV's 60 s
	sweep := func() {
		for range 2 { // one call goes round the table at most once
			v.ct.Expire(after, 1<<30)
		}
	}
	sweep()
	if got := v.ct.Len(); got != len(kept) {
		t.Fatalf("after the sweep: Len() = %d, want the %d survivors", got, len(kept))
	}
	drained := v.ct.Bytes()
	// What the survivors may still hold: a chunk each and one more per
	// shard, the chunk slices, and buckets of at most twice their chains
	// (at least minBuckets).
	bounds := func() int {
		b := (len(kept)+numShards)*chunkBytes + numShards*2*4*max(minBuckets, 2*(len(kept)/numShards+1))
		for i := range v.ct.shards {
			b += 8 * len(*v.ct.shards[i].chunks.Load())
		}
		return b
	}
	bound := bounds()
	t.Logf("%d flows: table holds %d MiB full, %d KiB drained (bound %d KiB), %d survivors",
		n, base>>20, drained>>10, bound>>10, len(kept))
	if drained > bound {
		t.Errorf("drained table holds %d bytes, want at most %d (full: %d)", drained, bound, base)
	}
	for _, h := range kept {
		if c, ok := v.ct.Get(h); !ok || c.State() != StateEstablished {
			t.Errorf("survivor %#x: Get = %v %v, want ESTABLISHED", h, c, ok)
		}
	}
	check(t, v.ct, v.reg)

	// Refill: the slots given back come back with new generations, so no
	// handle of an expired flow names a new one.
	for i := range n {
		if _, st := v.ct.Schedule(s, flowKey(n+i), 0, SYN, after); st != Scheduled {
			t.Fatalf("refill %d: %v", i, st)
		}
	}
	stale := 0
	for i, h := range hs {
		if keep > 0 && i%keep == 0 {
			continue
		}
		if _, ok := v.ct.Get(h); ok {
			stale++
		}
	}
	if stale > 0 {
		t.Errorf("%d handles of expired flows name a flow of the refill", stale)
	}
	if got, want := v.ct.Len(), n+len(kept); got != want {
		t.Errorf("after the refill: Len() = %d, want %d", got, want)
	}
	if full := v.ct.Bytes(); full < base/2 {
		t.Errorf("refilled table holds %d bytes, full one held %d: the chunks did not come back", full, base)
	}
	after += 61 * sec
	sweep()
	if got, b, bound := v.ct.Len(), v.ct.Bytes(), bounds(); got != len(kept) || b > bound {
		t.Errorf("second drain: Len() = %d, %d bytes; want %d, at most %d", got, b, len(kept), bound)
	}
	check(t, v.ct, v.reg)
}

// TestCompactKeepsLookupsAllocationFree: after a table drained and gave
// its chunks back, growing it again and the packet path allocate nothing
// more than before (the slab's growth aside).
func TestCompactKeepsLookupsAllocationFree(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	v, s, _ := filledFamily(t, 1<<15, false)
	v.ct.Expire(start+61*sec, 1<<30)
	v.ct.Expire(start+61*sec, 1<<30)
	if v.ct.Len() != 0 {
		t.Fatalf("Len() = %d after the drain, want 0", v.ct.Len())
	}
	now := start + 62*sec
	hs := make([]Handle, 1<<15)
	for i := range hs {
		c, st := v.ct.Schedule(s, flowKey(i), 0, SYN, now)
		if st != Scheduled {
			t.Fatalf("Schedule %d: %v", i, st)
		}
		hs[i] = c.Handle
	}
	k := flowKey(7)
	i := 0
	for _, tt := range []struct {
		name string
		f    func()
	}{
		{"Lookup", func() { v.ct.Lookup(k) }},
		{"In", func() { v.ct.In(k, ACK, now) }},
		{"Schedule steady state", func() {
			v.ct.Delete(hs[i%len(hs)])
			c, _ := v.ct.Schedule(s, flowKey(100000+i), 0, SYN, now)
			hs[i%len(hs)] = c.Handle
			i++
		}},
		{"Expire", func() { v.ct.Expire(now, 1024) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.f()
			if got := testing.AllocsPerRun(1000, tt.f); got != 0 {
				t.Errorf("%s allocates %v per call, want 0", tt.name, got)
			}
		})
	}
	check(t, v.ct, v.reg)
}

// TestCompactStaleHandle: a handle kept across the compaction of its
// slot's chunk (as the dataplane keeps one in a batch) reads as gone, and
// stays gone once a new flow takes the slot.
func TestCompactStaleHandle(t *testing.T) {
	v := newEnv(t, Config{})
	s := v.service(ipvs.ServiceSpec{Key: web}, ipvs.Masq, rip1, rip2)
	n := 3 * chunkSize * numShards // about three chunks a shard: all given back
	if testing.Short() || raceEnabled {
		n = chunkSize * numShards / 2 // a chunk or two a shard: some given back
	}
	var hs []Handle
	for i := range n {
		hs = append(hs, v.schedule(s, flowKey(i), SYN, start).Handle)
	}
	v.ct.Expire(start+61*sec, 1<<30)
	v.ct.Expire(start+61*sec, 1<<30)
	for _, h := range hs {
		if _, ok := v.ct.Get(h); ok {
			t.Fatalf("Get(%#x) after the drain: live", h)
		}
		if _, ok := v.ct.Update(h, DirInput, ACK, start+61*sec); ok {
			t.Fatalf("Update(%#x) after the drain: live", h)
		}
	}
	for i := range len(hs) {
		v.schedule(s, flowKey(len(hs)+i), SYN, start+62*sec)
	}
	for _, h := range hs {
		if c, ok := v.ct.Get(h); ok {
			t.Fatalf("Get(%#x) after the refill = %v: an old handle names a new flow", h, c)
		}
		if v.ct.Delete(h) {
			t.Fatalf("Delete(%#x) after the refill removed a new flow", h)
		}
	}
	check(t, v.ct, v.reg)
}

// TestSweepPaceAfterFlood: once a flood drained, the sweep's budget (in
// live entries, as the daemon gives it: Len()/5+4096 a call) still goes
// round the slab the flood grew in a few calls, so the entries left expire
// on time. Here a survivor in most chunks keeps them from being given
// back; before free slots were cheap, a pass over the 256k slots took
// some 60 calls (12 s at the daemon's 5 a second).
func TestSweepPaceAfterFlood(t *testing.T) {
	n := 1 << 18
	if raceEnabled {
		n = 1 << 16
	}
	v, _, _ := filledFamily(t, n, false)
	for i := 0; i < n; i += chunkSize {
		v.ct.In(flowKey(i), ACK, start+30*sec) // ESTABLISHED: 900 s
	}
	survivors := (n + chunkSize - 1) / chunkSize
	calls := func(now ipvs.Tick, want int) int {
		c := 0
		for ; v.ct.Len() > want && c < 1000; c++ {
			v.ct.Expire(now, v.ct.Len()/5+4096)
		}
		if v.ct.Len() != want {
			t.Fatalf("Len() = %d after %d calls, want %d", v.ct.Len(), c, want)
		}
		return c
	}
	calls(start+61*sec, survivors) // the flood's half-open flows go
	got := calls(start+931*sec, 0) // then the survivors, in a slab still 256k slots long
	t.Logf("%d slots, %d survivors: %d calls to expire them", n, survivors, got)
	if got > 5 {
		t.Errorf("expiring %d survivors took %d calls of budget Len()/5+4096, want at most 5", survivors, got)
	}
}
