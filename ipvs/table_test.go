package ipvs

import (
	"errors"
	"net/netip"
	"testing"
	"unsafe"
)

// firstSched picks the first available destination; it counts Update calls.
type firstSched struct{ updates int }

func (f *firstSched) Name() string    { return "first" }
func (f *firstSched) Update(*Service) { f.updates++ }
func (f *firstSched) Pick(s *Service, _ *Flow) *Dest {
	for _, d := range s.Dests {
		if d.Available() {
			return d
		}
	}
	return nil
}

func newTestTable(t *testing.T) *Table {
	t.Helper()
	return NewTable(NewRegistry(), func(name string, _ SchedOptions) (Scheduler, error) {
		if name == "bogus" {
			return nil, errors.New("unknown scheduler bogus")
		}
		return &firstSched{}, nil
	})
}

var (
	vip  = netip.MustParseAddr("192.168.26.10")
	rip1 = netip.MustParseAddr("10.11.12.1")
	rip2 = netip.MustParseAddr("10.11.12.2")
	web  = ServiceKey{Proto: TCP, Addr: vip, Port: 80}
)

func must(t *testing.T) func(*Table, error) *Table {
	return func(tb *Table, err error) *Table {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return tb
	}
}

func TestEditsKeepCountersAndSnapshots(t *testing.T) {
	t0 := newTestTable(t)
	t1 := must(t)(t0.AddService(ServiceSpec{Key: web, SchedSpec: SchedSpec{SchedName: "wlc"}}))
	t2 := must(t)(t1.AddDest(web, DestSpec{Addr: rip1, Port: 80, Weight: 1}))
	t3 := must(t)(t2.AddDest(web, DestSpec{Addr: rip2, Port: 80, Weight: 2}))
	d1 := t3.Service(web).Dest(rip1, 80)
	d1.C.Bind(true, d1.C.Epoch())
	d1.C.InPkts.Add(7)

	t4 := must(t)(t3.EditDest(web, DestSpec{Addr: rip1, Port: 80, Weight: 5}))
	got := t4.Service(web).Dest(rip1, 80)
	if got.ID != d1.ID || got.C != d1.C || got.C.Active.Load() != 1 || got.C.InPkts.Load() != 7 {
		t.Errorf("EditDest lost counters: id %d→%d active=%d inpkts=%d", d1.ID, got.ID, got.C.Active.Load(), got.C.InPkts.Load())
	}
	if got.Weight != 5 || got.C.Weight() != 5 {
		t.Errorf("EditDest weight = %d (live %d), want 5", got.Weight, got.C.Weight())
	}
	if d1.Weight != 1 {
		t.Errorf("old snapshot changed: weight %d, want 1", d1.Weight)
	}
	if len(t2.Service(web).Dests) != 1 || len(t3.Service(web).Dests) != 2 {
		t.Errorf("snapshots share dest lists")
	}
	if sc := t4.Service(web).Sched.(*firstSched); sc.updates != 4 {
		t.Errorf("scheduler Update calls = %d, want 4 (add service, 2 adds, 1 edit)", sc.updates)
	}

	t5 := must(t)(t4.DeleteDest(web, rip1, 80))
	if t5.Service(web).Dest(rip1, 80) != nil || d1.C.Available() {
		t.Errorf("DeleteDest: dest still present or available")
	}
	if !t5.Service(web).Dest(rip2, 80).C.Available() {
		t.Errorf("DeleteDest made the other destination unavailable")
	}
	t6 := must(t)(t5.DeleteService(web))
	if t6.Service(web) != nil || len(t6.Services()) != 0 {
		t.Errorf("DeleteService left the service")
	}
	if t5.Service(web) == nil {
		t.Errorf("DeleteService changed the previous snapshot")
	}
}

