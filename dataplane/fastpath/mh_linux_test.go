package fastpath

import (
	"fmt"
	"net/netip"
	"testing"

	"lvs/frame"
	"lvs/internal/frametest"
	"lvs/ipvs"
	"lvs/sched"
)

// TestNewFlowHashed: an mh or sh service's new flows, scheduled by the
// program from the table the scheduler gives (ipvs.Hasher), go to the real
// server its Pick picks for the same client — the scheduler lvsd's Go path
// runs — for clients of both families, with and without the port flag
// (mh-port, sh-port), TCP and UDP.
func TestNewFlowHashed(t *testing.T) {
	for _, c := range []struct {
		name, sched string
		six         bool
		flags       ipvs.SchedFlags
		proto       uint8
	}{
		{"mh-ipv4", "mh", false, 0, frame.ProtoTCP},
		{"mh-ipv4-port", "mh", false, ipvs.SchedFlag2, frame.ProtoTCP},
		{"mh-ipv4-udp-port", "mh", false, ipvs.SchedFlag2, frame.ProtoUDP},
		{"mh-ipv6", "mh", true, 0, frame.ProtoTCP},
		{"mh-ipv6-port", "mh", true, ipvs.SchedFlag2, frame.ProtoUDP},
		{"sh-ipv4", "sh", false, 0, frame.ProtoTCP},
		{"sh-ipv4-udp-port", "sh", false, ipvs.SchedFlag2, frame.ProtoUDP},
		{"sh-ipv6-port", "sh", true, ipvs.SchedFlag2, frame.ProtoTCP},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := openForTest(t)
			vipAP, reals := vip, []netip.Addr{rip.Addr(), rip2.Addr(), netip.MustParseAddr("10.0.0.4")}
			if c.six {
				vipAP, reals = vip6, []netip.Addr{rip6.Addr(), netip.MustParseAddr("fd00::3"), netip.MustParseAddr("fd00::4")}
			}
			key := ipvs.ServiceKey{Proto: ipvs.Proto(c.proto), Addr: vipAP.Addr(), Port: vipAP.Port()}
			tab, err := ipvs.NewTable(ipvs.NewRegistry(), sched.New).AddService(ipvs.ServiceSpec{Key: key,
				SchedSpec: ipvs.SchedSpec{SchedName: c.sched, SchedOpts: ipvs.SchedOptions{Flags: c.flags}}})
			if err != nil {
				t.Fatal(err)
			}
			for i, a := range reals {
				if tab, err = tab.AddDest(key, ipvs.DestSpec{Addr: a, Port: 8080, Method: ipvs.Masq, Weight: int32(i + 1)}); err != nil {
					t.Fatal(err)
				}
			}
			s := tab.Service(key)
			h, ok := s.Sched.(ipvs.Hasher)
			if !ok {
				t.Fatalf("%s is no ipvs.Hasher", c.sched)
			}
			table, fn, port := h.HashTable(s, 1<<14)
			if table == nil || port != (c.flags&ipvs.SchedFlag2 != 0) {
				t.Fatalf("HashTable = %d slots, port %v", len(table), port)
			}
			svc := Service{VIP: vipAP, Proto: c.proto, In: loIndex,
				Hash: map[[2]bool]Hash{{true, false}: HashMH, {true, true}: HashMHPort, {false, false}: HashSH, {false, true}: HashSHPort}[[2]bool{fn == ipvs.HashMH, port}]}
			index := map[netip.Addr]int{}
			for i, a := range reals {
				r := netip.AddrPortFrom(a, 8080)
				index[a] = i
				svc.Targets = append(svc.Targets, Target{Real: r,
					Fwd: Action{DstMAC: rsMAC, SrcMAC: outMAC, Dst: r, In: loIndex, Out: outIndex, DecTTL: true, MTU: 1500, Slot: uint32(2 * i)}})
			}
			for _, d := range table {
				svc.Seq = append(svc.Seq, index[d.Addr])
			}
			if err := f.SetServices([]Service{svc}); err != nil {
				t.Fatal(err)
			}
			seen := map[netip.Addr]int{}
			for i := range 300 {
				var src netip.AddrPort
				if c.six {
					src = netip.AddrPortFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 1, 15: byte(i), 14: byte(i * 7)}), uint16(1024+i*211))
				} else {
					src = netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, byte(i * 13), byte(i)}), uint16(1024+i*211))
				}
				want := h.(ipvs.Scheduler).Pick(s, &ipvs.Flow{Src: src, Dst: vipAP})
				var fr []byte
				if c.proto == frame.ProtoTCP {
					fr = frametest.TCPSyn(src, vipAP, frametest.WithDstMAC(hostMAC))
				} else {
					fr = frametest.UDP(src, vipAP, []byte("q"), frametest.WithDstMAC(hostMAC))
				}
				ret, out := run(t, f.tcx, fr)
				if ret != tcActRedirect {
					t.Fatalf("client %v: verdict %d, want redirect", src, ret)
				}
				frametest.Check(t, out, frametest.DstAddr(want.Addr), frametest.SumsOK())
				seen[want.Addr]++
				if i%50 == 49 {
					f.NewFlows(func(NewFlow) {}) // keep the ring from filling
					if err := f.Flush(); err != nil {
						t.Fatal(err)
					}
					if err := f.SetServices([]Service{svc}); err != nil {
						t.Fatal(err)
					}
				}
			}
			if len(seen) != len(reals) {
				t.Errorf("300 clients went to %d of %d servers: %v", len(seen), len(reals), seen)
			}
			t.Log(fmt.Sprint(seen))
		})
	}
}
