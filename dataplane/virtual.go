package dataplane

import (
	"lvs/conntrack"
	"lvs/frame"
	"lvs/ipvs"
)

// toOwned handles an IPv4 frame to an address lvsd owns (a VIP or the
// nat_router address): a virtual service's traffic, a ping, an ICMP error
// about a reply, or a packet for no service (answered, as IPVS, with ICMP
// port unreachable).
func (w *Worker) toOwned(f []byte, m Meta, st *State, now ipvs.Tick) Verdict {
	p := &w.p
	if p.FragOffset != 0 {
		c, why, ok := w.frags.laterFragment(p, now)
		if !ok {
			return w.C.drop(why)
		}
		return w.forward(f, m, st, c, nil)
	}
	if w.badL4Checksum(f, m) { // malformed.go
		return w.C.drop(DropBadL4Checksum)
	}
	proto := ipvs.Proto(p.Proto)
	var svc *ipvs.Service
	mark := st.Class.Mark(p, w.in.Index)
	if mark != 0 {
		svc = st.Table.LookupMark(mark)
	}
	if svc == nil && (proto == ipvs.TCP || proto == ipvs.UDP) {
		svc = st.Table.Lookup(proto, p.Dst.Addr(), p.Dst.Port())
	}
	if svc == nil {
		if v, ok := w.masqIn(f, m, st, now); ok { // masq.go
			return v
		}
		return w.noService(f, st)
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
			w.learnClient(st, f)
		case conntrack.NoDest, conntrack.PortMismatch:
			// ip_vs_leave: ICMP port unreachable to the client.
			if status == conntrack.PortMismatch || !st.QuietNoDest {
				w.icmpError(f, st, frame.ICMPDestUnreachable, frame.ICMPPortUnreachable, 0)
			}
			return w.C.drop(DropNoDest)
		case conntrack.TableFull:
			return w.C.drop(DropTableFull)
		default:
			if proto == ipvs.TCP && !validTCPFlags(p.Flags) {
				return w.C.drop(DropTCPFlags) // malformed.go
			}
			return w.C.drop(DropNoConn)
		}
	}
	if p.MoreFrags {
		w.frags.put(keyOf(p), c, p.End-p.L4, now)
	}
	if st.NAT != nil {
		m = w.ftpIn(f, m, st, c, now) // ftp.go
	}
	return w.forward(f, m, st, c, svc)
}

// Ethernet is frame.Ethernet, named here for brevity.
type Ethernet = frame.Ethernet

// forward sends a client's frame to the destination of its connection.
func (w *Worker) forward(f []byte, m Meta, st *State, c conntrack.Conn, svc *ipvs.Service) Verdict {
	p := &w.p
	if c.Real6() {
		return w.tunnel4in6(f, m, st, c, svc) // tunnel46.go: an IPv6 real server, tunnelled only
	}
	out, mac, ok := w.nextHop(st, c.Real().Addr())
	if !ok {
		return w.C.drop(DropNoNeigh)
	}
	port := w.d.Ports[out]
	switch c.Method() {
	case ipvs.Masq:
		big, df := w.oversize(f, m, out)
		if df {
			return w.tooBig(f, st, port.MTU)
		}
		if !frame.IPv4(f[p.L3:p.End]).DecTTL() {
			w.icmpError(f, st, frame.ICMPTimeExceeded, 0, 0)
			return w.C.drop(DropTTL)
		}
		w.offer(st, c, conntrack.DirInput, p.Src, c.Real(), out, mac) // fast.go
		w.offerSynAck(st, c, out)
		p.SetDst(f, c.Real())
		Ethernet(f).SetDst(mac)
		Ethernet(f).SetSrc(port.MAC)
		if big {
			return w.sendFragments(f, st, c, svc, out, true) // fragout.go
		}
	case ipvs.Route:
		big, df := w.oversize(f, m, out)
		if df {
			return w.tooBig(f, st, port.MTU)
		}
		w.offer(st, c, conntrack.DirInput, p.Src, p.Dst, out, mac)
		rewriteDirect(f, mac, port.MAC) // direct.go
		if big {
			return w.sendFragments(f, st, c, svc, out, true)
		}
	case ipvs.Tunnel:
		return w.tunnel(f, m, st, c, svc, out, mac) // sends a new frame (tunnel.go)
	default:
		return w.C.drop(DropUnsupported)
	}
	w.count(st, c, svc, true, p.End-p.L3)
	w.emit(out, f, m)
	return Forward
}

