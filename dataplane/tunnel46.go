package dataplane

import (
	"lvs/conntrack"
	"lvs/frame"
	"lvs/ipvs"
)

// tunnel6in4 sends a client's IPv6 frame to an IPv4 real server inside an
// IPv6-in-IPv4 packet (RFC 4213, protocol 41), the one mix of families
// IPVS allows for an IPv6 service (ip_vs_add_dest accepts a destination of
// the other family only with the tunnel method; ip_vs_tunnel_xmit then
// builds an IPv4 outer header around the IPv6 skb). The outer header goes
// from the router's own IPv4 address on the egress port to the real
// server, through the IPv4 next hop that reaches it; the inner datagram
// keeps the VIP as its destination and has its hop limit decremented. DF
// is clear outside (ip_vs_prepare_tunneled_skb for an IPv6 skb), but an
// IPv6 datagram that would not fit the egress MTU with the 20-byte outer
// header is answered with packet too big carrying MTU-20, as IPVS does
// (__mtu_check_toobig_v6): IPv6 end points do the fragmenting. GSO
// super-frames are dropped as unsupported, as tunnel6 does; so is any
// other method across families (NAT and direct routing need the VIP's
// family) and an egress port without an IPv4 address of lvsd's own.
func (w *Worker) tunnel6in4(f []byte, m Meta, st *State, c conntrack.Conn, svc *ipvs.Service, a conntrack.Addrs) Verdict {
	p := &w.p
	real := a.Real.Addr()
	if c.Method() != ipvs.Tunnel || m.IsGSO() || !real.Is4() {
		return w.C.drop(DropUnsupported)
	}
	out, mac, ok := w.nextHop(st, real)
	if !ok {
		return w.C.drop(DropNoNeigh)
	}
	port := w.d.Ports[out]
	if !port.Addr.IsValid() {
		return w.C.drop(DropUnsupported) // no IPv4 source for the outer header
	}
	if w.tooBig6(m, out, frame.IPIPOverhead) {
		return w.packetTooBig6(f, port.MTU-frame.IPIPOverhead, p.Dst.Addr())
	}
	if !frame.IPv6(f[p.L3:p.End]).DecHopLimit() {
		w.icmp6Error(f, frame.ICMPv6TimeExceeded, frame.ICMPv6HopLimitExceeded, 0, p.Dst.Addr())
		return w.C.drop(DropTTL)
	}
	if p.Partial && !p.CompletePartial(f) {
		return w.C.drop(DropBadChecksum)
	}
	bufs := w.takeTunnelBufs(1)
	if bufs == nil {
		return w.C.drop(DropTooBig)
	}
	b, n := bufs[0], p.End-p.L3
	copy(b[frame.IPIPInner:], f[p.L3:p.End])
	w.tun.id++
	k := frame.EncapIPIP(b, n, mac, port.MAC, port.Addr, real, w.tun.id)
	if k == 0 {
		return w.C.drop(DropShort)
	}
	w.count(st, c, svc, true, n)
	w.emit(out, b[:k], Meta{})
	return Forward
}
