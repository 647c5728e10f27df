package dataplane

import (
	"net/netip"

	"lvs/frame"
)

// ndFlags are the flags of every advertisement lvsd sends: override (a VIP
// and the nat_router6 address are not anycast) and router (lvsd forwards,
// and the real servers route through nat_router6; a director whose kernel
// forwards sets it for all its addresses, as ndisc_send_na does).
const ndFlags = frame.NAOverride | frame.NARouter

// neighbor6 learns neighbours from a neighbour solicitation or
// advertisement and, for a solicitation of an address lvsd owns on this
// port (sent to the address or to its solicited-node multicast group),
// answers with an advertisement from the port's MAC, as the kernel would
// for its own address (RFC 4861 §7.2.4). A message that fails the checks
// of RFC 4861 §7.1 is left alone, and so is everything about addresses lvsd
// does not own: the kernel's business.
func (w *Worker) neighbor6(f []byte, st *State) Verdict {
	p := &w.p
	n, ok := frame.NeighborMessage(f, p)
	if !ok {
		return Pass
	}
	port := w.in
	target := n.Target()
	pi, mine := st.Owned.Port6(target.As16())
	mine = mine && pi == port.Index
	mac, hasMAC := n.LinkAddr()
	if n.Type() == frame.ICMPv6NeighborAdvert {
		if !hasMAC {
			mac = Ethernet(f).Src() // a solicited answer may omit the option (RFC 4861 §4.4)
		}
		if port.Neigh != nil {
			port.Neigh.Learn(target, mac, w.now)
		}
		return Pass
	}
	if src := p.Src.Addr(); hasMAC && !src.IsUnspecified() && port.Neigh != nil {
		if mine {
			port.Neigh.LearnAny(src, mac, w.now) // a host on the link that will talk to the VIP
		} else {
			port.Neigh.Learn(src, mac, w.now)
		}
	}
	if !mine {
		return Pass
	}
	b := w.buf()
	if b == nil {
		return Pass
	}
	k := frame.PutNeighborAdvert(b, f, p, n, port.MAC, ndFlags)
	if k == 0 {
		return Pass
	}
	w.emit(port.Index, b[:k], Meta{})
	return Reply
}

// PutAnnouncement6 writes into buf (at least frame.NDFrameLen bytes) one
// unsolicited neighbour advertisement for the IPv6 address addr from port,
// with the override flag, and returns its length: the IPv6 counterpart of
// PutAnnouncement, sent when lvsd claims its addresses (start, takeover).
func PutAnnouncement6(buf []byte, port *Port, addr netip.Addr) int {
	return frame.PutUnsolicitedNA(buf, port.MAC, addr, ndFlags)
}

// PutProbe6 writes into buf (at least frame.NDFrameLen bytes) a neighbour
// solicitation for target from port, to target's solicited-node multicast
// address, and returns its length: the IPv6 counterpart of PutProbe. The
// source is the port's own IPv6 address when it has one, else the given
// fallback (an owned IPv6 address on that segment); it returns 0 when
// there is neither.
func PutProbe6(buf []byte, port *Port, target, fallback netip.Addr) int {
	src := port.Addr6
	if !src.IsValid() {
		src = fallback
	}
	if !src.Is6() || src.Is4In6() || !target.Is6() || target.Is4In6() {
		return 0
	}
	return frame.PutNeighborSolicit(buf, port.MAC, src, target)
}
