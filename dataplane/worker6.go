package dataplane

import (
	"net/netip"

	"lvs/conntrack"
	"lvs/frame"
	"lvs/ipvs"
)

// The IPv6 packet path: IPVS's semantics for IPv6 services, as the IPv4
// path (virtual.go, reply.go) has them for IPv4. A client's datagram to an
// owned address is scheduled by the connection table and forwarded by the
// service's method — NAT66 (the destination rewritten to the real server,
// the hop limit decremented), direct routing (direct.go) or IPv6-in-IPv6
// (tunnel6.go); a real server's reply is rewritten to come from the VIP
// (nat6.go). Unlike an IPv4 router, an IPv6 one never fragments: a
// datagram larger than the egress MTU is answered with packet too big
// (RFC 8200 §5). Neighbour Discovery is lvsd's own (ndp.go). Established
// NAT66 and direct-routing flows are offered to the eBPF fast path as
// IPv4 ones are (fast6.go). Masquerading and the FTP helper are masq6.go's.

// worker6 is a worker's IPv6 state: the fragment tables, and the next hop
// of the frame being finished for a neighbour being resolved.
type worker6 struct {
	frags  fragTable6 // client datagrams whose first fragment went by
	rfrags fragTable6 // real servers' datagrams likewise
	hop    [16]byte   // set by miss6, read by hold (neighqueue.go)
}

// process6 decides one IPv6 frame.
func (w *Worker) process6(f []byte, m Meta, st *State, now ipvs.Tick) Verdict {
	p := &w.p
	if p.Tagged {
		return Pass // VLAN-tagged frames are not forwarded yet: the kernel keeps them
	}
	if p.Proto == frame.ProtoICMPv6 && (p.ICMPType == frame.ICMPv6NeighborSolicit || p.ICMPType == frame.ICMPv6NeighborAdvert) {
		return w.neighbor6(f, st) // ndp.go
	}
	dst := p.Dst.Addr()
	if dst.IsMulticast() || dst.IsLinkLocalUnicast() || p.Src.Addr().IsLinkLocalUnicast() {
		return Pass // the link's own traffic (router advertisements, MLD): the kernel's
	}
	p.Partial = m.Flags&NeedsCsum != 0
	d16 := dst.As16()
	if _, ok := st.Owned.Port6(d16); ok {
		return w.toOwned6(f, m, st, now)
	}
	if st.Local6[d16] {
		return Pass
	}
	return w.fromReal6(f, m, st, now) // nat6.go
}

// toOwned6 handles an IPv6 frame to an address lvsd owns: a virtual
// service's traffic, a ping, an ICMPv6 error about a reply, or a packet for
// no service (answered with port unreachable, as IPVS does).
func (w *Worker) toOwned6(f []byte, m Meta, st *State, now ipvs.Tick) Verdict {
	p := &w.p
	if p.FragOffset != 0 {
		c, why, ok := w.six.frags.later(p, now)
		if !ok {
			return w.C.drop(why)
		}
		return w.forward6(f, m, st, c, nil)
	}
	if w.badL4Checksum(f, m) { // malformed.go
		return w.C.drop(DropBadL4Checksum)
	}
	proto := ipvs.Proto(p.Proto)
	var svc *ipvs.Service
	mark := st.Class.Mark6(p, w.in.Index)
	if mark != 0 {
		svc = st.Table.LookupMark6(mark)
	}
	if svc == nil && (proto == ipvs.TCP || proto == ipvs.UDP) {
		svc = st.Table.Lookup(proto, p.Dst.Addr(), p.Dst.Port())
	}
	if svc == nil {
		if v, ok := w.masqIn(f, m, st, now); ok { // masq.go
			return v
		}
		return w.noService6(f, st)
	}
	key := conntrack.Key{Proto: proto, Client: p.Src, Virtual: p.Dst}
	fl := conntrack.TCPFlags(p.Flags)
	c, v := w.d.CT.In(key, fl, now)
	w.d.leaveFast(c) // a FIN or RST takes the flow back from the fast path (fast.go)
	switch v {
	case conntrack.Drop:
		return w.C.drop(DropDestGone)
	case conntrack.Miss:
		var status conntrack.Status
		c, status = w.d.CT.Schedule(svc, key, mark, fl, now)
		switch status {
		case conntrack.Scheduled:
			w.learnClient6(st, f)
		case conntrack.NoDest, conntrack.PortMismatch:
			if status == conntrack.PortMismatch || !st.QuietNoDest { // virtual.go
				w.icmp6Error(f, frame.ICMPv6DestUnreachable, frame.ICMPv6PortUnreachable, 0, p.Dst.Addr())
			}
			return w.C.drop(DropNoDest)
		case conntrack.TableFull:
			return w.C.drop(DropTableFull)
		default:
			return w.C.drop(DropNoConn)
		}
	}
	if p.MoreFrags {
		w.six.frags.put(keyOf6(p), c, firstEnd(p), now)
	}
	if st.NAT != nil {
		m = w.ftpIn6(f, m, st, c, now) // masq6.go
	}
	return w.forward6(f, m, st, c, svc)
}

