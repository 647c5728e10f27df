package neigh

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"lvs/frame"
)

var (
	rip1 = netip.MustParseAddr("10.11.12.1")
	rip2 = netip.MustParseAddr("10.11.12.2")
	mac1 = frame.MAC{2, 0, 0, 0, 0, 1}
	mac2 = frame.MAC{2, 0, 0, 0, 0, 2}
)

func TestNeighResolveRefreshForget(t *testing.T) {
	n := New()
	t0 := time.Unix(1000, 0)
	n.Want([]netip.Addr{rip1, rip2})
	if got := n.Due(nil, t0); len(got) != 2 || got[0] != rip1 || got[1] != rip2 {
		t.Fatalf("Due at start = %v, want both addresses", got)
	}
	if got := n.Due(nil, t0.Add(500*time.Millisecond)); len(got) != 0 {
		t.Errorf("Due before retrans = %v, want none", got)
	}
	n.Learn(rip1, mac1, t0.Add(100*time.Millisecond))
	if m, ok := n.Lookup(rip1.As4()); !ok || m != mac1 {
		t.Fatalf("Lookup(rip1) = %v %v, want %v", m, ok, mac1)
	}
	if _, ok := n.Lookup(rip2.As4()); ok {
		t.Errorf("rip2 known without an answer")
	}
	// rip2 keeps being probed every second until it answers.
	if got := n.Due(nil, t0.Add(time.Second)); len(got) != 1 || got[0] != rip2 {
		t.Errorf("Due at 1s = %v, want [rip2]", got)
	}
	// rip1 is trusted for 30 s, then probed; after 3 unanswered probes it
	// is forgotten.
	at := t0.Add(100 * time.Millisecond)
	if got := n.Due(nil, at.Add(29*time.Second)); contains(got, rip1) {
		t.Errorf("rip1 probed while reachable")
	}
	for i := 0; i < 3; i++ {
		got := n.Due(nil, at.Add(time.Duration(30+i)*time.Second))
		if !contains(got, rip1) {
			t.Fatalf("probe %d of stale rip1 missing: %v", i+1, got)
		}
		if _, ok := n.Lookup(rip1.As4()); !ok {
			t.Fatalf("rip1 forgotten after %d probes, want after 3", i+1)
		}
	}
	n.Due(nil, at.Add(33*time.Second))
	if _, ok := n.Lookup(rip1.As4()); ok {
		t.Errorf("rip1 still known after 3 unanswered probes")
	}
	// It comes back with a new MAC.
	n.Learn(rip1, mac2, at.Add(34*time.Second))
	if m, _ := n.Lookup(rip1.As4()); m != mac2 {
		t.Errorf("Lookup after re-learn = %v, want %v", m, mac2)
	}
}

func TestNeighLearnsOnlyWanted(t *testing.T) {
	n := New()
	n.Want([]netip.Addr{rip1})
	n.Learn(rip2, mac2, time.Unix(0, 0))
	n.Learn(rip1, frame.BroadcastMAC, time.Unix(0, 0))
	n.Learn(rip1, frame.MAC{}, time.Unix(0, 0))
	if _, ok := n.Lookup(rip2.As4()); ok {
		t.Error("learned an address nobody wanted")
	}
	if _, ok := n.Lookup(rip1.As4()); ok {
		t.Error("learned a broadcast or zero MAC")
	}
	n.Learn(rip1, mac1, time.Unix(0, 0))
	n.Want([]netip.Addr{rip2})
	if _, ok := n.Lookup(rip1.As4()); ok {
		t.Error("an address no longer wanted is still known")
	}
}

func TestNeighLookupNoAllocs(t *testing.T) {
	n := New()
	n.Want([]netip.Addr{rip1})
	n.Learn(rip1, mac1, time.Unix(0, 0))
	a := rip1.As4()
	if allocs := testing.AllocsPerRun(1000, func() { n.Lookup(a) }); allocs != 0 {
		t.Errorf("Lookup allocs = %v, want 0", allocs)
	}
}

func BenchmarkNeighLookup(b *testing.B) {
	n := New()
	var ips []netip.Addr
	for i := 0; i < 256; i++ {
		ips = append(ips, netip.AddrFrom4([4]byte{10, 11, 12, byte(i)}))
	}
	n.Want(ips)
	for _, ip := range ips {
		n.Learn(ip, mac1, time.Unix(0, 0))
	}
	a := rip1.As4()
	b.ReportAllocs()
	for b.Loop() {
		n.Lookup(a)
	}
}