func TestEditErrors(t *testing.T) {
	t0 := newTestTable(t)
	t1 := must(t)(t0.AddService(ServiceSpec{Key: web, SchedSpec: SchedSpec{SchedName: "rr"}}))
	tests := []struct {
		name string
		err  error
		want error
	}{
		{"dup service", second(t1.AddService(ServiceSpec{Key: web})), ErrServiceExists},
		{"bad key", second(t1.AddService(ServiceSpec{Key: ServiceKey{Proto: 99, Addr: vip, Port: 1}})), ErrBadKey},
		{"mark with addr", second(t1.AddService(ServiceSpec{Key: ServiceKey{FWMark: 80, Addr: vip}})), ErrBadKey},
		{"IPv6 flag on an address", second(t1.AddService(ServiceSpec{Key: ServiceKey{Proto: TCP, Addr: vip, Port: 81, IPv6: true}})), ErrBadKey},
		{"IPv6 mark is not the IPv4 one", second(t1.AddDest(MarkKey6(3), DestSpec{Addr: rip1})), ErrNoService},
		{"no service", second(t1.AddDest(MarkKey(3), DestSpec{Addr: rip1})), ErrNoService},
		{"negative weight", second(t1.AddDest(web, DestSpec{Addr: rip1, Weight: -1})), ErrBadWeight},
		{"edit missing", second(t1.EditDest(web, DestSpec{Addr: rip1, Port: 80})), ErrNoDest},
		{"delete missing", second(t1.DeleteDest(web, rip1, 80)), ErrNoDest},
		{"edit service missing", second(t1.EditService(MarkKey(1), SchedSpec{}, "")), ErrNoService},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !errors.Is(tt.err, tt.want) {
				t.Errorf("err = %v, want %v", tt.err, tt.want)
			}
		})
	}
	if _, err := t1.AddService(ServiceSpec{Key: MarkKey(80), SchedSpec: SchedSpec{SchedName: "bogus"}}); err == nil {
		t.Errorf("AddService with an unknown scheduler succeeded")
	}
	t2 := must(t)(t1.AddDest(web, DestSpec{Addr: rip1, Port: 80, Weight: 1}))
	if _, err := t2.AddDest(web, DestSpec{Addr: rip1, Port: 80, Weight: 1}); !errors.Is(err, ErrDestExists) {
		t.Errorf("duplicate AddDest err = %v, want ErrDestExists", err)
	}
}

func second(_ *Table, err error) error { return err }

func TestLookup(t *testing.T) {
	tb := newTestTable(t)
	tb = must(t)(tb.AddService(ServiceSpec{Key: web}))
	tb = must(t)(tb.AddService(ServiceSpec{Key: ServiceKey{Proto: UDP, Addr: vip}}))
	tb = must(t)(tb.AddService(ServiceSpec{Key: MarkKey(21)}))
	tb = must(t)(tb.AddService(ServiceSpec{Key: MarkKey6(21)})) // -f 21 -6: a second service
	tb = must(t)(tb.AddService(ServiceSpec{Key: MarkKey6(23)}))
	tests := []struct {
		name string
		got  *Service
		want ServiceKey
		nil  bool
	}{
		{"exact", tb.Lookup(TCP, vip, 80), web, false},
		{"other port no catch-all", tb.Lookup(TCP, vip, 81), ServiceKey{}, true},
		{"udp port-0 catch-all", tb.Lookup(UDP, vip, 53), ServiceKey{Proto: UDP, Addr: vip}, false},
		{"mark", tb.LookupMark(21), MarkKey(21), false},
		{"mark 0", tb.LookupMark(0), ServiceKey{}, true},
		{"unknown mark", tb.LookupMark(22), ServiceKey{}, true},
		{"IPv6 mark", tb.LookupMark6(21), MarkKey6(21), false},
		{"IPv6 mark 0", tb.LookupMark6(0), ServiceKey{}, true},
		{"IPv6 mark only", tb.LookupMark6(23), MarkKey6(23), false},
		{"IPv4 lookup of an IPv6 mark", tb.LookupMark(23), ServiceKey{}, true},
		{"by key, IPv6 mark", tb.Service(MarkKey6(21)), MarkKey6(21), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.nil {
				if tt.got != nil {
					t.Errorf("got %v, want nil", tt.got.Key)
				}
				return
			}
			if tt.got == nil || tt.got.Key != tt.want {
				t.Errorf("got %v, want %v", tt.got, tt.want)
			}
		})
	}
	if tb.Flush().Services() != nil && len(tb.Flush().Services()) != 0 {
		t.Errorf("Flush left services")
	}
}

