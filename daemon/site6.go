package daemon

import (
	"net/netip"

	"lvs/config"
	"lvs/dataplane"
)

// The IPv6 part of the site: the router's own IPv6 addresses on its ports,
// the nat_router6 address and its network, and the IPv6 real servers'
// next hops. lvsd forwards IPv6 as it does IPv4 (dataplane/worker6.go).

// addr6 records the kernel's IPv6 address a on port p: the router's own
// (left to the kernel), the port's source for ICMPv6 errors and neighbour
// solicitations (a global address first, a link-local one else), and,
// for a global one, a connected route. Link-local networks are on every
// port alike, so they make no route.
func (b *site) addr6(p *dataplane.Port, a netip.Prefix) {
	ip := a.Addr()
	b.local6[ip.As16()] = true
	if !p.Addr6.IsValid() || p.Addr6.IsLinkLocalUnicast() && !ip.IsLinkLocalUnicast() {
		p.Addr6 = ip
	}
	if !ip.IsLinkLocalUnicast() {
		b.kernelRoutes = append(b.kernelRoutes, dataplane.Route{Prefix: a.Masked(), Port: p.Index})
	}
}

// planNAT6 adds, for a NAT site with nat_router6, the owned address on
// its port and a route to its network (nat_nmask6, /64 when unset).
func (s *site) planNAT6(c *config.Config, port func(string) (int, error)) error {
	if c.Network != config.NetworkNAT || !c.NATRouter6.Is6() {
		return nil
	}
	i, err := port(c.NATRouter6Device)
	if err != nil {
		return err
	}
	s.owned[c.NATRouter6] = i
	bits := 64
	if c.NATNetmask6.IsValid() {
		bits = c.NATNetmask6.Bits()
	}
	s.routes = append(s.routes, dataplane.Route{Prefix: netip.PrefixFrom(c.NATRouter6, bits).Masked(), Port: i})
	return nil
}

// lookupRoute finds the port and next hop of a, of either family.
func lookupRoute(rs *dataplane.Routes, a netip.Addr) (int, netip.Addr, bool) {
	if a.Is4() {
		port, hop, ok := rs.Lookup(a.As4())
		return port, netip.AddrFrom4(hop), ok
	}
	return rs.Lookup6(a)
}
