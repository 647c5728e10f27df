package dataplane

import (
	"net/netip"

	"lvs/conntrack"
	"lvs/frame"
	"lvs/ipvs"
)

// Tunnels across address families, the one mix of families IPVS allows:
// ip_vs_add_dest accepts a destination of the other family only with the
// tunnel method, and ip_vs_tunnel_xmit / ip_vs_tunnel_xmit_v6 then build
// an outer header of the real server's family around the client's
// datagram. NAT and direct routing need the VIP's family; the config
// refuses them and the dataplane drops them as unsupported.

// tunnel6in4 sends a client's IPv6 frame to an IPv4 real server inside an
// IPv6-in-IPv4 packet (RFC 4213, protocol 41), as ip_vs_tunnel_xmit for
// an IPv6 skb. The outer header goes from the router's own IPv4 address
// on the egress port to the real server, through the IPv4 next hop that
// reaches it; the inner datagram keeps the VIP as its destination and has
// its hop limit decremented. DF is clear outside
// (ip_vs_prepare_tunneled_skb for an IPv6 skb), but an IPv6 datagram that
// would not fit the egress MTU with the 20-byte outer header is answered
// with packet too big carrying MTU-20, as IPVS does
// (__mtu_check_toobig_v6): IPv6 end points do the fragmenting. A TCP GSO
// super-frame is segmented in software first (tunnelSegments). An egress
// port without an IPv4 address of lvsd's own cannot tunnel.
func (w *Worker) tunnel6in4(f []byte, m Meta, st *State, c conntrack.Conn, svc *ipvs.Service, a conntrack.Addrs) Verdict {
	p := &w.p
	real := a.Real.Addr()
	if c.Method() != ipvs.Tunnel || !real.Is4() {
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
	if m.IsGSO() {
		return w.tunnelSegments(f, m, st, c, svc, tunnelHop{out: out, mac: mac, kind: encap6in4, src: port.Addr, dst: real})
	}
	if v, ok := w.innerReady6(f, m, out, frame.IPIPOverhead); !ok { // tunnel6.go
		return v
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

// tunnel4in6 sends a client's IPv4 frame to an IPv6 real server inside an
// IPv4-in-IPv6 packet (RFC 2473, next header 4), as ip_vs_tunnel_xmit_v6
// for an IPv4 skb (an IPv4 service with an IPv6 tunnel destination, Linux
// 3.18 and later). The outer header goes from the router's own IPv6
// address on the egress port to the real server, through the IPv6 next
// hop that reaches it, with hop limit and traffic class from the inner
// TTL and TOS (frame.EncapIP6IP6); the inner datagram keeps the VIP as its
// destination and has its TTL decremented.
//
// Path MTU, as __ip_vs_get_out_rt_v6 checks an IPv4 skb against the route
// MTU less the 40-byte outer header (ensure_mtu_is_adequate): a datagram
// that would not fit with DF set is answered with "fragmentation needed"
// carrying MTU-40; one with DF clear is cut into IPv4 fragments that fit,
// each tunnelled (the tunnel entry point fragments the inner datagram, RFC
// 2473 §7.1, so no IPv6 fragment header is needed). A TCP GSO super-frame
// is segmented in software first (tunnelSegments). An egress port without
// an IPv6 address of lvsd's own cannot tunnel.
func (w *Worker) tunnel4in6(f []byte, m Meta, st *State, c conntrack.Conn, svc *ipvs.Service) Verdict {
	p := &w.p
	a, ok := w.d.CT.Addrs(c) // the real server's 16 bytes live in the table
	if !ok {
		return w.C.drop(DropDestGone)
	}
	real := a.Real.Addr()
	if c.Method() != ipvs.Tunnel || !real.Is6() || real.Is4In6() {
		return w.C.drop(DropUnsupported)
	}
	out, mac, ok := w.nextHop6(st, real)
	if !ok {
		return w.C.drop(DropNoNeigh)
	}
	port := w.d.Ports[out]
	if !port.Addr6.IsValid() {
		return w.C.drop(DropUnsupported) // no IPv6 source for the outer header
	}
	hop := tunnelHop{out: out, mac: mac, kind: encap4in6, src: port.Addr6, dst: real}
	if m.IsGSO() {
		return w.tunnelSegments(f, m, st, c, svc, hop)
	}
	mtu := port.MTU - frame.IP6IP6Overhead
	n := p.End - p.L3
	ip := frame.IPv4(f[p.L3:p.End])
	if n > mtu && ip.DF() {
		return w.tooBig(f, st, mtu)
	}
	if !ip.DecTTL() {
		w.icmpError(f, st, frame.ICMPTimeExceeded, 0, 0)
		return w.C.drop(DropTTL)
	}
	if p.Partial && !p.CompletePartial(f) {
		return w.C.drop(DropBadChecksum)
	}
	if n > mtu {
		return w.tunnel4in6Frag(f, st, c, svc, hop)
	}
	bufs := w.takeTunnelBufs(1)
	if bufs == nil {
		return w.C.drop(DropTooBig)
	}
	b := bufs[0]
	copy(b[frame.IP6IP6Inner:], f[p.L3:p.End])
	k := frame.EncapIP6IP6(b, n, mac, port.MAC, hop.src, real)
	if k == 0 {
		return w.C.drop(DropShort)
	}
	w.count(st, c, svc, true, n)
	w.emit(out, b[:k], Meta{})
	return Forward
}

// tunnel4in6Frag tunnels an IPv4 datagram with DF clear that is too big
// once encapsulated as IPv4 fragments of at most MTU-40 bytes, each in its
// own IPv4-in-IPv6 packet. Each fragment is written IP6IP6Overhead bytes
// into its buffer, so its datagram already sits at frame.IP6IP6Inner.
// Nothing is allocated.
func (w *Worker) tunnel4in6Frag(f []byte, st *State, c conntrack.Conn, svc *ipvs.Service, hop tunnelHop) Verdict {
	p := &w.p
	port := w.d.Ports[hop.out]
	mtu := port.MTU - frame.IP6IP6Overhead
	k := frame.IPv4Fragments(p.End-p.L3, mtu)
	bufs := w.takeTunnelBufs(k)
	if k == 0 || bufs == nil || p.L3 != frame.EthernetLen {
		return w.C.drop(DropTooBig)
	}
	frames, inner := w.tun.segs[:k], w.tun.inner[:k]
	for i, b := range bufs {
		inner[i] = b[frame.IP6IP6Overhead:]
	}
	n := frame.FragmentIPv4(frames, inner, f[:p.End], mtu)
	clear(inner)
	if n != k {
		clear(frames)
		return w.C.drop(DropTooBig)
	}
	w.sendEncapsulated(bufs, frames, hop)
	w.count(st, c, svc, true, p.End-p.L3)
	return Forward
}

// tunnelHop is where a tunnelled frame goes: the egress port and next
// hop's MAC, the encapsulation, and the outer addresses.
type tunnelHop struct {
	out      int
	mac      frame.MAC
	kind     encapKind
	src, dst netip.Addr
}
