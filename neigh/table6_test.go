package neigh

import (
	"net/netip"
	"testing"
	"time"

	"lvs/frame"
)

var (
	rip61 = netip.MustParseAddr("2001:db8:12::1")
	rip62 = netip.MustParseAddr("2001:db8:12::2")
)

// IPv6 neighbours go through the same life as IPv4 ones — wanted, probed,
// learned, re-probed, forgotten — in their own map, and neither family
// sees the other's.
func TestNeigh6ResolveRefreshForget(t *testing.T) {
	n := New()
	t0 := time.Unix(1000, 0)
	n.Want([]netip.Addr{rip1, rip61, rip62})
	got := n.Due(nil, t0)
	if len(got) != 3 || got[0] != rip1 || got[1] != rip61 || got[2] != rip62 {
		t.Fatalf("Due at start = %v, want [%v %v %v]", got, rip1, rip61, rip62)
	}
	n.Learn(rip61, mac1, t0.Add(100*time.Millisecond))
	if m, ok := n.Lookup6(rip61.As16()); !ok || m != mac1 {
		t.Fatalf("Lookup6(rip61) = %v %v, want %v", m, ok, mac1)
	}
	if _, ok := n.Lookup6(rip62.As16()); ok {
		t.Error("rip62 known without an answer")
	}
	if _, ok := n.Lookup(rip1.As4()); ok {
		t.Error("an IPv6 answer made an IPv4 neighbour known")
	}
	if got := n.Due(nil, t0.Add(time.Second)); len(got) != 2 || got[0] != rip1 || got[1] != rip62 {
		t.Errorf("Due at 1s = %v, want [%v %v]", got, rip1, rip62)
	}
	at := t0.Add(100 * time.Millisecond)
	for i := range 3 {
		if !contains(n.Due(nil, at.Add(time.Duration(30+i)*time.Second)), rip61) {
			t.Fatalf("probe %d of stale rip61 missing", i+1)
		}
	}
	n.Due(nil, at.Add(33*time.Second))
	if _, ok := n.Lookup6(rip61.As16()); ok {
		t.Error("rip61 still known after 3 unanswered probes")
	}
	n.Learn(rip61, mac2, at.Add(34*time.Second))
	if m, _ := n.Lookup6(rip61.As16()); m != mac2 {
		t.Errorf("rip61 after it came back = %v, want %v", m, mac2)
	}
	n.Want([]netip.Addr{rip1})
	if _, ok := n.Lookup6(rip61.As16()); ok {
		t.Error("an address no longer wanted is still known")
	}
}

func TestNeigh6LearnsOnlyWantedOrAsked(t *testing.T) {
	n := New()
	now := time.Unix(0, 0)
	n.Want([]netip.Addr{rip61})
	stranger := netip.MustParseAddr("2001:db8:12::99")
	n.Learn(stranger, mac2, now)
	if _, ok := n.Lookup6(stranger.As16()); ok {
		t.Error("learned an address nobody wanted from an advertisement")
	}
	for _, bad := range []frame.MAC{{}, {0x33, 0x33, 0, 0, 0, 1}} {
		n.Learn(rip61, bad, now)
		if _, ok := n.Lookup6(rip61.As16()); ok {
			t.Errorf("learned MAC %v", bad)
		}
	}
	client := netip.MustParseAddr("2001:db8:26::100")
	n.LearnAny(client, mac1, now)
	if m, ok := n.Lookup6(client.As16()); !ok || m != mac1 {
		t.Errorf("LearnAny(client) then Lookup6 = %v %v", m, ok)
	}
	n.LearnAny(netip.IPv6Unspecified(), mac1, now)
	n.LearnAny(frame.AllNodes, mac1, now)
	if _, ok := n.Lookup6(netip.IPv6Unspecified().As16()); ok {
		t.Error("LearnAny kept the unspecified address")
	}
}

func TestNeigh6ResolveOnMiss(t *testing.T) {
	n := New()
	wake := make(chan struct{}, 1)
	n.SetWake(wake)
	t0 := time.Unix(1000, 0)
	n.Resolve6(rip62.As16())
	n.Resolve6(rip62.As16())
	select {
	case <-wake:
	default:
		t.Fatal("Resolve6 did not poke the wake channel")
	}
	if got := n.Due(nil, t0); len(got) != 1 || got[0] != rip62 {
		t.Fatalf("Due after Resolve6 = %v, want [%v]", got, rip62)
	}
	n.Learn(rip62, mac2, t0.Add(10*time.Millisecond))
	if m, ok := n.Lookup6(rip62.As16()); !ok || m != mac2 {
		t.Fatalf("Lookup6 after the advertisement = %v %v", m, ok)
	}
	// The ask list is bounded: more misses than slots between two Due
	// calls are asked again by later packets, never block.
	for i := range askSlots + 10 {
		n.Resolve6(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(i + 10)}).As16())
	}
	if got := n.Due(nil, t0.Add(time.Second)); len(got) != askSlots {
		t.Errorf("Due after %d asks = %d addresses, want %d", askSlots+10, len(got), askSlots)
	}
}

func TestNeigh6NoAllocs(t *testing.T) {
	n := New()
	n.SetWake(make(chan struct{}, 1))
	n.Want([]netip.Addr{rip61})
	n.Learn(rip61, mac1, time.Unix(0, 0))
	a, b := rip61.As16(), rip62.As16()
	if allocs := testing.AllocsPerRun(1000, func() { n.Lookup6(a) }); allocs != 0 {
		t.Errorf("Lookup6 allocs = %v, want 0", allocs)
	}
	if allocs := testing.AllocsPerRun(1000, func() { n.Resolve6(b) }); allocs != 0 {
		t.Errorf("Resolve6 allocs = %v, want 0", allocs)
	}
}

func BenchmarkNeighLookup6(b *testing.B) {
	n := New()
	var ips []netip.Addr
	for i := range 256 {
		ips = append(ips, netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 0x12, 15: byte(i)}))
	}
	n.Want(ips)
	for _, ip := range ips {
		n.Learn(ip, mac1, time.Unix(0, 0))
	}
	a := ips[1].As16()
	b.ReportAllocs()
	for b.Loop() {
		n.Lookup6(a)
	}
}
