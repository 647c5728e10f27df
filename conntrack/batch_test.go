package conntrack

import (
	"net/netip"
	"testing"

	"lvs/ipvs"
)

func TestBatchMatchesSingle(t *testing.T) {
	v, _, _ := filled(t, 3000)
	const n = 40 // more than one prefetch group, not a multiple of it
	keys := make([]Key, n)
	rkeys := make([]ReplyKey, n)
	for i := range keys {
		keys[i] = flowKey(i * 70) // hits, and misses beyond 3000
		rkeys[i] = ReplyKey{Proto: ipvs.TCP, Real: ap([2]netip.Addr{rip1, rip2}[(i*70)%2], 80), Client: keys[i].Client}
	}
	keys[3].Client = netip.MustParseAddrPort("[2001:db8::1]:5") // not IPv4: a miss
	out, found := make([]Conn, n), make([]bool, n)
	v.ct.LookupBatch(keys, out, found)
	for i, k := range keys {
		c, ok := v.ct.Lookup(k)
		if ok != found[i] || c != out[i] {
			t.Errorf("LookupBatch[%d] = %v %v, Lookup = %v %v", i, out[i], found[i], c, ok)
		}
	}
	v.ct.LookupReplyBatch(rkeys, out, found)
	for i, k := range rkeys {
		c, ok := v.ct.LookupReply(k)
		if ok != found[i] || c != out[i] {
			t.Errorf("LookupReplyBatch[%d] = %v %v, LookupReply = %v %v", i, out[i], found[i], c, ok)
		}
	}
	fl := make([]TCPFlags, n)
	for i := range fl {
		fl[i] = ACK
	}
	vd := make([]Verdict, n)
	v.ct.InBatch(keys, fl, start+sec, out, vd)
	for i := range keys {
		if want := i*70 < 3000 && i != 3; (vd[i] == Hit) != want || want && out[i].State() != StateEstablished {
			t.Errorf("InBatch[%d] = %v %v, want hit=%v ESTABLISHED", i, vd[i], out[i].State(), want)
		}
	}
	v.ct.OutBatch(rkeys, fl, start+sec, out, found)
	for i := range rkeys {
		if found[i] != (i*70 < 3000) { // rkeys[3] still has the IPv4 client
			t.Errorf("OutBatch[%d] found=%v", i, found[i])
		}
	}
	check(t, v.ct, v.reg)
}

func TestBatchNoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	v, _, _ := filled(t, 1000)
	keys, out, found := make([]Key, 64), make([]Conn, 64), make([]bool, 64)
	fl, vd := make([]TCPFlags, 64), make([]Verdict, 64)
	for i := range keys {
		keys[i], fl[i] = flowKey(i), ACK
	}
	if n := testing.AllocsPerRun(100, func() { v.ct.LookupBatch(keys, out, found) }); n != 0 {
		t.Errorf("LookupBatch allocates %v", n)
	}
	if n := testing.AllocsPerRun(100, func() { v.ct.InBatch(keys, fl, start, out, vd) }); n != 0 {
		t.Errorf("InBatch allocates %v", n)
	}
}
