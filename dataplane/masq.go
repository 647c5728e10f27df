package dataplane

import (
	"errors"
	"net/netip"

	"lvs/conntrack"
	"lvs/frame"
	"lvs/ipvs"
	"lvs/nat"
)

// NAT is the part of State for translation beyond virtual services: the
// masquerade rules (the guide's `-j MASQUERADE` for connections the real
// servers open) and the virtual addresses whose NAT connections the FTP
// helper follows. It is immutable; nil means neither.
type NAT struct {
	Masq *nat.Masquerade
	// FTP lists the virtual address:ports (the control port, 21) of the
	// services with ftp_helper on.
	FTP []netip.AddrPort
}

// helper reports whether the FTP helper follows connections to virtual v.
func (n *NAT) helper(v netip.AddrPort) bool {
	if n == nil {
		return false
	}
	for _, a := range n.FTP {
		if a == v {
			return true
		}
	}
	return false
}

// Reserved says whether the VIP's port outer.Port() must not be given to a
// masqueraded flow with peer: a packet from peer to it would be taken by a
// virtual service (by address and port, or by firewall mark of its
// family). It implements nat.Reserved and does not allocate.
func (st *State) Reserved(proto uint8, peer, outer netip.AddrPort) bool {
	if st.Table.Lookup(ipvs.Proto(proto), outer.Addr(), outer.Port()) != nil {
		return true
	}
	p := frame.Parsed{Kind: frame.KindIPv4, Proto: proto, Src: peer, Dst: outer}
	if outer.Addr().Is6() {
		p.Kind = frame.KindIPv6
		in, _ := st.Owned.Port6(outer.Addr().As16())
		mark := st.Class.Mark6(&p, in)
		return mark != 0 && st.Table.LookupMark6(mark) != nil
	}
	in, _ := st.Owned.Port(outer.Addr().As4())
	mark := st.Class.Mark(&p, in)
	return mark != 0 && st.Table.LookupMark(mark) != nil
}

// nextHopOf is nextHop or nextHop6 (worker6.go), by the family of addr.
func (w *Worker) nextHopOf(st *State, addr netip.Addr) (int, frame.MAC, bool) {
	if addr.Is6() {
		return w.nextHop6(st, addr)
	}
	return w.nextHop(st, addr)
}

// opens reports whether the frame can open a flow: a UDP datagram, or a
// TCP SYN without ACK.
func opens(p *frame.Parsed) bool {
	return p.Proto == frame.ProtoUDP || p.Flags&(frame.SYN|frame.ACK|frame.RST) == frame.SYN
}

// masqOut handles a TCP/UDP frame from the private side that belongs to no
// virtual service's connection: a packet of a masqueraded flow, or the
// first packet of a new one that a masquerade rule (or an FTP helper
// expectation) covers. The source becomes the public address and the frame
// goes towards its destination. Anything else is left to the kernel. It
// serves both families.
func (w *Worker) masqOut(f []byte, m Meta, st *State, now ipvs.Tick) Verdict {
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
		if fl, err = w.newMasq(st, now); err != nil {
			if err == errNotCovered {
				return Pass
			}
			return w.C.drop(DropTableFull)
		}
	}
	if p.Kind == frame.KindIPv6 {
		if !st.owns6(fl.Outer.Addr()) {
			return Pass // the standby router: its peer masquerades
		}
	} else if _, owned := st.Owned.Port(fl.Outer.Addr().As4()); !owned {
		return Pass
	}
	return w.natSend(f, m, st, fl.Peer.Addr(), fl.Outer, nat.Out, fl.Stats)
}

// errNotCovered: no masquerade rule or helper expectation covers a frame.
var errNotCovered = errors.New("not masqueraded")

