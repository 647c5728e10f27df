package daemon_test

import (
	"crypto/rand"
	"net"
	"net/netip"
	"testing"
)

func TestIntegrationDiagUDP(t *testing.T) {
	bin := buildLVSD(t)
	s := newNATSite(t)
	s.writeConf(t, siteConf{sched: "wrr"})
	s.startLVSD(t, bin)
	s.waitReady(t)
	lost := 0
	for i := 0; i < 60; i++ {
		var c *net.UDPConn
		var err error
		s.lab.Do(s.far, func() {
			c, err = net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr(vip), echoPort)))
		})
		if err != nil {
			t.Fatal(err)
		}
		c0 := startCapture(t, s.lab, s.router, "eth0")
		c1 := startCapture(t, s.lab, s.router, "eth1")
		cf := startCapture(t, s.lab, s.far, "eth0")
		size := 4000
		if i%2 == 0 {
			size = 5
		}
		msg := make([]byte, size)
		rand.Read(msg)
		_, tries, err := udpExchange(c, msg, 1)
		p0, p1, pf := c0.stop(), c1.stop(), cf.stop()
		c.Close()
		if err != nil {
			lost++
			t.Logf("exchange %d (%d bytes, try %d) lost: %v", i, size, tries, err)
			for name, ps := range map[string][]pkt{"r-eth0": p0, "r-eth1": p1, "far": pf} {
				for _, p := range ps {
					if p.proto == 17 || p.proto == 1 {
						t.Logf("  %s out=%v %v:%d > %v:%d frag=%v size=%d icmp=%d/%d", name, p.out, p.src, p.sport, p.dst, p.dport, p.frag, p.size, p.icmpType, p.icmpCode)
					}
				}
			}
		}
	}
	t.Logf("lost %d of 60", lost)
}
