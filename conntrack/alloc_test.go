package conntrack

import (
	"testing"

	"lvs/ipvs"
)

func TestHotPathNoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	for _, six := range []bool{false, true} {
		name := map[bool]string{false: "IPv4", true: "IPv6"}[six]
		t.Run(name, func(t *testing.T) { hotPathNoAllocs(t, six) })
	}
}

func hotPathNoAllocs(t *testing.T, six bool) {
	v, s, hs := filledFamily(t, 4096, six)
	ps, vaddr, rip := v.service(persistent(https, 24), ipvs.Masq, rip1, rip2), vip, rip2
	if six {
		ps, vaddr, rip = v.service(persistent(https6, 64), ipvs.Masq, rip61, rip62), vip6, rip62
	}
	flowKey := func(i int) Key { return keyOf(six, i) }
	k, rk := flowKey(7), ReplyKey{Proto: ipvs.TCP, Real: ap(rip, 80), Client: flowKey(7).Client}
	i := 0
	tests := []struct {
		name string
		f    func()
	}{
		{"Lookup", func() { v.ct.Lookup(k) }},
		{"LookupReply", func() { v.ct.LookupReply(rk) }},
		{"In", func() { v.ct.In(k, ACK, start) }},
		{"Out", func() { v.ct.Out(rk, ACK, start) }},
		{"Get", func() { v.ct.Get(hs[0]) }},
		{"Addrs", func() { c, _ := v.ct.Lookup(k); v.ct.Addrs(c) }},
		{"Schedule steady state", func() {
			v.ct.Delete(hs[i%len(hs)])
			c, _ := v.ct.Schedule(s, flowKey(100000+i), 0, SYN, start)
			hs[i%len(hs)] = c.Handle
			i++
		}},
		{"Schedule persistent", func() {
			pk := Key{Proto: ipvs.TCP, Client: flowKey(i).Client, Virtual: ap(vaddr, 443)}
			c, _ := v.ct.Schedule(ps, pk, 0, SYN, start)
			v.ct.Delete(c.Handle)
			i++
		}},
		{"Expire", func() { v.ct.Expire(start, 1024) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.f() // warm up: slabs grown
			if n := testing.AllocsPerRun(1000, tt.f); n != 0 {
				t.Errorf("%s allocates %v per call, want 0", tt.name, n)
			}
		})
	}
	check(t, v.ct, v.reg)
}
