package dataplane

import (
	"net/netip"

	"lvs/conntrack"
	"lvs/frame"
	"lvs/ipvs"
)

// fromReal6 handles an IPv6 frame to an address lvsd does not own: a
// NAT66 reply from a real server (rewritten to come from the VIP and sent
// to the client's side), a masqueraded connection (masq6.go), an ICMPv6
// error a real server sent about a NAT66 flow, or anything else, which is
// left to the kernel.
func (w *Worker) fromReal6(f []byte, m Meta, st *State, now ipvs.Tick) Verdict {
	p := &w.p
	switch p.Proto {
	case frame.ProtoTCP, frame.ProtoUDP:
		if p.FragOffset != 0 {
			c, why, ok := w.six.rfrags.later(p, now)
			if why == DropFragOverlap {
				return w.C.drop(why)
			}
			if !ok {
				return Pass
			}
			return w.reply6(f, m, st, c, false)
		}
		if w.badL4Checksum(f, m) { // malformed.go
			return w.C.drop(DropBadL4Checksum)
		}
		k := conntrack.ReplyKey{Proto: ipvs.Proto(p.Proto), Real: p.Src, Client: p.Dst}
		c, ok := w.d.CT.Out(k, conntrack.TCPFlags(p.Flags), now)
		if !ok {
			return w.masqOut(f, m, st, now) // masq.go
		}
		w.d.leaveFast(c) // fast.go
		if c.Method() != ipvs.Masq {
			return Pass
		}
		if p.MoreFrags {
			w.six.rfrags.put(keyOf6(p), c, firstEnd(p), now)
		}
		if st.NAT != nil {
			f, m = w.ftpOut6(f, m, st, c, now) // masq6.go
		}
		return w.reply6(f, m, st, c, false)
	case frame.ProtoICMPv6:
		if !p.ICMPError || !p.InnerPorts {
			return Pass
		}
		if w.badL4Checksum(f, m) {
			return w.C.drop(DropBadL4Checksum)
		}
		// The quote is the client's packet as the real server got it:
		// client → RIP:rport (ip_vs_out_icmp_v6).
		k := conntrack.ReplyKey{Proto: ipvs.Proto(p.InnerProto), Real: p.InnerDst, Client: p.InnerSrc}
		c, ok := w.d.CT.LookupReply(k)
		if !ok || c.Method() != ipvs.Masq {
			return Pass
		}
		return w.reply6(f, m, st, c, true)
	}
	return Pass
}

// reply6 rewrites a frame from a real server to come from the virtual
// side and sends it to the client's next hop. For an ICMPv6 error (icmp)
// the outer source becomes the VIP and the quoted destination VIP:vport,
// as ip_vs_nat_icmp_v6. Errors lvsd itself sends about the frame (packet
// too big, hop limit exceeded) go back to the real server from the
// router's own address on its port.
func (w *Worker) reply6(f []byte, m Meta, st *State, c conntrack.Conn, icmp bool) Verdict {
	p := &w.p
	a, ok := w.d.CT.Addrs(c)
	if !ok {
		return w.C.drop(DropDestGone)
	}
	out, mac, ok := w.nextHop6(st, a.Client.Addr())
	if !ok {
		return w.C.drop(DropNoNeigh)
	}
	port := w.d.Ports[out]
	if w.tooBig6(m, out, 0) {
		return w.packetTooBig6(f, port.MTU, w.in.Addr6)
	}
	if !frame.IPv6(f[p.L3:p.End]).DecHopLimit() {
		w.icmp6Error(f, frame.ICMPv6TimeExceeded, frame.ICMPv6HopLimitExceeded, 0, w.in.Addr6)
		return w.C.drop(DropTTL)
	}
	if icmp {
		p.SetSrc(f, netip.AddrPortFrom(a.Virtual.Addr(), 0))
		p.SetInnerDst(f, a.Virtual)
	} else {
		w.offer6(st, c, a, conntrack.DirOutput, a.Virtual, p.Dst, out, mac) // fast6.go
		p.SetSrc(f, a.Virtual)
	}
	Ethernet(f).SetDst(mac)
	Ethernet(f).SetSrc(port.MAC)
	w.count(st, c, nil, false, p.End-p.L3)
	w.emit(out, f, m)
	return Forward
}

// icmpToVirtual6 forwards an ICMPv6 error sent to a VIP about one of
// lvsd's replies (a packet too big from the client's path, say) to the
// real server that sent the original, as ip_vs_in_icmp_v6: the outer
// destination becomes the RIP and the quoted source RIP:rport.
func (w *Worker) icmpToVirtual6(f []byte, st *State) Verdict {
	p := &w.p
	if !p.InnerPorts {
		return w.C.drop(DropICMPError)
	}
	// The quote is lvsd's reply: VIP:vport → client.
	k := conntrack.Key{Proto: ipvs.Proto(p.InnerProto), Client: p.InnerDst, Virtual: p.InnerSrc}
	c, ok := w.d.CT.Lookup(k)
	if !ok {
		return w.icmpToMasq(f, st) // about a masqueraded flow, or dropped (masq.go)
	}
	if c.Method() != ipvs.Masq {
		return w.C.drop(DropICMPError) // direct and tunnelled replies do not pass lvsd
	}
	a, ok := w.d.CT.Addrs(c)
	if !ok {
		return w.C.drop(DropDestGone)
	}
	out, mac, ok := w.nextHop6(st, a.Real.Addr())
	if !ok {
		return w.C.drop(DropNoNeigh)
	}
	port := w.d.Ports[out]
	if !frame.IPv6(f[p.L3:p.End]).DecHopLimit() {
		return w.C.drop(DropTTL)
	}
	p.SetDst(f, netip.AddrPortFrom(a.Real.Addr(), 0))
	p.SetInnerSrc(f, a.Real)
	Ethernet(f).SetDst(mac)
	Ethernet(f).SetSrc(port.MAC)
	w.emit(out, f, Meta{})
	return Forward
}