// count adds one packet to the destination's and the service's counters.
func (w *Worker) count(st *State, c conntrack.Conn, svc *ipvs.Service, in bool, n int) {
	reg := st.Table.Registry()
	for _, ctr := range [2]*ipvs.Counters{reg.Dest(c.Dest()), svcCounters(reg, svc, c)} {
		if ctr == nil {
			continue
		}
		if in {
			ctr.InPkts.Add(1)
			ctr.InBytes.Add(uint64(n))
		} else {
			ctr.OutPkts.Add(1)
			ctr.OutBytes.Add(uint64(n))
		}
	}
}

func svcCounters(reg *ipvs.Registry, svc *ipvs.Service, c conntrack.Conn) *ipvs.Counters {
	if svc != nil {
		return svc.C
	}
	return reg.Service(c.Service())
}

// noService answers a frame to an owned address that no service takes: a
// ping gets its echo reply, TCP and UDP get ICMP port unreachable (IPVS
// sends it for a VIP's unserved port), the rest is dropped. An ICMP error
// goes back to the real server whose reply it is about, if any.
func (w *Worker) noService(f []byte, st *State) Verdict {
	p := &w.p
	switch p.Proto {
	case frame.ProtoICMP:
		if p.ICMPError {
			return w.icmpToVirtual(f, st)
		}
		if p.ICMPType == frame.ICMPEcho && frame.ToEchoReply(f, p, 64) {
			Ethernet(f).SetSrc(w.in.MAC)
			w.emit(w.in.Index, f, Meta{})
			return Reply
		}
		if p.FragOffset == 0 && frame.ICMP(f[p.L4:p.End]).IsError() {
			return w.C.drop(DropICMPError) // its quote is not an IPv4 header
		}
	case frame.ProtoTCP, frame.ProtoUDP:
		w.icmpError(f, st, frame.ICMPDestUnreachable, frame.ICMPPortUnreachable, 0)
	}
	return w.C.drop(DropNoService)
}

// icmpError answers the frame being processed with an ICMP error from the
// address it was sent to, back out of the port it came in on.
func (w *Worker) icmpError(f []byte, st *State, typ, code uint8, mtu int) {
	b := w.buf()
	if b == nil {
		return
	}
	if n := frame.PutICMPError(b, f, &w.p, typ, code, uint16(mtu), w.p.Dst.Addr(), w.in.MAC); n > 0 {
		w.emit(w.in.Index, b[:n], Meta{})
	}
}

// tooBig answers a frame larger than the egress MTU with "fragmentation
// needed" carrying that MTU (path MTU discovery through the director); a
// frame without DF is fragmented instead (fragout.go), but where that
// cannot be done it is dropped here too.
func (w *Worker) tooBig(f []byte, st *State, mtu int) Verdict {
	if frame.IPv4(f[w.p.L3:w.p.End]).DF() {
		w.icmpError(f, st, frame.ICMPDestUnreachable, frame.ICMPFragNeeded, mtu)
	}
	return w.C.drop(DropTooBig)
}

// learnClient records the MAC of a client on the segment the frame came
// from, when its connection is new: replies go back to it directly, and a
// client with a static ARP entry for the VIP never sends lvsd an ARP
// request to learn it from. Clients behind a gateway are reached through
// the gateway's MAC instead (routes), so nothing is learned for them.
func (w *Worker) learnClient(st *State, f []byte) {
	src := w.p.Src.Addr()
	port, hop, ok := st.Routes.Lookup(src.As4())
	if !ok || port != w.in.Index || hop != src.As4() || w.in.Neigh == nil {
		return
	}
	mac := Ethernet(f).Src()
	if known, ok := w.in.Neigh.Lookup(hop); ok && known == mac {
		return
	}
	w.in.Neigh.LearnAny(src, mac, w.now)
}
