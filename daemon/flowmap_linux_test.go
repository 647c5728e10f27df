package daemon_test

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"lvs/internal/testutil"
)

// flowMaps reads the fast path's IPv4 flow map size and how many times
// lvsd grew it from an lvsd.stats dump; -1, -1 without the line.
func flowMaps(stats string) (entries, grown int) {
	for _, l := range strings.Split(stats, "\n") {
		var six int
		if _, err := fmt.Sscanf(strings.TrimSpace(l), "fast path flow maps: %d entries, IPv6 %d, grown %d times",
			&entries, &six, &grown); err == nil {
			return entries, grown
		}
	}
	return -1, -1
}

// installsAndCreated reads, from an lvsd.stats dump, the flow directions
// handed to the fast path (a flow the program scheduled counts once, when
// lvsd adopts it) and the connections the table created.
func installsAndCreated(stats string) (installs, created int) {
	for _, l := range strings.Split(stats, "\n") {
		l = strings.TrimSpace(l)
		if i := strings.Index(l, "fast path installs "); i >= 0 {
			fmt.Sscanf(l[i:], "fast path installs %d", &installs)
		}
		if i := strings.Index(l, "created "); strings.HasPrefix(l, "connection table:") && i >= 0 {
			fmt.Sscanf(l[i:], "created %d", &created)
		}
	}
	return installs, created
}

// TestIntegrationFlowMapGrows runs the real lvsd on the NAT site with a
// flow map of 2,048 connections at start (--flow-map-start) growing to
// 8,192 (--flow-map) and opens 600 UDP flows through the VIP (a NAT flow
// takes two entries): lvsd grows the map once 256 connections could fill
// an eighth of it, while the flows go on exchanging datagrams, none of
// which may be lost; then 900 more flows, and a datagram on each of the
// 1,500 comes back with the Go workers forwarding almost none of them,
// and every flow kept its entries: a UDP flow whose entries were lost
// would be scheduled again by the program (its echo still comes back,
// from that pick) and adopted again by lvsd, which the count of flows
// adopted shows. The kernel's LRU map evicts before it is full (each CPU
// keeps up to 128 free entries of its own, and one that runs out evicts
// when the others hold the rest), so the flows stay well below that: only
// the growing could lose one.
func TestIntegrationFlowMapGrows(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped in -short mode: builds lvsd and runs a NAT site in namespaces")
	}
	testutil.RequireRoot(t)
	testutil.RequireCommand(t, "ip", "nft")
	bin := buildLVSD(t)
	s := newNATSite(t)
	s.writeConf(t, siteConf{sched: "wrr"})
	s.parent, s.args = t, []string{"--flow-map-start", "2048", "--flow-map", "8192"}
	s.startLVSD(t, bin)
	s.waitReady(t)
	if n, _ := flowMaps(s.lvsdStats()); n != 4096 {
		t.Fatalf("flow map of %d entries at start, want 4096 (--flow-map-start 2048)", n)
	}
	const first, flows = 600, 1500
	conns := make([]*net.UDPConn, 0, flows)
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	open := func(n int) {
		var err error
		s.lab.Do(s.far, func() {
			for range n {
				var c *net.UDPConn
				if c, err = net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr(vip), echoPort))); err != nil {
					return
				}
				conns = append(conns, c)
			}
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	// exchange sends one datagram on each flow from the first to the last
	// and counts the echoes that did not come back.
	sent := 0
	exchange := func(from, to int) (lost int) {
		for i, c := range conns[from:to] {
			sent++
			msg := []byte(fmt.Sprintf("flow %d datagram %d", from+i, sent))
			if got, err := udpExchange(c, msg); err != nil || string(got) != string(msg) {
				t.Logf("%s: flow %d (%v) lost datagram %d: %v", time.Now().Format("15:04:05.000"), from+i, c.LocalAddr(), sent, err)
				lost++
			}
		}
		return lost
	}
	// The UDP service's real servers come up after lvsd is ready: six
	// flows in a row echoed, two rounds of the rr cycle, say they are.
	s.waitFor(t, "six UDP flows echoed through the VIP", 15*time.Second, func() bool {
		open(6)
		defer func() {
			for _, c := range conns {
				c.Close()
			}
			conns = conns[:0]
		}()
		return exchange(0, 6) == 0
	})
	open(first)
	lost := exchange(0, first)
	// The first flows go on while lvsd grows the map (it looks five
	// times a second).
	s.waitFor(t, "the flow map to grow", 15*time.Second, func() bool {
		lost += exchange(0, first)
		_, grown := flowMaps(s.lvsdStats())
		return grown >= 1
	})
	if lost > 0 {
		t.Errorf("%d datagrams of the first %d flows lost before and while the map grew", lost, first)
	}
	open(flows - first)
	if lost := exchange(first, flows); lost > 0 {
		t.Errorf("%d of the %d flows opened after the growing lost their first datagram", lost, flows-first)
	}
	stats := s.lvsdStats()
	n, grown := flowMaps(stats)
	if n != 16384 || grown != 1 {
		t.Errorf("flow map of %d entries grown %d times, want 16384 grown once", n, grown)
	}
	before := forwards(stats)
	if lost := exchange(0, flows); lost > 0 {
		t.Errorf("after the growing: %d of %d flows lost their echo", lost, flows)
	}
	// Both directions of every flow are in the fast path: the workers
	// forward at most a few stragglers of the 3,000 frames.
	if fwd := forwards(s.lvsdStats()) - before; fwd > flows/20 {
		t.Errorf("the workers forwarded %d frames of the last round's %d: flows left the fast path when it grew", fwd, 2*flows)
	}
	if installs, created := installsAndCreated(s.lvsdStats()); installs != created {
		t.Errorf("%d flows adopted from the fast path for %d connections created: %d were scheduled again after losing their entries",
			installs, created, installs-created)
	}
}
