package dataplane

import (
	"net/netip"

	"lvs/conntrack"
	"lvs/frame"
	"lvs/ipvs"
	"lvs/nat"
)

// IPv6 masquerading and the FTP helper for IPv6 NAT services: what masq.go
// and ftp.go do for IPv4, on the IPv6 path (worker6.go, nat6.go). The
// flows live in the same nat.Table (its keys hold IPv6 ends), the rules
// are the IPv6 ones of the same nat.Masquerade (ip6tables-save MASQUERADE
// lines, lvs.cf masquerade blocks with IPv6 addresses), and the FTP
// helper reads EPRT |2| commands and 229 (EPSV) replies, which carry no
// address to rewrite (RFC 2428), as ip_vs_ftp does for AF_INET6. As an
// IPv6 router never fragments, a masqueraded datagram larger than the
// egress MTU is answered with packet too big.

// reserved6 is Reserved (masq.go) for an IPv6 outer address.
func (st *State) reserved6(proto uint8, peer, outer netip.AddrPort) bool {
	if st.Table.Lookup(ipvs.Proto(proto), outer.Addr(), outer.Port()) != nil {
		return true
	}
	in, _ := st.Owned.Port6(outer.Addr().As16())
	p := frame.Parsed{Kind: frame.KindIPv6, Proto: proto, Src: peer, Dst: outer}
	mark := st.Class.Mark6(&p, in)
	return mark != 0 && st.Table.LookupMark6(mark) != nil
}

// masqOut6 is masqOut for an IPv6 frame from the private side that belongs
// to no virtual service's connection.
func (w *Worker) masqOut6(f []byte, m Meta, st *State, now ipvs.Tick) Verdict {
	p := &w.p
	if st.NAT == nil || p.IsFragment() {
		return Pass
	}
	fl, ok := w.d.NAT.LookupOut(p.Proto, p.Src, p.Dst, uint8(p.Flags), now)
	if !ok {
		if !opens(p) {
			return Pass
		}
		var err error
		if fl, err = w.newMasq6(st, now); err != nil {
			if err == errNotCovered {
				return Pass
			}
			return w.C.drop(DropTableFull)
		}
	}
	if _, owned := st.Owned.Port6(fl.Outer.Addr().As16()); !owned {
		return Pass // the standby router: its peer masquerades
	}
	return w.natSend6(f, m, st, fl.Peer.Addr(), fl.Outer, nat.Out, fl.Stats)
}

// newMasq6 is newMasq for an IPv6 frame.
func (w *Worker) newMasq6(st *State, now ipvs.Tick) (nat.Flow, error) {
	p := &w.p
	out, _, ok := st.Routes.Lookup6(p.Dst.Addr())
	if !ok || out == w.in.Index {
		return nat.Flow{}, errNotCovered
	}
	if len(st.NAT.FTP) > 0 && p.Proto == frame.ProtoTCP {
		// The active data connection an EPRT announced: from [VIP]:20.
		if outer, cs, ok := w.d.FTP.TakeActive(p.Src.Addr(), p.Dst, now); ok {
			fl, err := w.d.NAT.Insert(nat.Flow{Proto: p.Proto, Inner: p.Src, Peer: p.Dst, Outer: outer, Stats: cs}, now)
			if err != nil {
				fl, err = w.d.NAT.Add(p.Proto, p.Src, p.Dst, outer.Addr(), outer.Port(), cs, st, now)
			}
			return fl, err
		}
	}
	if !st.NAT.Masq.Match(p.Proto, p.Src, p.Dst, out) {
		return nat.Flow{}, errNotCovered
	}
	addr, ok := st.NAT.Masq.Source(p.Src.Addr(), out)
	if !ok {
		return nat.Flow{}, errNotCovered
	}
	return w.d.NAT.Add(p.Proto, p.Src, p.Dst, addr, 0, st.natStats(addr, p.Src.Addr()), st, now)
}

// masqIn6 is masqIn for an IPv6 frame to an owned address that no virtual
// service takes: a reply of a masqueraded flow, or the first packet of a
// passive FTP data connection a 229 reply announced.
func (w *Worker) masqIn6(f []byte, m Meta, st *State, now ipvs.Tick) (Verdict, bool) {
	p := &w.p
	if st.NAT == nil || p.Proto != frame.ProtoTCP && p.Proto != frame.ProtoUDP || p.IsFragment() {
		return 0, false
	}
	fl, ok := w.d.NAT.LookupIn(p.Proto, p.Src, p.Dst, uint8(p.Flags), now)
	if !ok {
		if len(st.NAT.FTP) == 0 || p.Proto != frame.ProtoTCP || !opens(p) {
			return 0, false
		}
		real, cs, ok := w.d.FTP.TakePassive(p.Src.Addr(), p.Dst, now)
		if !ok {
			return 0, false
		}
		var err error
		if fl, err = w.d.NAT.Insert(nat.Flow{Proto: p.Proto, Inner: real, Peer: p.Src, Outer: p.Dst, Stats: cs}, now); err != nil {
			return w.C.drop(DropTableFull), true
		}
		w.learnClient6(st, f)
	}
	return w.natSend6(f, m, st, fl.Inner.Addr(), fl.Inner, nat.In, fl.Stats), true
}

