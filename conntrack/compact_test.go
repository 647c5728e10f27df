package conntrack

import (
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"

	"lvs/ipvs"
)

// TestCompactAfterFlood fills a table as a SYN flood does (half-open flows
// that expire after SYN_RECV's 60 s), keeps a few of them established, lets
// the sweep expire the rest and checks, by the table's own accounting, that
// it gives back the memory the flood grew (slab chunks, IPv6 address
// records and buckets), that the survivors and the invariants are intact,
// that no handle of an expired flow matches one of the flows that refill
// the slots given back, and that the table grows again and drains again.
func TestCompactAfterFlood(t *testing.T) {
	small, big, big6 := 1<<16, 1<<20, 200_000 // a million IPv4 flows, as a flood leaves
	if testing.Short() || raceEnabled {
		small, big, big6 = 1<<15, 1<<15, 1<<15
	}
	for _, tt := range []struct {
		name string
		n    int
		keep int // every keep-th flow becomes established and outlives the flood; 0: none
		six  bool
	}{
		{"drained", small, 0, false},
		{"survivors", big, 4093, false},
		{"IPv6 drained", small, 0, true},
		{"IPv6 survivors", big6, 4093, true},
	} {
		t.Run(tt.name, func(t *testing.T) { compactAfterFlood(t, tt.n, tt.keep, tt.six) })
	}
}

