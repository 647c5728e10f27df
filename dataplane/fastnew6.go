package dataplane

import (
	"net/netip"

	"lvs/conntrack"
	"lvs/dataplane/fastpath"
	"lvs/frame"
)

// The new-flow path's family-dependent parts: the fast path schedules the
// new flows of IPv6 services (NAT66, direct routing over IPv6) as it does
// IPv4's (fastnew.go). A flow it scheduled is adopted into the table like
// an IPv4 one; its fast-path keys are kept by the entry's handle
// (offloaded6, fast6.go), since an IPv6 Conn does not carry its
// addresses.

// ownedPort is the index of the port that owns address a, of either
// family.
func ownedPort(st *State, a netip.Addr) (int, bool) {
	if a.Is4() {
		return st.Owned.Port(a.As4())
	}
	return st.Owned.Port6(a.As16())
}

// resolved is the port and MAC of addr's next hop, of either family, as
// the workers' nextHop and nextHop6 find them; false when there is no
// route or the neighbour is not resolved (nothing is asked for here: the
// Go path's first frame asks).
func (d *Dataplane) resolved(st *State, addr netip.Addr) (int, frame.MAC, bool) {
	if addr.Is4() {
		out, hop, ok := st.Routes.Lookup(addr.As4())
		if !ok {
			return 0, frame.MAC{}, false
		}
		mac, ok := d.Ports[out].Neigh.Lookup(hop)
		return out, mac, ok
	}
	out, hop, ok := st.Routes.Lookup6(addr)
	if !ok {
		return 0, frame.MAC{}, false
	}
	mac, ok := d.Ports[out].Neigh.Lookup6(hop.As16())
	return out, mac, ok
}

// markOffloaded marks direction dir of c offloaded under fast-path key k:
// for an IPv6 entry, k is recorded first, so the table's withdrawal finds
// it (fast6.go).
func (d *Dataplane) markOffloaded(c conntrack.Conn, dir conntrack.Dir, k fastpath.Key) {
	if c.IPv6() {
		d.keys6.put(c.Handle, dir, k)
	}
	d.CT.SetOffloaded(c.Handle, dir, true)
}
