package dataplane

import "net/netip"

// route6 is one IPv6 route of Routes. IPv6 routes are as few as IPv4 ones
// (the real servers' segments, a default route), so a linear scan of
// prefixes, most specific first, serves them too.
type route6 struct {
	prefix netip.Prefix // masked
	port   int
	via    netip.Addr // invalid: on the segment
}

// add6 appends IPv6 route r; NewRoutes calls it in most-specific-first
// order.
func (rs *Routes) add6(r Route) {
	a := r.Prefix.Addr()
	if !a.Is6() || a.Is4In6() {
		return
	}
	rt := route6{prefix: r.Prefix.Masked(), port: r.Port}
	if r.Via.Is6() && !r.Via.Is4In6() {
		rt.via = r.Via
	}
	rs.r6 = append(rs.r6, rt)
}

// Lookup6 is Lookup for an IPv6 address: the port that reaches ip and the
// next hop on it, ip itself when it is on the segment, else the route's
// gateway (which may be a link-local address, as IPv6 routers' are).
func (rs *Routes) Lookup6(ip netip.Addr) (port int, hop netip.Addr, ok bool) {
	if rs == nil {
		return 0, ip, false
	}
	for i := range rs.r6 {
		r := &rs.r6[i]
		if r.prefix.Contains(ip) {
			if r.via.IsValid() {
				return r.port, r.via, true
			}
			return r.port, ip, true
		}
	}
	return 0, ip, false
}
