package dataplane

import (
	"net/netip"

	"lvs/conntrack"
	"lvs/frame"
	"lvs/ipvs"
)

// fromReal handles an IPv4 frame to an address lvsd does not own: a NAT
// reply from a real server (rewritten to come from the VIP and sent to the
// client's side), an ICMP error a real server sent about a NATed flow, or
// anything else, which is left to the kernel.
func (w *Worker) fromReal(f []byte, m Meta, st *State, now ipvs.Tick) Verdict {
	p := &w.p
	switch p.Proto {
	case frame.ProtoTCP, frame.ProtoUDP:
		if p.FragOffset != 0 {
			c, why, ok := w.rfrags.laterFragment(p, now)
			switch {
			case ok:
				return w.reply(f, m, st, c, c.Virtual(), nil)
			case why == DropFragment:
				return Pass // not a datagram of a flow lvsd forwards
			}
			return w.C.drop(why)
		}
		if w.badL4Checksum(f, m) { // malformed.go
			return w.C.drop(DropBadL4Checksum)
		}
		k := conntrack.ReplyKey{Proto: ipvs.Proto(p.Proto), Real: p.Src, Client: p.Dst}
		c, ok := w.d.CT.Out(k, conntrack.TCPFlags(p.Flags), now)
		if !ok {
			return w.masqOut(f, m, st, now) // masq.go
		}
		w.d.leaveFast(c)
		if c.Method() != ipvs.Masq {
			return Pass
		}
		if p.MoreFrags {
			w.rfrags.put(keyOf(p), c, p.End-p.L4, now)
		}
		if st.NAT != nil {
			f, m = w.ftpOut(f, m, st, c, now) // ftp.go
		}
		return w.reply(f, m, st, c, c.Virtual(), nil)
	case frame.ProtoICMP:
		if !p.ICMPError || !p.InnerPorts {
			return Pass
		}
		if w.badL4Checksum(f, m) {
			return w.C.drop(DropBadL4Checksum)
		}
		// The quote is the client's packet as the real server got it:
		// client → RIP:rport (ip_vs_out_icmp).
		k := conntrack.ReplyKey{Proto: ipvs.Proto(p.InnerProto), Real: p.InnerDst, Client: p.InnerSrc}
		c, ok := w.d.CT.LookupReply(k)
		if !ok || c.Method() != ipvs.Masq {
			return Pass
		}
		return w.reply(f, m, st, c, netip.AddrPortFrom(c.Virtual().Addr(), 0), &c)
	}
	return Pass
}

// reply rewrites a frame from a real server to come from the virtual side
// and sends it to the client's MAC through the port the client's packets
// came in on. For an ICMP error (inner != nil) the outer source becomes the
// VIP and the quoted destination VIP:vport.
func (w *Worker) reply(f []byte, m Meta, st *State, c conntrack.Conn, src netip.AddrPort, inner *conntrack.Conn) Verdict {
	p := &w.p
	out, mac, ok := w.nextHop(st, c.Client().Addr())
	if !ok {
		return w.C.drop(DropNoNeigh)
	}
	port := w.d.Ports[out]
	big, df := w.oversize(f, m, out)
	if df {
		w.icmpErrorFrom(f, frame.ICMPDestUnreachable, frame.ICMPFragNeeded, port.MTU, w.in.Addr)
		return w.C.drop(DropTooBig)
	}
	if !frame.IPv4(f[p.L3:p.End]).DecTTL() {
		w.icmpErrorFrom(f, frame.ICMPTimeExceeded, 0, 0, w.in.Addr)
		return w.C.drop(DropTTL)
	}
	if inner != nil {
		p.SetSrc(f, src)
		p.SetInnerDst(f, inner.Virtual())
	} else {
		w.offer(st, c, conntrack.DirOutput, src, p.Dst, out, mac) // fast.go
		p.SetSrc(f, src)
	}
	Ethernet(f).SetDst(mac)
	Ethernet(f).SetSrc(port.MAC)
	if big {
		return w.sendFragments(f, st, c, nil, out, false) // fragout.go
	}
	w.count(st, c, nil, false, p.End-p.L3)
	w.emit(out, f, m)
	return Forward
}

// icmpToVirtual forwards an ICMP error sent to a VIP about one of lvsd's
// replies (for example "fragmentation needed" from the client's path) to
// the real server that sent the original, as ip_vs_in_icmp: the outer
// destination becomes the RIP and the quoted source RIP:rport.
func (w *Worker) icmpToVirtual(f []byte, st *State) Verdict {
	p := &w.p
	if !p.InnerPorts {
		return w.C.drop(DropICMPError)
	}
	// The quote is lvsd's reply: VIP:vport → client.
	k := conntrack.Key{Proto: ipvs.Proto(p.InnerProto), Client: p.InnerDst, Virtual: p.InnerSrc}
	c, ok := w.d.CT.Lookup(k)
	if !ok {
		return w.icmpToMasq(f, st) // masq.go
	}
	if c.Method() != ipvs.Masq {
		return w.C.drop(DropICMPError) // direct and tunnelled replies do not pass lvsd
	}
	out, mac, ok := w.nextHop(st, c.Real().Addr())
	if !ok {
		return w.C.drop(DropNoNeigh)
	}
	port := w.d.Ports[out]
	if !frame.IPv4(f[p.L3:p.End]).DecTTL() {
		return w.C.drop(DropTTL)
	}
	p.SetDst(f, netip.AddrPortFrom(c.Real().Addr(), 0))
	p.SetInnerSrc(f, c.Real())
	Ethernet(f).SetDst(mac)
	Ethernet(f).SetSrc(port.MAC)
	w.emit(out, f, Meta{})
	return Forward
}

// icmpErrorFrom answers the frame being processed with an ICMP error from
// address src (the router's own address on the port), when it has one.
func (w *Worker) icmpErrorFrom(f []byte, typ, code uint8, mtu int, src netip.Addr) {
	if !src.IsValid() {
		return
	}
	b := w.buf()
	if b == nil {
		return
	}
	if n := frame.PutICMPError(b, f, &w.p, typ, code, uint16(mtu), src, w.in.MAC); n > 0 {
		w.emit(w.in.Index, b[:n], Meta{})
	}
}