func TestOverloadThresholds(t *testing.T) {
	tb := newTestTable(t)
	tb = must(t)(tb.AddService(ServiceSpec{Key: web}))
	tb = must(t)(tb.AddDest(web, DestSpec{Addr: rip1, Port: 80, Weight: 1, UThreshold: 4}))
	d := tb.Service(web).Dests[0]
	for i := 0; i < 3; i++ {
		d.C.Bind(true, 0)
	}
	if d.C.Overloaded() {
		t.Fatal("overloaded below the upper threshold")
	}
	d.C.Bind(false, 0)
	if !d.C.Overloaded() || d.Available() {
		t.Fatal("not overloaded at the upper threshold (active+inactive >= 4)")
	}
	// Without -y the flag clears when total*4 < u*3, i.e. total < 3.
	d.C.Unbind(false, 0)
	if !d.C.Overloaded() {
		t.Error("cleared at total 3: want still overloaded (3*4 = 12 is not < 12)")
	}
	d.C.Unbind(true, 0)
	if d.C.Overloaded() {
		t.Error("still overloaded at total 2")
	}
	// With -y 1 it clears only below 1.
	tb = must(t)(tb.EditDest(web, DestSpec{Addr: rip1, Port: 80, Weight: 1, UThreshold: 2, LThreshold: 1}))
	d = tb.Service(web).Dests[0]
	d.C.Unbind(true, 0) // total 2 → 1
	d.C.Unbind(true, 0) // total 1 → 0
	d.C.Bind(true, 0)
	d.C.Bind(true, 0)
	if !d.C.Overloaded() {
		t.Fatal("not overloaded at 2 with -x 2")
	}
	d.C.Unbind(true, 0)
	if !d.C.Overloaded() {
		t.Error("cleared at total 1 with -y 1")
	}
	d.C.Unbind(true, 0)
	if d.C.Overloaded() {
		t.Error("still overloaded at total 0 with -y 1")
	}
}

func TestResetSchedEpoch(t *testing.T) {
	tb := newTestTable(t)
	tb = must(t)(tb.AddService(ServiceSpec{Key: web}))
	tb = must(t)(tb.AddDest(web, DestSpec{Addr: rip1, Port: 80, Weight: 1}))
	c := tb.Service(web).Dests[0].C
	old := c.Epoch()
	c.Bind(true, old)
	c.Bind(false, old)
	if got := c.SchedOverhead(); got != 257 {
		t.Fatalf("SchedOverhead = %d, want 257", got)
	}
	if err := tb.ResetSched(web); err != nil {
		t.Fatal(err)
	}
	if c.SchedOverhead() != 0 || c.Active.Load() != 1 || c.Inactive.Load() != 1 {
		t.Fatalf("after reset: overhead %d active %d inactive %d, want 0 1 1", c.SchedOverhead(), c.Active.Load(), c.Inactive.Load())
	}
	c.Move(false, old) // an old connection goes inactive: not seen by the scheduler
	c.Bind(true, c.Epoch())
	if c.SchedOverhead() != 256 || c.Active.Load() != 1 || c.Inactive.Load() != 2 {
		t.Errorf("overhead %d active %d inactive %d, want 256 1 2", c.SchedOverhead(), c.Active.Load(), c.Inactive.Load())
	}
}

func TestRegistryGrowth(t *testing.T) {
	r := NewRegistry()
	if r.Dest(1) != nil || r.Dest(0) != nil {
		t.Fatal("empty registry returned counters")
	}
	var last uint32
	for i := 0; i < 3000; i++ {
		last = r.newID()
	}
	c := r.Dest(DestID(last))
	c.Conns.Add(1)
	if r.Dest(DestID(last)).Conns.Load() != 1 || r.Dest(DestID(last+1)) != nil {
		t.Error("registry lookup across chunks is wrong")
	}
}

func TestPersistPrefix(t *testing.T) {
	s := &Service{SchedSpec: SchedSpec{PMaskBits: 24}}
	if got := s.PersistPrefix(netip.MustParseAddr("1.2.3.4")); got != netip.MustParseAddr("1.2.3.0") {
		t.Errorf("PersistPrefix /24 = %v", got)
	}
	s.PMaskBits = 0
	if got := s.PersistPrefix(netip.MustParseAddr("1.2.3.4")); got != netip.MustParseAddr("1.2.3.4") {
		t.Errorf("PersistPrefix unset = %v", got)
	}
}

func TestCountersLayout(t *testing.T) {
	var c Counters
	if got := unsafe.Sizeof(c); got != 128 {
		t.Errorf("Counters is %d bytes, want 128 (two cache lines)", got)
	}
	if off := unsafe.Offsetof(c.Conns); off != 64 {
		t.Errorf("traffic counters start at byte %d, want 64 (a cache line of their own)", off)
	}
}
