package sched

import (
	"net/netip"
	"testing"

	"lvs/ipvs"
)

// FuzzSchedulers drives every scheduler through random destination adds,
// deletes, weight and threshold edits, connection binds and picks, all as
// ipvs.Table edits. A pick must never panic and never return a destination
// that is quiesced, overloaded or not in the service.
func FuzzSchedulers(f *testing.F) {
	f.Add([]byte{0, 1, 0, 2, 0, 3, 3, 0, 3, 1, 2, 0, 3, 4, 1, 3, 5, 1, 3, 2, 3})
	f.Add([]byte{0, 9, 0, 7, 0, 250, 4, 0, 4, 0, 3, 1, 1, 7, 3, 3, 6, 255, 3, 3, 3})
	f.Fuzz(func(t *testing.T, ops []byte) {
		if len(ops) > 1024 { // longer inputs add time, not coverage
			ops = ops[:1024]
		}
		for _, name := range Names() {
			runOps(t, name, ops)
		}
	})
}

// fuzzState tracks the connections bound per destination so Unbind only
// undoes real binds.
type fuzzState struct {
	t     *testing.T
	tab   *ipvs.Table
	bound map[*ipvs.Counters]int
	now   ipvs.Tick
}

func runOps(t *testing.T, name string, ops []byte) {
	tab, err := ipvs.NewTable(ipvs.NewRegistry(), New).AddService(ipvs.ServiceSpec{Key: vipKey,
		SchedSpec: ipvs.SchedSpec{SchedName: name, SchedOpts: ipvs.SchedOptions{
			Flags: ipvs.SchedFlags(len(ops) % 4), MHTableSize: 251, Seed: 5}}})
	if err != nil {
		t.Fatal(err)
	}
	st := &fuzzState{t: t, tab: tab, bound: map[*ipvs.Counters]int{}}
	for len(ops) >= 2 {
		op, arg := ops[0], ops[1]
		ops = ops[2:]
		st.step(name, op%8, arg)
	}
}

func (st *fuzzState) step(name string, op, arg byte) {
	addr := netip.AddrFrom4([4]byte{10, 0, 0, arg%8 + 1})
	s := st.tab.Service(vipKey)
	spec := ipvs.DestSpec{Addr: addr, Port: 80, Weight: int32(arg>>3) % 4, UThreshold: uint32(arg>>5) % 3}
	switch op {
	case 0:
		if tab, err := st.tab.AddDest(vipKey, spec); err == nil {
			st.tab = tab
		}
	case 1:
		if tab, err := st.tab.DeleteDest(vipKey, addr, 80); err == nil {
			st.tab = tab
		}
	case 2:
		if tab, err := st.tab.EditDest(vipKey, spec); err == nil {
			st.tab = tab
		}
	case 3, 4:
		if d := s.Dest(addr, 80); d != nil {
			d.C.Bind(op == 3, d.C.Epoch())
			st.bound[d.C]++
		}
	case 5:
		if d := s.Dest(addr, 80); d != nil && st.bound[d.C] > 0 {
			d.C.Unbind(arg&1 == 0 && d.C.Active.Load() > 0 || d.C.Inactive.Load() == 0, d.C.Epoch())
			st.bound[d.C]--
		}
	case 6:
		st.now += ipvs.Tick(arg) * 10_000
	default:
		fl := &ipvs.Flow{Src: netip.AddrPortFrom(netip.AddrFrom4([4]byte{172, 16, 0, arg}), uint16(arg)*7),
			Dst: netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 9, 0, arg % 16}), 80), Now: st.now}
		d := s.Sched.Pick(s, fl)
		if d != nil && (d.Weight <= 0 || d.C.Overloaded() || s.Dest(d.Addr, d.Port) == nil) {
			st.t.Fatalf("%s picked %v: weight %d overloaded %v in service %v",
				name, d.AddrPort(), d.Weight, d.C.Overloaded(), s.Dest(d.Addr, d.Port) != nil)
		}
	}
}
