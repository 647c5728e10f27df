package dataplane

import (
	"lvs/conntrack"
	"lvs/frame"
	"lvs/ipvs"
)

// Outgoing fragmentation. A datagram larger than the egress MTU with DF
// clear is not dropped: IPVS hands it to the IP output path, which cuts it
// into fragments (ip_vs_nat_xmit and ip_vs_dr_xmit, then ip_fragment), and
// so does lvsd, for NAT in both directions and for direct routing. With
// DF set the sender is told the MTU instead (tooBig). Tunnelled datagrams
// are fragmented outside, after encapsulation (tunnel.go).

// oversize reports whether frame f (the one being processed), not a GSO
// super-frame, is larger than port out's MTU, and whether it has DF set.
func (w *Worker) oversize(f []byte, m Meta, out int) (big, df bool) {
	p := &w.p
	if m.IsGSO() || p.End-p.L3 <= w.d.Ports[out].MTU {
		return false, false
	}
	return true, frame.IPv4(f[p.L3:p.End]).DF()
}

// sendFragments sends the rewritten frame f, too big for port out, as IPv4
// fragments out of the worker's transmit buffers (nothing is allocated),
// and counts it as one packet of connection c in direction in.
func (w *Worker) sendFragments(f []byte, st *State, c conntrack.Conn, svc *ipvs.Service, out int, in bool) Verdict {
	p := &w.p
	if p.Partial && !p.CompletePartial(f) {
		return w.C.drop(DropBadChecksum)
	}
	port := w.d.Ports[out]
	k := frame.IPv4Fragments(p.End-p.L3, port.MTU)
	bufs := w.takeTunnelBufs(k)
	if k == 0 || bufs == nil || p.L3 != frame.EthernetLen {
		return w.C.drop(DropTooBig)
	}
	frames := w.tun.segs[:k]
	if frame.FragmentIPv4(frames, bufs, f[:p.End], port.MTU) != k {
		clear(frames)
		return w.C.drop(DropTooBig)
	}
	for i, fr := range frames {
		frames[i] = nil
		w.emit(out, fr, Meta{})
	}
	w.count(st, c, svc, in, p.End-p.L3)
	return Forward
}