// forward6 sends a client's IPv6 frame to the real server of its
// connection.
func (w *Worker) forward6(f []byte, m Meta, st *State, c conntrack.Conn, svc *ipvs.Service) Verdict {
	p := &w.p
	a, ok := w.d.CT.Addrs(c) // the 16-byte addresses live in the table
	if !ok {
		return w.C.drop(DropDestGone)
	}
	if a.Real.Addr().Is4() {
		return w.tunnel6in4(f, m, st, c, svc, a) // tunnel46.go: an IPv4 real server, tunnelled only
	}
	out, mac, ok := w.nextHop6(st, a.Real.Addr())
	if !ok {
		return w.C.drop(DropNoNeigh)
	}
	port := w.d.Ports[out]
	switch c.Method() {
	case ipvs.Masq:
		if w.tooBig6(m, out, 0) {
			return w.packetTooBig6(f, port.MTU, p.Dst.Addr())
		}
		if !frame.IPv6(f[p.L3:p.End]).DecHopLimit() {
			w.icmp6Error(f, frame.ICMPv6TimeExceeded, frame.ICMPv6HopLimitExceeded, 0, p.Dst.Addr())
			return w.C.drop(DropTTL)
		}
		w.offer6(st, c, a, conntrack.DirInput, p.Src, a.Real, out, mac) // fast6.go
		w.offerSynAck6(st, c, a, out)
		p.SetDst(f, a.Real)
		Ethernet(f).SetDst(mac)
		Ethernet(f).SetSrc(port.MAC)
	case ipvs.Route:
		if w.tooBig6(m, out, 0) {
			return w.packetTooBig6(f, port.MTU, p.Dst.Addr())
		}
		w.offer6(st, c, a, conntrack.DirInput, p.Src, p.Dst, out, mac)
		rewriteDirect(f, mac, port.MAC) // direct.go: the datagram is left as the client sent it
	case ipvs.Tunnel:
		return w.tunnel6(f, m, st, c, svc, a, out, mac) // tunnel6.go
	default:
		return w.C.drop(DropUnsupported)
	}
	w.count(st, c, svc, true, p.End-p.L3)
	w.emit(out, f, m)
	return Forward
}

// tooBig6 reports whether the frame being processed, not a GSO
// super-frame, is larger than port out's MTU less overhead bytes.
func (w *Worker) tooBig6(m Meta, out, overhead int) bool {
	p := &w.p
	return !m.IsGSO() && p.End-p.L3 > w.d.Ports[out].MTU-overhead
}

// packetTooBig6 answers the frame being processed with packet too big
// carrying mtu, from src, and drops it: an IPv6 router never fragments
// (RFC 8200 §5, RFC 4443 §3.2).
func (w *Worker) packetTooBig6(f []byte, mtu int, src netip.Addr) Verdict {
	w.icmp6Error(f, frame.ICMPv6PacketTooBig, 0, uint32(mtu), src)
	return w.C.drop(DropTooBig)
}

// nextHop6 is nextHop for an IPv6 address. A next hop without a MAC yet is
// asked for (a neighbour solicitation goes out from the control loop) and
// the frame, finished with pendingMAC6, waits for it (neighqueue.go).
func (w *Worker) nextHop6(st *State, addr netip.Addr) (int, frame.MAC, bool) {
	out, hop, ok := st.Routes.Lookup6(addr)
	if !ok {
		return 0, frame.MAC{}, false
	}
	h := hop.As16()
	if mac, ok := w.d.Ports[out].Neigh.Lookup6(h); ok {
		return out, mac, true
	}
	return out, pendingMAC6, w.miss6(out, h) // neighqueue.go
}

// noService6 answers an IPv6 frame to an owned address that no service
// takes: an echo request gets its reply, TCP and UDP get port
// unreachable, an ICMPv6 error about a reply goes to its real server, the
// rest is dropped.
func (w *Worker) noService6(f []byte, st *State) Verdict {
	p := &w.p
	switch p.Proto {
	case frame.ProtoICMPv6:
		if p.ICMPError {
			return w.icmpToVirtual6(f, st) // nat6.go
		}
		if p.ICMPType == frame.ICMPv6Echo && frame.ToEchoReply(f, p, 64) {
			Ethernet(f).SetSrc(w.in.MAC)
			w.emit(w.in.Index, f, Meta{})
			return Reply
		}
	case frame.ProtoTCP, frame.ProtoUDP:
		w.icmp6Error(f, frame.ICMPv6DestUnreachable, frame.ICMPv6PortUnreachable, 0, p.Dst.Addr())
	}
	return w.C.drop(DropNoService)
}

// icmp6Error answers the frame being processed with an ICMPv6 error from
// src back out of the port it came in on. Nothing is sent without a
// source address, or where RFC 4443 forbids an error (frame.PutICMPv6Error).
func (w *Worker) icmp6Error(f []byte, typ, code uint8, param uint32, src netip.Addr) {
	if !src.IsValid() {
		return
	}
	b := w.buf()
	if b == nil {
		return
	}
	if n := frame.PutICMPv6Error(b, f, &w.p, typ, code, param, src, w.in.MAC); n > 0 {
		w.emit(w.in.Index, b[:n], Meta{})
	}
}

// learnClient6 is learnClient for an IPv6 client on the segment the frame
// came from.
func (w *Worker) learnClient6(st *State, f []byte) {
	src := w.p.Src.Addr()
	port, hop, ok := st.Routes.Lookup6(src)
	if !ok || port != w.in.Index || hop != src || w.in.Neigh == nil {
		return
	}
	mac := Ethernet(f).Src()
	if known, ok := w.in.Neigh.Lookup6(src.As16()); ok && known == mac {
		return
	}
	w.in.Neigh.LearnAny(src, mac, w.now)
}