func compactAfterFlood(t *testing.T, n, keep int, six bool) {
	v, s, hs := filledFamily(t, n, six)
	base, base6 := v.ct.Bytes(), v.ct.recordBytes()
	var kept []Handle
	for i := 0; keep > 0 && i < n; i += keep {
		c, _ := v.ct.In(keyOf(six, i), ACK, start+30*sec)
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
	drained, drained6 := v.ct.Bytes(), v.ct.recordBytes()
	// What the survivors may still hold: a chunk each and one more per
	// shard (of entries, and of address records for IPv6 flows), the
	// chunk slices, and buckets of at most twice their chains (at least
	// minBuckets).
	bounds := func() (all, records int) {
		for i := range v.ct.shards {
			all += 8 * len(*v.ct.shards[i].chunks.Load())
			records += 8 * len(*v.ct.shards[i].chunks6.Load())
		}
		if six {
			records += (len(kept) + numShards) * chunk6Bytes
		}
		all += records + (len(kept)+numShards)*chunkBytes + numShards*2*4*max(minBuckets, 2*(len(kept)/numShards+1))
		return all, records
	}
	bound, bound6 := bounds()
	t.Logf("%d flows: table holds %d MiB full, %d KiB drained (bound %d KiB), %d survivors",
		n, base>>20, drained>>10, bound>>10, len(kept))
	if six {
		t.Logf("%d IPv6 flows: address records hold %d KiB full, %d KiB drained (bound %d KiB)",
			n, base6>>10, drained6>>10, bound6>>10)
	}
	if drained6 > bound6 {
		t.Errorf("drained table's address records hold %d bytes, want at most %d (full: %d)", drained6, bound6, base6)
	}
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
		if _, st := v.ct.Schedule(s, keyOf(six, n+i), 0, SYN, after); st != Scheduled {
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
		if _, ok := v.ct.Addrs(Conn{Handle: h, k1: kindV6}); six && ok {
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
	if full := v.ct.recordBytes(); full < base6/2 {
		t.Errorf("refilled table's address records hold %d bytes, full one held %d: the chunks did not come back", full, base6)
	}
	check(t, v.ct, v.reg)
	after += 61 * sec
	sweep()
	b, b6 := v.ct.Bytes(), v.ct.recordBytes()
	bound, bound6 = bounds()
	if got := v.ct.Len(); got != len(kept) || b > bound || b6 > bound6 {
		t.Errorf("second drain: Len() = %d, %d bytes (records %d); want %d, at most %d (records %d)",
			got, b, b6, len(kept), bound, bound6)
	}
	check(t, v.ct, v.reg)
}

// TestCompactKeepsLookupsAllocationFree: after a table drained and gave
// its chunks (and IPv6 address records) back, growing it again and the
// packet path allocate nothing more than before (the slabs' growth aside).
func TestCompactKeepsLookupsAllocationFree(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	for _, tt := range []struct {
		name string
		six  bool
	}{{"IPv4", false}, {"IPv6", true}} {
		t.Run(tt.name, func(t *testing.T) { allocationFreeAfterCompact(t, tt.six) })
	}
}

func allocationFreeAfterCompact(t *testing.T, six bool) {
	v, s, _ := filledFamily(t, 1<<15, six)
	v.ct.Expire(start+61*sec, 1<<30)
	v.ct.Expire(start+61*sec, 1<<30)
	if v.ct.Len() != 0 {
		t.Fatalf("Len() = %d after the drain, want 0", v.ct.Len())
	}
	now := start + 62*sec
	hs := make([]Handle, 1<<15)
	for i := range hs {
		c, st := v.ct.Schedule(s, keyOf(six, i), 0, SYN, now)
		if st != Scheduled {
			t.Fatalf("Schedule %d: %v", i, st)
		}
		hs[i] = c.Handle
	}
	k := keyOf(six, 7)
	i := 0
	for _, tt := range []struct {
		name string
		f    func()
	}{
		{"Lookup", func() { v.ct.Lookup(k) }},
		{"In", func() { v.ct.In(k, ACK, now) }},
		{"Schedule steady state", func() {
			v.ct.Delete(hs[i%len(hs)])
			c, _ := v.ct.Schedule(s, keyOf(six, 100000+i), 0, SYN, now)
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

// TestCompactKeepsIPv6Flows: IPv6 flows that outlive a flood keep working
// while and after the sweep gives back the address records around theirs:
// NAT66 flows, IPv6 flows tunnelled to an IPv4 server under a persistent
// service (whose templates hold records too) and IPv4 flows tunnelled to
// an IPv6 server. Readers look them up by key, by reply key and read their
// addresses during the compaction; afterwards they are stepped, new flows
// refill the slab around them, and they are deleted.
func TestCompactKeepsIPv6Flows(t *testing.T) {
	n := 4 * chunkSize * numShards // four chunks of records a shard
	if testing.Short() || raceEnabled {
		n = 3 * chunkSize * numShards
	}
	v := newEnv(t, Config{MaxEntries: 3 * n})
	flood := v.service(ipvs.ServiceSpec{Key: web6}, ipvs.Masq, rip61, rip62)
	https6 := ipvs.ServiceKey{Proto: ipvs.TCP, Addr: vip6, Port: 443}
	services := []*ipvs.Service{
		flood, // NAT66
		v.service(persistent(https6, 64), ipvs.Tunnel, rip1),      // IPv6 client, IPv4 real, template
		v.service(ipvs.ServiceSpec{Key: web}, ipvs.Tunnel, rip61), // IPv4 client, IPv6 real
	}
	type survivor struct {
		k Key
		c Conn
		a Addrs
	}
	var live []survivor
	for i := range n {
		if _, st := v.ct.Schedule(flood, flowKey6(i), 0, SYN, start); st != Scheduled {
			t.Fatalf("flood %d: %v", i, st)
		}
		if i%1021 != 0 {
			continue
		}
		j := len(live)
		s := services[j%len(services)]
		client := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0x55, 6: byte(j >> 8), 7: byte(j), 15: 1})
		if s.Key.Addr.Is4() {
			client = netip.AddrFrom4([4]byte{172, 17, byte(j >> 8), byte(j)})
		}
		k := Key{Proto: ipvs.TCP, Client: ap(client, 40000), Virtual: ap(s.Key.Addr, s.Key.Port)}
		v.schedule(s, k, SYN, start)
		c, _ := v.ct.In(k, ACK, start+30*sec) // ESTABLISHED: 900 s
		a, ok := v.ct.Addrs(c)
		if c.State() != StateEstablished || !ok || a.Client != k.Client || a.Virtual != k.Virtual {
			t.Fatalf("survivor %v: %v, addresses %v %v", k, c, a, ok)
		}
		live = append(live, survivor{k, c, a})
	}
	// look finds every survivor by key and reply key and reads its
	// addresses; it returns what it found wrong.
	look := func() []string {
		var bad []string
		for _, l := range live {
			if c, ok := v.ct.Lookup(l.k); !ok || c.Handle != l.c.Handle {
				bad = append(bad, fmt.Sprintf("Lookup(%v) = %#x %v, want %#x", l.k, c.Handle, ok, l.c.Handle))
			}
			rk := ReplyKey{Proto: ipvs.TCP, Real: l.a.Real, Client: l.k.Client}
			if c, ok := v.ct.LookupReply(rk); !ok || c.Handle != l.c.Handle {
				bad = append(bad, fmt.Sprintf("LookupReply(%v) = %#x %v, want %#x", rk, c.Handle, ok, l.c.Handle))
			}
			if a, ok := v.ct.Addrs(l.c); !ok || a != l.a {
				bad = append(bad, fmt.Sprintf("Addrs(%v) = %v %v, want %v", l.k, a, ok, l.a))
			}
		}
		return bad
	}
	peak := v.ct.recordBytes()

	// The sweep expires the flood and compacts, a reader looks on.
	var done atomic.Bool
	var wg sync.WaitGroup
	bad := make([][]string, 1)
	for r := range bad {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for again := true; again && len(bad[r]) < 10; {
				again = !done.Load() // a last round after the sweep
				bad[r] = append(bad[r], look()...)
			}
		}()
	}
	after := start + 61*sec
	for range 2 {
		v.ct.Expire(after, 1<<30)
	}
	done.Store(true)
	wg.Wait()
	for r := range bad {
		for _, b := range bad[r] {
			t.Errorf("reader %d during the sweep: %s", r, b)
		}
	}
	templates := (len(live) + 1) / 3 // survivors j with j%3 == 1
	if got, want := v.ct.Len(), len(live)+templates; got != want {
		t.Fatalf("after the sweep: Len() = %d, want %d survivors and %d templates", got, len(live), templates)
	}
	drained := v.ct.recordBytes()
	t.Logf("%d IPv6 flows, %d survivors: address records %d KiB full, %d KiB after the sweep", n, len(live), peak>>10, drained>>10)
	if drained > peak/2 {
		t.Fatalf("address records hold %d bytes after the sweep, %d full: nothing was compacted around the survivors", drained, peak)
	}
	check(t, v.ct, v.reg)

	// New flows take the free records and the chunks given back.
	for i := range n / 2 {
		if _, st := v.ct.Schedule(flood, flowKey6(n+i), 0, SYN, after); st != Scheduled {
			t.Fatalf("refill %d: %v", i, st)
		}
	}
	for _, b := range look() {
		t.Errorf("after the refill: %s", b)
	}
	check(t, v.ct, v.reg)
	for _, l := range live {
		if c, _ := v.ct.In(l.k, FIN|ACK, after); c.Handle != l.c.Handle || c.State() == StateEstablished {
			t.Errorf("In(%v, FIN) = %#x %v, want %#x past ESTABLISHED", l.k, c.Handle, c.State(), l.c.Handle)
		}
		if !v.ct.Delete(l.c.Handle) {
			t.Errorf("Delete(%v) = false", l.k)
		}
		if _, ok := v.ct.Lookup(l.k); ok {
			t.Errorf("Lookup(%v) after its Delete: found", l.k)
		}
		if _, ok := v.ct.LookupReply(ReplyKey{Proto: ipvs.TCP, Real: l.a.Real, Client: l.k.Client}); ok {
			t.Errorf("LookupReply(%v) after its Delete: found", l.k)
		}
		if _, ok := v.ct.Addrs(l.c); ok {
			t.Errorf("Addrs(%v) after its Delete: found", l.k)
		}
	}
	if got, want := v.ct.Len(), n/2+templates; got != want {
		t.Errorf("after the deletes: Len() = %d, want %d", got, want)
	}
	check(t, v.ct, v.reg)
}
