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
	Neigh   *neigh.Table // MACs of real servers and gateways on this segment
}

// Owned is the set of addresses lvsd answers for (ARP, ICMP echo) and on
// which port: the VIPs of active services and the nat_router address. It
// is immutable; the daemon publishes a new one on role changes (the active
// router owns everything, the standby nothing) and reloads.
type Owned struct {
	port map[[4]byte]int
}

// NewOwned returns the ownership map: addr → port index.
func NewOwned(addrs map[netip.Addr]int) *Owned {
	o := &Owned{port: make(map[[4]byte]int, len(addrs))}
	for a, p := range addrs {
		if a.Is4() {
			o.port[a.As4()] = p
		}
	}
	return o
}

// Port returns the port that owns addr, if lvsd owns it.
func (o *Owned) Port(addr [4]byte) (int, bool) {
	if o == nil {
		return 0, false
	}
	p, ok := o.port[addr]
	return p, ok
}

// Addrs returns the owned addresses of port p (for gratuitous ARP).
func (o *Owned) Addrs(p int) []netip.Addr {
	var out []netip.Addr
	for a, q := range o.port {
		if q == p {
			out = append(out, netip.AddrFrom4(a))
		}
	}
	return out
}

// OwnedRef is the atomic pointer workers read the Owned set through.
type OwnedRef = atomic.Pointer[Owned]