// newMasq adds the flow of a connection the frame opens, if an FTP helper
// expectation or a masquerade rule covers it (else errNotCovered).
func (w *Worker) newMasq(st *State, now ipvs.Tick) (nat.Flow, error) {
	p := &w.p
	var out int
	var ok bool
	if p.Kind == frame.KindIPv6 {
		out, _, ok = st.Routes.Lookup6(p.Dst.Addr())
	} else {
		out, _, ok = st.Routes.Lookup(p.Dst.Addr().As4())
	}
	if !ok || out == w.in.Index {
		return nat.Flow{}, errNotCovered
	}
	if len(st.NAT.FTP) > 0 && p.Proto == frame.ProtoTCP {
		// The active data connection a PORT/EPRT announced: from VIP:20.
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

// natStats finds the counters a masqueraded flow of real server inner,
// seen by its peer as coming from outer, is counted on: the destination
// with inner's address in the first service of the VIP outer that has it
// (masquerading, unlike the FTP helper, knows no connection it belongs
// to), else in any service. It does not allocate.
func (st *State) natStats(outer, inner netip.Addr) nat.Stats {
	var first nat.Stats
	for _, s := range st.Table.Services() {
		for _, d := range s.Dests {
			if d.Addr != inner {
				continue
			}
			if s.Key.Addr == outer {
				return nat.Stats{Dest: d.C, Svc: s.C}
			}
			if first.Dest == nil {
				first = nat.Stats{Dest: d.C, Svc: s.C}
			}
		}
	}
	return first
}

// countNAT adds a packet of n bytes of a flow to its counters: in, from the
// peer towards the real server, or out.
func countNAT(cs nat.Stats, dir nat.Dir, n int) {
	for _, c := range [2]*ipvs.Counters{cs.Dest, cs.Svc} {
		switch {
		case c == nil:
		case dir == nat.In:
			c.InPkts.Add(1)
			c.InBytes.Add(uint64(n))
		default:
			c.OutPkts.Add(1)
			c.OutBytes.Add(uint64(n))
		}
	}
}

// masqIn handles a TCP/UDP frame to an owned address that no virtual
// service takes: a reply of a masqueraded flow, or the first packet of an
// FTP data connection the helper expects (announced by a 227 or 229
// reply). It reports false for anything else (which noService answers).
// It serves both families; an IPv6
// fragment is not looked at.
func (w *Worker) masqIn(f []byte, m Meta, st *State, now ipvs.Tick) (Verdict, bool) {
	p := &w.p
	if st.NAT == nil || p.Proto != frame.ProtoTCP && p.Proto != frame.ProtoUDP ||
		p.Kind == frame.KindIPv6 && p.IsFragment() {
		return 0, false
	}
	fl, ok := w.d.NAT.LookupIn(p.Proto, p.Src, p.Dst, uint8(p.Flags), now)
	if !ok {
		if len(st.NAT.FTP) == 0 || p.Proto != frame.ProtoTCP || !opens(p) {
			return 0, false
		}
		// The passive data connection a 227/229 reply announced.
		real, cs, ok := w.d.FTP.TakePassive(p.Src.Addr(), p.Dst, now)
		if !ok {
			return 0, false
		}
		var err error
		if fl, err = w.d.NAT.Insert(nat.Flow{Proto: p.Proto, Inner: real, Peer: p.Src, Outer: p.Dst, Stats: cs}, now); err != nil {
			return w.C.drop(DropTableFull), true
		}
		if p.Kind == frame.KindIPv6 {
			w.learnClient6(st, f)
		} else {
			w.learnClient(st, f)
		}
	}
	return w.natSend(f, m, st, fl.Inner.Addr(), fl.Inner, nat.In, fl.Stats), true
}

// natSend rewrites the source (dir Out) or the destination (dir In) of the
// frame to `to` and sends it to the next hop towards dst, counting it on cs.
// An IPv4 frame too big for the egress MTU, or whose TTL runs out, is
// dropped with the ICMP error natICMP sends; natHop6 (masq6.go) does the
// same for an IPv6 one. The IPv4 steps stay inline: this is the
// masqueraded flows' per-packet path.
func (w *Worker) natSend(f []byte, m Meta, st *State, dst netip.Addr, to netip.AddrPort, dir nat.Dir, cs nat.Stats) Verdict {
	p := &w.p
	var out int
	var mac frame.MAC
	if p.Kind == frame.KindIPv6 {
		var v Verdict
		var ok bool
		if out, mac, v, ok = w.natHop6(f, m, st, dst, dir); !ok {
			return v
		}
	} else {
		var ok bool
		if out, mac, ok = w.nextHop(st, dst); !ok {
			return w.C.drop(DropNoNeigh)
		}
		mtu := w.d.Ports[out].MTU
		ip := frame.IPv4(f[p.L3:p.End])
		if !m.IsGSO() && p.End-p.L3 > mtu {
			if ip.DF() {
				w.natICMP(f, st, dir, frame.ICMPDestUnreachable, frame.ICMPFragNeeded, mtu)
			}
			return w.C.drop(DropTooBig)
		}
		if !ip.DecTTL() {
			w.natICMP(f, st, dir, frame.ICMPTimeExceeded, 0, 0)
			return w.C.drop(DropTTL)
		}
	}
	port := w.d.Ports[out]
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

// natICMP answers the frame with an ICMP error: from the router's own
// address towards a real server, from the VIP towards the public side.
func (w *Worker) natICMP(f []byte, st *State, dir nat.Dir, typ, code uint8, mtu int) {
	if dir == nat.Out {
		w.icmpErrorFrom(f, typ, code, mtu, w.in.Addr)
		return
	}
	w.icmpError(f, st, typ, code, mtu)
}

// icmpToMasq forwards an ICMP or ICMPv6 error sent to a VIP about a packet
// of a masqueraded flow (say "fragmentation needed" on the way to a host a
// real server downloads from) to the real server, as the kernel's NAT does
// for related ICMP: the outer destination becomes the real server and the
// quoted source its address and port. Other errors are dropped.
func (w *Worker) icmpToMasq(f []byte, st *State) Verdict {
	p := &w.p
	if st.NAT == nil || p.InnerProto != frame.ProtoTCP && p.InnerProto != frame.ProtoUDP {
		return w.C.drop(DropICMPError)
	}
	// The quote is the translated packet: VIP:port → peer.
	fl, ok := w.d.NAT.FindIn(p.InnerProto, p.InnerDst, p.InnerSrc, w.d.Tick(w.now))
	if !ok {
		return w.C.drop(DropICMPError)
	}
	out, mac, ok := w.nextHopOf(st, fl.Inner.Addr())
	if !ok {
		return w.C.drop(DropNoNeigh)
	}
	port := w.d.Ports[out]
	if p.Kind == frame.KindIPv6 && !frame.IPv6(f[p.L3:p.End]).DecHopLimit() ||
		p.Kind != frame.KindIPv6 && !frame.IPv4(f[p.L3:p.End]).DecTTL() {
		return w.C.drop(DropTTL)
	}
	p.SetDst(f, netip.AddrPortFrom(fl.Inner.Addr(), 0))
	p.SetInnerSrc(f, fl.Inner)
	Ethernet(f).SetDst(mac)
	Ethernet(f).SetSrc(port.MAC)
	w.emit(out, f, Meta{})
	return Forward
}

// ImportNAT installs a masqueraded or FTP data flow the active router
// synced (a conntrack.Record with NAT set), counted on the real server and
// service natStats finds in the published state. Safe for concurrent use.
func (d *Dataplane) ImportNAT(r conntrack.Record, now ipvs.Tick) error {
	return d.NAT.Import(r, d.State().natStats(r.Virtual.Addr(), r.Real.Addr()), now)
}
