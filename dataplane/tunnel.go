package dataplane

import (
	"net/netip"

	"lvs/conntrack"
	"lvs/frame"
	"lvs/ipvs"
)

// tunnelBufs is a worker's transmit buffers for IPIP frames. An
// encapsulated frame is 20 bytes longer than the one received and the
// receive ring has no headroom, so each goes out of one of these. They are
// allocated at the worker's first tunnelled frame, sized for the largest
// MTU of the dataplane's ports, and handed out again from the start at
// every batch (Worker.Process resets them after the previous flush).
type tunnelBufs struct {
	bufs [][]byte // each holds one frame of up to the largest port MTU
	segs [][]byte // Segment's destinations: bufs[i][overhead:] (tunnelgso.go)
	// inner is FragmentIPv4's destinations when the fragments go into an
	// IPv6 tunnel: bufs[i][IP6IP6Overhead:] (tunnel46.go).
	inner [][]byte
	next  int    // first buffer not queued in this batch
	id    uint16 // IP identification of the next outer header
}

// minTunnelBufs is the fewest buffers a worker keeps: enough for the
// segments of one 64 KB super-frame down to an MSS of 512 bytes (a client
// announcing less gets its super-frames dropped as too_big; its single
// segments go through).
const minTunnelBufs = 128

func (t *tunnelBufs) init(ports []*Port, batch int) {
	size := 0
	for _, p := range ports {
		size = max(size, p.MTU)
	}
	size += frame.EthernetLen
	n := max(batch, minTunnelBufs)
	slab := make([]byte, n*size)
	t.bufs, t.segs, t.inner = make([][]byte, n), make([][]byte, n), make([][]byte, n)
	for i := range t.bufs {
		t.bufs[i] = slab[i*size : (i+1)*size : (i+1)*size]
	}
}

// reset makes every buffer available again; the frames in them have been
// transmitted.
func (t *tunnelBufs) reset() { t.next = 0 }

// takeTunnelBufs returns k buffers for the frames about to be queued,
// flushing what is queued first when fewer than k are left in this batch.
// It returns nil when k buffers could never be had.
func (w *Worker) takeTunnelBufs(k int) [][]byte {
	t := &w.tun
	if t.bufs == nil {
		t.init(w.d.Ports, len(w.frames))
	}
	if k > len(t.bufs) {
		return nil
	}
	if t.next+k > len(t.bufs) {
		w.flush() // every queued frame goes out, so the buffers are free again
		t.next = 0
	}
	b := t.bufs[t.next : t.next+k]
	t.next += k
	return b
}

// tunnel sends a client's frame to its real server inside an IPIP packet
// (RFC 2003), as IPVS's tunnel method (ip_vs_tunnel_xmit): an outer IPv4
// header from the router's own address on the egress port to the real
// server, through the next hop that reaches it, so real servers may sit
// behind routers on other segments. The inner datagram keeps the VIP as its
// destination (the real server holds it on its ipip device) and has its
// TTL decremented, as any router's would.
//
// Path MTU: a datagram that would not fit the egress MTU with the outer
// header is answered with "fragmentation needed" carrying MTU-20 when DF is
// set (IPVS: __mtu_check_toobig_v4), and sent in outer fragments when not
// (tunnelFrag). A TCP GSO
// super-frame is cut into segments in software (frame.Segment) and each is
// encapsulated: the virtio-net header cannot describe IPIP segmentation
// (there is no IPXIP4 GSO type), so the kernel would refuse the frame. Its
// segments must fit too, or the client gets "fragmentation needed" as for
// one full-sized segment. Partial checksums are completed in software: a
// real server decapsulating in software receives the bytes as they are.
func (w *Worker) tunnel(f []byte, m Meta, st *State, c conntrack.Conn, svc *ipvs.Service, out int, mac frame.MAC) Verdict {
	p := &w.p
	port := w.d.Ports[out]
	if m.IsGSO() { // tunnelgso.go
		return w.tunnelSegments(f, m, st, c, svc, tunnelHop{out: out, mac: mac, kind: encap4in4, src: tunnelSrc(port, c), dst: c.Real().Addr()})
	}
	mtu := port.MTU - frame.IPIPOverhead
	n := p.End - p.L3
	if n > mtu && frame.IPv4(f[p.L3:p.End]).DF() {
		return w.tooBig(f, st, mtu)
	}
	if !frame.IPv4(f[p.L3:p.End]).DecTTL() {
		w.icmpError(f, st, frame.ICMPTimeExceeded, 0, 0)
		return w.C.drop(DropTTL)
	}
	if p.Partial && !p.CompletePartial(f) {
		return w.C.drop(DropBadChecksum)
	}
	if n > mtu {
		return w.tunnelFrag(f, st, c, svc, out, mac)
	}
	bufs := w.takeTunnelBufs(1)
	if bufs == nil {
		return w.C.drop(DropTooBig)
	}
	b := bufs[0]
	copy(b[frame.IPIPInner:], f[p.L3:p.End])
	w.tun.id++
	k := frame.EncapIPIP(b, n, mac, port.MAC, tunnelSrc(port, c), c.Real().Addr(), w.tun.id)
	if k == 0 {
		return w.C.drop(DropShort)
	}
	w.count(st, c, svc, true, n)
	w.emit(out, b[:k], Meta{})
	return Forward
}

// tunnelFrag sends a datagram without DF that is too big for the egress
// once encapsulated as fragments of the outer IPIP packet, as IPVS does:
// ip_vs_tunnel_xmit leaves DF clear outside when it is clear inside, and
// ip_finish_output fragments the outer packet (ip_fragment). The real
// server reassembles it before decapsulating. The fragments go out of the
// worker's tunnel buffers; nothing is allocated.
func (w *Worker) tunnelFrag(f []byte, st *State, c conntrack.Conn, svc *ipvs.Service, out int, mac frame.MAC) Verdict {
	p := &w.p
	port := w.d.Ports[out]
	in := f[p.L3:p.End]
	k := frame.IPIPFragments(len(in), port.MTU)
	bufs := w.takeTunnelBufs(k)
	if k == 0 || bufs == nil {
		return w.C.drop(DropTooBig)
	}
	w.tun.id++
	frames := w.tun.segs[:k]
	if frame.FragmentIPIP(frames, bufs, in, port.MTU, mac, port.MAC, tunnelSrc(port, c), c.Real().Addr(), w.tun.id) != k {
		clear(frames)
		return w.C.drop(DropShort)
	}
	for i, fr := range frames {
		frames[i] = nil
		w.emit(out, fr, Meta{})
	}
	w.count(st, c, svc, true, len(in))
	return Forward
}

// tunnelSrc is the outer source address: the router's own address on the
// egress port, which is what the kernel's route lookup picks for IPVS
// (__ip_vs_get_out_rt with IP_VS_RT_MODE_CONNECT), or the VIP when lvsd
// knows no address of its own there.
func tunnelSrc(port *Port, c conntrack.Conn) netip.Addr {
	if port.Addr.IsValid() {
		return port.Addr
	}
	return c.Virtual().Addr()
}