// natSend6 is natSend for an IPv6 frame: it rewrites the source (dir Out)
// or the destination (dir In) to `to`, decrements the hop limit and sends
// the frame to the next hop towards dst. lvsd's own errors about it come
// from the router's address towards a real server, from the VIP (the
// frame's destination) towards the public side.
func (w *Worker) natSend6(f []byte, m Meta, st *State, dst netip.Addr, to netip.AddrPort, dir nat.Dir, cs nat.Stats) Verdict {
	p := &w.p
	src := p.Dst.Addr()
	if dir == nat.Out {
		src = w.in.Addr6
	}
	out, mac, ok := w.nextHop6(st, dst)
	if !ok {
		return w.C.drop(DropNoNeigh)
	}
	port := w.d.Ports[out]
	if w.tooBig6(m, out, 0) {
		return w.packetTooBig6(f, port.MTU, src)
	}
	if !frame.IPv6(f[p.L3:p.End]).DecHopLimit() {
		w.icmp6Error(f, frame.ICMPv6TimeExceeded, frame.ICMPv6HopLimitExceeded, 0, src)
		return w.C.drop(DropTTL)
	}
	if dir == nat.Out {
		p.SetSrc(f, to)
	} else {
		p.SetDst(f, to)
	}
	Ethernet(f).SetDst(mac)
	Ethernet(f).SetSrc(port.MAC)
	countNAT(cs, dir, p.End-p.L3)
	w.emit(out, f, m)
	return Forward
}

// icmpToMasq6 is icmpToMasq for an ICMPv6 error sent to a VIP about a
// packet of a masqueraded IPv6 flow: it goes on to the real server, the
// outer destination and the quoted source translated back.
func (w *Worker) icmpToMasq6(f []byte, st *State) Verdict {
	p := &w.p
	if st.NAT == nil || p.InnerProto != frame.ProtoTCP && p.InnerProto != frame.ProtoUDP {
		return w.C.drop(DropNoService)
	}
	// The quote is the translated packet: [VIP]:port → peer.
	fl, ok := w.d.NAT.FindIn(p.InnerProto, p.InnerDst, p.InnerSrc, w.d.Tick(w.now))
	if !ok {
		return w.C.drop(DropNoService)
	}
	out, mac, ok := w.nextHop6(st, fl.Inner.Addr())
	if !ok {
		return w.C.drop(DropNoNeigh)
	}
	port := w.d.Ports[out]
	if !frame.IPv6(f[p.L3:p.End]).DecHopLimit() {
		return w.C.drop(DropTTL)
	}
	p.SetDst(f, netip.AddrPortFrom(fl.Inner.Addr(), 0))
	p.SetInnerSrc(f, fl.Inner)
	Ethernet(f).SetDst(mac)
	Ethernet(f).SetSrc(port.MAC)
	w.emit(out, f, Meta{})
	return Forward
}

// ftpIn6 is ftpIn for a client's IPv6 segment of connection c to the
// virtual address p.Dst.
func (w *Worker) ftpIn6(f []byte, m Meta, st *State, c conntrack.Conn, now ipvs.Tick) Meta {
	p := &w.p
	if p.Proto != frame.ProtoTCP || p.IsFragment() || c.Method() != ipvs.Masq || !st.NAT.helper(p.Dst) {
		return m
	}
	a, ok := w.d.CT.Addrs(c)
	if !ok {
		return m
	}
	return w.ftpClient(f, m, st, c, a, now) // ftp.go
}

// ftpOut6 is ftpOut for a real server's IPv6 segment of connection c.
func (w *Worker) ftpOut6(f []byte, m Meta, st *State, c conntrack.Conn, now ipvs.Tick) ([]byte, Meta) {
	p := &w.p
	if p.Proto != frame.ProtoTCP || p.IsFragment() || len(st.NAT.FTP) == 0 {
		return f, m
	}
	a, ok := w.d.CT.Addrs(c)
	if !ok || !st.NAT.helper(a.Virtual) {
		return f, m
	}
	return w.ftpServer(f, m, st, c, a, now) // ftp.go
}
