package dataplane

import (
	"net/netip"
	"time"

	"lvs/frame"
)

// handleARP learns neighbours from an ARP frame and, for a request for an
// address lvsd owns on this port, writes the reply into out and returns its
// length. It returns 0 when there is nothing to send. The reply goes from
// the port's MAC, so the segment learns that the VIP (or the nat_router
// address) is here, as the kernel would answer for its own address.
func handleARP(out []byte, f []byte, p *frame.Parsed, port *Port, owned *Owned, now time.Time) int {
	a := p.ARP(f)
	if !a.Valid() {
		return 0
	}
	target := a.TargetIP()
	pi, mine := owned.Port(target.As4())
	mine = mine && pi == port.Index
	if port.Neigh != nil {
		if mine && a.Op() == frame.ARPRequest {
			port.Neigh.LearnAny(a.SenderIP(), a.SenderMAC(), now)
		} else {
			port.Neigh.Learn(a.SenderIP(), a.SenderMAC(), now)
		}
	}
	if !mine || a.Op() != frame.ARPRequest || a.IsGratuitous() {
		return 0
	}
	return frame.PutARPReply(out, a, port.MAC, target)
}

// PutAnnouncement writes one gratuitous ARP for addr from port into buf, in
// the form send_arp used (an ARP reply broadcast, sender = target = addr),
// and returns its length.
func PutAnnouncement(buf []byte, port *Port, addr netip.Addr) int {
	return frame.PutGratuitousARP(buf, frame.ARPReply, port.MAC, addr)
}

// PutProbe writes an ARP request for target from port into buf and returns
// its length. The sender address is the port's own address when it has
// one, else the given fallback (an owned address on that segment).
func PutProbe(buf []byte, port *Port, target, fallback netip.Addr) int {
	src := port.Addr
	if !src.IsValid() {
		src = fallback
	}
	return frame.PutARPRequest(buf, port.MAC, src, target)
}
