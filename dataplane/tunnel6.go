package dataplane

import (
	"lvs/conntrack"
	"lvs/frame"
	"lvs/ipvs"
)

// tunnel6 sends a client's IPv6 frame to its IPv6 real server inside an
// IPv6-in-IPv6 packet (RFC 2473), as IPVS's tunnel method for IPv6
// (ip_vs_tunnel_xmit_v6): an outer header from the router's own IPv6
// address on the egress port (or the VIP) to the real server; the inner
// datagram keeps the VIP as its destination and has its hop limit
// decremented. A datagram that would not fit the egress MTU with the
// outer header is answered with packet too big carrying MTU-40: IPv6
// routers do not fragment. A TCP GSO super-frame is segmented in software
// first (tunnelSegments). An IPv4 real server behind an IPv6 VIP, which
// IPVS allows, is tunnel6in4's (tunnel46.go).
func (w *Worker) tunnel6(f []byte, m Meta, st *State, c conntrack.Conn, svc *ipvs.Service, a conntrack.Addrs, out int, mac frame.MAC) Verdict {
	p := &w.p
	real := a.Real.Addr()
	if !real.Is6() {
		return w.C.drop(DropUnsupported)
	}
	port := w.d.Ports[out]
	src := port.Addr6
	if !src.IsValid() {
		src = a.Virtual.Addr()
	}
	if m.IsGSO() {
		return w.tunnelSegments(f, m, st, c, svc, tunnelHop{out: out, mac: mac, kind: encap6in6, src: src, dst: real})
	}
	if v, ok := w.innerReady6(f, m, out, frame.IP6IP6Overhead); !ok {
		return v
	}
	bufs := w.takeTunnelBufs(1)
	if bufs == nil {
		return w.C.drop(DropTooBig)
	}
	b, n := bufs[0], p.End-p.L3
	copy(b[frame.IP6IP6Inner:], f[p.L3:p.End])
	k := frame.EncapIP6IP6(b, n, mac, port.MAC, src, real)
	if k == 0 {
		return w.C.drop(DropShort)
	}
	w.count(st, c, svc, true, n)
	w.emit(out, b[:k], Meta{})
	return Forward
}

// innerReady6 readies the IPv6 datagram being processed to be wrapped in
// an outer header of overhead bytes sent through port out (6in6, 6in4):
// one that would not fit is answered with packet too big, one whose hop
// limit runs out with time exceeded, and a partial checksum is completed
// (the tunnel's end cannot). It reports false with the verdict of a
// datagram that goes no further.
func (w *Worker) innerReady6(f []byte, m Meta, out, overhead int) (Verdict, bool) {
	p := &w.p
	if w.tooBig6(m, out, overhead) {
		return w.packetTooBig6(f, w.d.Ports[out].MTU-overhead, p.Dst.Addr()), false
	}
	if !frame.IPv6(f[p.L3:p.End]).DecHopLimit() {
		w.icmp6Error(f, frame.ICMPv6TimeExceeded, frame.ICMPv6HopLimitExceeded, 0, p.Dst.Addr())
		return w.C.drop(DropTTL), false
	}
	if p.Partial && !p.CompletePartial(f) {
		return w.C.drop(DropBadChecksum), false
	}
	return 0, true
}
