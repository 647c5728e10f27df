package daemon

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// The guard's IPv6 half: the same two drops as for IPv4, in sets of their
// own (nftables keys a set by one address family). A real server's
// traffic to a multicast group is left to the kernel: its neighbour
// solicitations for the router's own addresses go to their
// solicited-node groups, and the kernel must answer them for the router's
// own traffic (health checks) to flow.

// guard6 is guardTable's IPv6 sets.
type guard6 struct {
	Owned6 []netip.Addr
	Reals6 []netip.Prefix // none inside another
	Local6 []netip.Prefix // the router's own addresses (/128) and ff00::/8; none inside another
}

// multicast6 is ff00::/8, every IPv6 multicast group.
var multicast6 = netip.MustParsePrefix("ff00::/8")

// guard6 normalises the IPv6 part of s.
func (s GuardSpec) guard6() guard6 {
	local := []netip.Prefix{multicast6}
	for _, a := range addrs6(s.Local) {
		local = append(local, netip.PrefixFrom(a, 128))
	}
	var reals []netip.Prefix
	for _, p := range s.Reals {
		if a := p.Addr(); a.Is6() && !a.Is4In6() {
			reals = append(reals, p)
		}
	}
	return guard6{Owned6: addrs6(s.Owned), Reals6: outermostOf(reals), Local6: outermostOf(local)}
}

// addrs6 keeps the IPv6 addresses (not IPv4-mapped ones, which addrs
// keeps), without zones, sorted and without duplicates.
func addrs6(as []netip.Addr) []netip.Addr {
	var out []netip.Addr
	for _, a := range as {
		if a.Is6() && !a.Is4In6() {
			out = append(out, a.WithZone(""))
		}
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return slices.Compact(out)
}

// writeSets6 renders the IPv6 sets as String does the IPv4 ones.
func (g guard6) writeSets6(b *strings.Builder) {
	writeTypedSet(b, "owned6", "ipv6_addr", "", addrStrings(g.Owned6))
	writeTypedSet(b, "reals6", "ipv6_addr", "interval", prefixStrings(g.Reals6))
	writeTypedSet(b, "local6", "ipv6_addr", "interval", prefixStrings(g.Local6))
}

// writeRules6 renders a chain's IPv6 rules.
func (g guard6) writeRules6(b *strings.Builder) {
	fmt.Fprintf(b, "\t\tip6 daddr @owned6 counter %s comment %q\n", guardVerdict, commentOwned)
	fmt.Fprintf(b, "\t\tip6 saddr @reals6 ip6 daddr != @local6 counter %s comment %q\n", guardVerdict, commentReals)
}

func prefixStrings(ps []netip.Prefix) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return out
}

// lastAddr6 is the highest address in the IPv6 prefix p.
func lastAddr6(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr().As16()
	for i := p.Bits(); i < 128; i++ {
		a[i/8] |= 0x80 >> (i % 8)
	}
	return netip.AddrFrom16(a)
}
