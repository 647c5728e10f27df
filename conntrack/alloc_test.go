package conntrack

import (
	"testing"

	"lvs/ipvs"
)

func TestHotPathNoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	v, s, hs := filled(t, 4096)
	ps := v.service(persistent(https, 24), ipvs.Masq, rip1, rip2)
	k, rk := flowKey(7), ReplyKey{Proto: ipvs.TCP, Real: ap(rip2, 80), Client: flowKey(7).Client}
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
		{"Schedule steady state", func() {
			v.ct.Delete(hs[i%len(hs)])
			c, _ := v.ct.Schedule(s, flowKey(100000+i), 0, SYN, start)
			hs[i%len(hs)] = c.Handle
			i++
		}},
		{"Schedule persistent", func() {
			pk := Key{Proto: ipvs.TCP, Client: flowKey(i).Client, Virtual: ap(vip, 443)}
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
