package daemon

import (
	"net/netip"

	"lvs/dataplane"
)

// putProbe writes into buf what resolves target on port p: an ARP request
// for an IPv4 address, a neighbour solicitation for an IPv6 one (from the
// port's own address, else fallback), and returns its length, 0 when
// there is no source to send it from.
func putProbe(buf []byte, p *dataplane.Port, target, fallback netip.Addr) int {
	if target.Is6() {
		return dataplane.PutProbe6(buf, p, target, fallback)
	}
	return dataplane.PutProbe(buf, p, target, fallback)
}

// putAnnouncement writes into buf the announcement that addr is at port
// p's MAC: a gratuitous ARP for an IPv4 address, an unsolicited neighbour
// advertisement with the override flag for an IPv6 one (RFC 4861 §7.2.6).
func putAnnouncement(buf []byte, p *dataplane.Port, addr netip.Addr) int {
	if addr.Is6() {
		return dataplane.PutAnnouncement6(buf, p, addr)
	}
	return dataplane.PutAnnouncement(buf, p, addr)
}
