package dataplane

import (
	"net/netip"
	"sync/atomic"

	"lvs/frame"
	"lvs/neigh"
)

// Port is one interface the dataplane serves: the router's public side
// (VIPs) or its private side (the nat_router address, real servers).
type Port struct {
	Index   int          // position in the dataplane's port list
	Name    string       // interface name, e.g. "eth0"
	Ifindex int          // the interface's index (the fast path's egress)
	MAC     frame.MAC    // the interface's MAC: source of everything lvsd sends on it
	MTU     int          // IP MTU of the interface
	Addr    netip.Addr   // the router's own address here (ARP probe source); may be unset
	Addr6   netip.Addr   // the router's own IPv6 address here (source of its ICMPv6 errors and neighbour solicitations); may be unset
	Neigh   *neigh.Table // MACs of real servers and gateways on this segment
}

// Owned is the set of addresses lvsd answers for (ARP, neighbour
// solicitations, ICMP and ICMPv6 echo) and on which port: the VIPs of
// active services and the nat_router and nat_router6 addresses. It is
// immutable; the daemon publishes a new one on role changes (the active
// router owns everything, the standby nothing) and reloads. IPv6
// addresses have a map of their own, so an IPv4 lookup hashes 4 bytes.
type Owned struct {
	port  map[[4]byte]int
	port6 map[[16]byte]int
}

// NewOwned returns the ownership map: addr → port index, IPv4 and IPv6
// addresses alike.
func NewOwned(addrs map[netip.Addr]int) *Owned {
	o := &Owned{port: make(map[[4]byte]int, len(addrs)), port6: map[[16]byte]int{}}
	for a, p := range addrs {
		switch {
		case a.Is4():
			o.port[a.As4()] = p
		case a.Is6() && !a.Is4In6():
			o.port6[a.As16()] = p
		}
	}
	return o
}

// Port6 returns the port that owns the IPv6 address addr, if lvsd owns it.
func (o *Owned) Port6(addr [16]byte) (int, bool) {
	if o == nil {
		return 0, false
	}
	p, ok := o.port6[addr]
	return p, ok
}

// Port returns the port that owns addr, if lvsd owns it.
func (o *Owned) Port(addr [4]byte) (int, bool) {
	if o == nil {
		return 0, false
	}
	p, ok := o.port[addr]
	return p, ok
}

// Addrs returns the owned addresses of port p, IPv4 and IPv6 (for
// gratuitous ARP and unsolicited neighbour advertisements).
func (o *Owned) Addrs(p int) []netip.Addr {
	var out []netip.Addr
	for a, q := range o.port {
		if q == p {
			out = append(out, netip.AddrFrom4(a))
		}
	}
	for a, q := range o.port6 {
		if q == p {
			out = append(out, netip.AddrFrom16(a))
		}
	}
	return out
}

// OwnedRef is the atomic pointer workers read the Owned set through.
type OwnedRef = atomic.Pointer[Owned]
