package dataplane

import (
	"lvs/conntrack"
	"lvs/frame"
	"lvs/ipvs"
)

// encapKind is a tunnel's encapsulation: IPv4 or IPv6 inside IPv4 or
// IPv6.
type encapKind uint8

const (
	encap4in4 encapKind = iota // IPIP (tunnel.go)
	encap6in6
	encap6in4
	encap4in6
)

// inner6 reports whether the tunnelled datagram is IPv6.
func (k encapKind) inner6() bool { return k == encap6in6 || k == encap6in4 }

// overhead is the outer header's size.
func (k encapKind) overhead() int {
	if k == encap4in4 || k == encap6in4 {
		return frame.IPIPOverhead
	}
	return frame.IP6IP6Overhead
}

// tunnelSegments tunnels the TCP GSO super-frame being processed (IPv4 or
// IPv6 inside IPv4 or IPv6): it is cut into segments in software
// (frame.Segment, full checksums) and each is encapsulated, because the
// virtio-net header cannot describe the segmentation of a tunnelled
// frame (there is no IPXIP4 or IPXIP6 GSO type), so the kernel would
// refuse it. Each segment is written kind.overhead() bytes into its
// buffer, so its datagram already sits where the encapsulation expects
// it. Its segments must fit the egress MTU once encapsulated: where the
// sender's segment size would not, an IPv6 sender gets packet too big and
// an IPv4 one with DF set "fragmentation needed", both with the MTU less
// the outer header, as IPVS answers a GSO skb whose segments would not fit
// (skb_gso_validate_network_len); an IPv4 one without DF gets smaller
// segments. UDP super-frames are dropped as unsupported.
func (w *Worker) tunnelSegments(f []byte, m Meta, st *State, c conntrack.Conn, svc *ipvs.Service, hop tunnelHop) Verdict {
	p := &w.p
	port := w.d.Ports[hop.out]
	mtu := port.MTU - hop.kind.overhead()
	six := hop.kind.inner6()
	want := GSOTCPv4
	if six {
		want = GSOTCPv6
	}
	if m.GSOType&^GSOECN != want || p.Proto != frame.ProtoTCP || p.IsFragment() || p.L3 != frame.EthernetLen {
		return w.C.drop(DropUnsupported)
	}
	fit := frame.MSSForMTU(p, mtu)
	mss := int(m.GSOSize)
	switch {
	case mss <= 0:
		mss = fit
	case mss > fit && six:
		return w.packetTooBig6(f, mtu, p.Dst.Addr())
	case mss > fit && frame.IPv4(f[p.L3:p.End]).DF():
		return w.tooBig(f, st, mtu)
	case mss > fit:
		mss = fit
	}
	if mss <= 0 {
		return w.C.drop(DropTooBig)
	}
	if six && !frame.IPv6(f[p.L3:p.End]).DecHopLimit() {
		w.icmp6Error(f, frame.ICMPv6TimeExceeded, frame.ICMPv6HopLimitExceeded, 0, p.Dst.Addr())
		return w.C.drop(DropTTL)
	}
	if !six && !frame.IPv4(f[p.L3:p.End]).DecTTL() {
		w.icmpError(f, st, frame.ICMPTimeExceeded, 0, 0)
		return w.C.drop(DropTTL)
	}
	k := max((p.End-p.Payload+mss-1)/mss, 1)
	bufs := w.takeTunnelBufs(k)
	if bufs == nil {
		return w.C.drop(DropTooBig)
	}
	segs := w.tun.segs[:k]
	for i, b := range bufs {
		segs[i] = b[hop.kind.overhead():]
	}
	if frame.Segment(segs, f, p, mss) != k {
		clear(segs)
		return w.C.drop(DropShort)
	}
	w.sendEncapsulated(bufs, segs, hop)
	w.count(st, c, svc, true, p.End-p.L3)
	return Forward
}

// sendEncapsulated completes and queues the tunnel frames of hop in bufs:
// inner[i] is a frame written hop.kind.overhead() bytes into bufs[i],
// whose datagram becomes the inner one (and inner[i] is cleared).
func (w *Worker) sendEncapsulated(bufs, inner [][]byte, hop tunnelHop) {
	port := w.d.Ports[hop.out]
	for i, b := range bufs {
		n := len(inner[i]) - frame.EthernetLen
		inner[i] = nil
		var l int
		if hop.kind.overhead() == frame.IPIPOverhead {
			w.tun.id++
			l = frame.EncapIPIP(b, n, hop.mac, port.MAC, hop.src, hop.dst, w.tun.id)
		} else {
			l = frame.EncapIP6IP6(b, n, hop.mac, port.MAC, hop.src, hop.dst)
		}
		if l == 0 {
			w.C.Drops[DropShort].Add(1)
			continue
		}
		w.emit(hop.out, b[:l], Meta{})
	}
}
