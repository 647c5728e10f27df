package dataplane_test

import (
	"net/netip"
	"testing"
	"time"

	"lvs/dataplane"
	"lvs/frame"
	"lvs/internal/frametest"
	"lvs/ipvs"
	"lvs/nat"
)

// An FTP helper's data connection is counted on the destination and
// service of its control connection, as IPVS binds an FTP data connection
// to the control connection's destination, and listed by the NAT table
// with its state.
func TestFTPDataConnectionCountedOnItsRealServer(t *testing.T) {
	s := newSite(t, "rr")
	withNAT(t, s, &dataplane.NAT{FTP: []netip.AddrPort{ftpCtl}})
	ftpSession(t, s) // the control connection goes to rip1
	svc := s.table.Lookup(ipvs.TCP, vip, 21)
	d := svc.Dest(rip1, 21)
	s.run(0, frametest.TCP(client, ftpCtl, frame.ACK|frame.PSH, []byte("PORT 203,0,113,7,156,65\r\n"),
		frametest.WithSrcMAC(gwMAC), frametest.WithSeq(1001)))
	conns0, svcConns0 := d.C.Conns.Load(), svc.C.Conns.Load()
	in0, svcIn0 := d.C.InPkts.Load(), svc.C.InPkts.Load()
	active0 := d.C.Active.Load() // the control connection
	syn := frametest.TCP(rip1Data, clientDat, frame.SYN, nil, frametest.WithSrcMAC(rip1MAC), frametest.WithDstMAC(privMAC))
	if out := s.run(1, syn); len(out[0]) != 1 {
		t.Fatalf("active data SYN: %d frames out, want 1", len(out[0]))
	}
	synack := frametest.TCP(clientDat, netip.AddrPortFrom(vip, 20), frame.SYN|frame.ACK, nil, frametest.WithSrcMAC(gwMAC), frametest.WithDstMAC(pubMAC))
	if out := s.run(0, synack); len(out[1]) != 1 {
		t.Fatalf("SYN-ACK back: %d frames in, want 1", len(out[1]))
	}
	for _, c := range []struct {
		name           string
		c              *ipvs.Counters
		conns0, inPkt0 uint64
	}{{"dest rip1:21", d.C, conns0, in0}, {"service VIP:21", svc.C, svcConns0, svcIn0}} {
		if got := c.c.Conns.Load() - c.conns0; got != 1 {
			t.Errorf("%s: %d connections added by the data connection, want 1", c.name, got)
		}
		if got := c.c.InPkts.Load() - c.inPkt0; got != 1 {
			t.Errorf("%s: %d packets in added by the data connection, want 1", c.name, got)
		}
		if got := c.c.OutPkts.Load(); got != 1 {
			t.Errorf("%s: OutPkts = %d, want 1 (the data SYN)", c.name, got)
		}
		if got, want := c.c.OutBytes.Load(), uint64(frametest.Decode(syn).IP.Length); got != want {
			t.Errorf("%s: OutBytes = %d, want %d (the data SYN's IP length)", c.name, got, want)
		}
	}
	if got := svc.Dest(rip2, 21).C.Conns.Load(); got != 0 {
		t.Errorf("rip2 counted %d connections", got)
	}
	if got := d.C.Active.Load() - active0; got != 1 {
		t.Errorf("rip1:21 ActiveConn grew by %d with the data connection, want 1 (as ip_vs_ftp's)", got)
	}
	var es []nat.Entry
	s.d.NAT.Entries(s.d.Tick(time.Now()), func(e nat.Entry) bool { es = append(es, e); return true })
	if len(es) != 1 || es[0].Inner != rip1Data || es[0].Peer != clientDat || es[0].Outer != netip.AddrPortFrom(vip, 20) ||
		es[0].State.String() != "ESTABLISHED" || es[0].Left <= 0 {
		t.Errorf("NAT entries = %+v, want rip1:20 ↔ %v as VIP:20, ESTABLISHED", es, clientDat)
	}
}

// A masqueraded connection (no control connection to follow) is counted
// on its real server in the first service of its public address.
func TestMasqueradedFlowCountedOnItsRealServer(t *testing.T) {
	s := newSite(t, "rr")
	withNAT(t, s, &dataplane.NAT{Masq: guideMasq()})
	d := s.table.Lookup(ipvs.TCP, vip, 80).Dest(rip1, 8080)
	syn := frametest.TCP(rip1Data, clientDat, frame.SYN, nil, frametest.WithSrcMAC(rip1MAC), frametest.WithDstMAC(privMAC))
	if out := s.run(1, syn); len(out[0]) != 1 {
		t.Fatalf("masqueraded SYN: %d frames out, want 1", len(out[0]))
	}
	if c, out, act := d.C.Conns.Load(), d.C.OutPkts.Load(), d.C.Active.Load(); c != 1 || out != 1 || act != 1 {
		t.Errorf("rip1 in VIP:80: Conns %d OutPkts %d ActiveConn %d, want 1, 1 and 1", c, out, act)
	}
}