func contains(s []netip.Addr, a netip.Addr) bool {
	for _, x := range s {
		if x == a {
			return true
		}
	}
	return false
}

func TestNeighResolveOnMiss(t *testing.T) {
	n := New()
	wake := make(chan struct{}, 1)
	n.SetWake(wake)
	t0 := time.Unix(1000, 0)
	n.Want([]netip.Addr{rip1})
	n.Due(nil, t0)
	n.Resolve(rip2.As4())
	n.Resolve(rip2.As4()) // asked twice before the control loop ran: one probe
	select {
	case <-wake:
	default:
		t.Fatal("Resolve did not poke the wake channel")
	}
	if got := n.Due(nil, t0.Add(100*time.Millisecond)); len(got) != 1 || got[0] != rip2 {
		t.Fatalf("Due after Resolve = %v, want [%v]", got, rip2)
	}
	n.Learn(rip2, mac2, t0.Add(150*time.Millisecond))
	if m, ok := n.Lookup(rip2.As4()); !ok || m != mac2 {
		t.Fatalf("Lookup(rip2) after its reply = %v %v, want %v", m, ok, mac2)
	}
	select {
	case <-wake:
	default:
		t.Error("Learn of a new MAC did not poke the wake channel (held frames wait for it)")
	}
	// A reload that wants other addresses keeps it: it was asked for.
	n.Want([]netip.Addr{rip1})
	if _, ok := n.Lookup(rip2.As4()); !ok {
		t.Error("Want forgot an address the packet path asked for")
	}
	// An address that never answers is dropped after three probes a
	// second apart, until a packet asks again.
	rip3 := netip.MustParseAddr("10.11.12.3")
	n.Resolve(rip3.As4())
	var probes int
	for i := range 6 {
		if contains(n.Due(nil, t0.Add(time.Duration(2+i)*time.Second)), rip3) {
			probes++
		}
	}
	if probes != 3 {
		t.Errorf("unanswered address probed %d times, want 3", probes)
	}
	n.Resolve(rip3.As4())
	if !contains(n.Due(nil, t0.Add(10*time.Second)), rip3) {
		t.Error("asked again after being dropped: not probed")
	}
}

func TestNeighResolveNoAllocs(t *testing.T) {
	n := New()
	n.SetWake(make(chan struct{}, 1))
	a := rip1.As4()
	if allocs := testing.AllocsPerRun(1000, func() { n.Resolve(a) }); allocs != 0 {
		t.Errorf("Resolve allocs = %v, want 0", allocs)
	}
}

func TestMovesCountsChangedMACs(t *testing.T) {
	n := New()
	ip := netip.MustParseAddr("10.11.12.1")
	n.Want([]netip.Addr{ip})
	now := time.Now()
	n.Learn(ip, frame.MAC{2, 0, 0, 0, 0, 1}, now)
	n.Learn(ip, frame.MAC{2, 0, 0, 0, 0, 1}, now) // confirmed, same MAC
	if got := n.Moves(); got != 0 {
		t.Fatalf("Moves after learning and confirming one MAC = %d, want 0", got)
	}
	n.Learn(ip, frame.MAC{2, 0, 0, 0, 0, 2}, now)
	if got := n.Moves(); got != 1 {
		t.Errorf("Moves after the MAC changed = %d, want 1", got)
	}
}

// A thousand wanted servers are probed MaxProbes at a time, each once.
func TestDueSpreadsProbes(t *testing.T) {
	n := New()
	var ips []netip.Addr
	for i := range 1000 {
		ips = append(ips, netip.AddrFrom4([4]byte{10, 251, byte(i / 250), byte(i%250 + 1)}))
	}
	n.Want(ips)
	now := time.Now()
	seen := map[netip.Addr]bool{}
	var sizes []int
	for range 5 {
		due := n.Due(nil, now)
		sizes = append(sizes, len(due))
		for _, a := range due {
			if seen[a] {
				t.Errorf("%v probed twice in one retrans interval", a)
			}
			seen[a] = true
		}
	}
	if want := []int{MaxProbes, MaxProbes, MaxProbes, 1000 - 3*MaxProbes, 0}; !slices.Equal(sizes, want) {
		t.Errorf("Due sizes = %v, want %v", sizes, want)
	}
}
