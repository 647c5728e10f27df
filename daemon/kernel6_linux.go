package daemon

import (
	"fmt"
	"net/netip"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// sets6 are the IPv6 sets of an installed guard table.
type sets6 struct {
	owned, reals, local *nftables.Set
}

// addSets6 queues the guard's IPv6 sets, as `nft -f` sends the rendering
// of writeSets6.
func (g guard6) addSets6(c *nftables.Conn, tab *nftables.Table) (sets6, error) {
	s := sets6{
		owned: &nftables.Set{Table: tab, Name: "owned6", KeyType: nftables.TypeIP6Addr, KeyByteOrder: binaryutil.BigEndian},
		reals: &nftables.Set{Table: tab, Name: "reals6", KeyType: nftables.TypeIP6Addr, KeyByteOrder: binaryutil.BigEndian, Interval: true},
		local: &nftables.Set{Table: tab, Name: "local6", KeyType: nftables.TypeIP6Addr, KeyByteOrder: binaryutil.BigEndian, Interval: true},
	}
	for _, e := range []struct {
		set   *nftables.Set
		elems []nftables.SetElement
	}{
		{s.owned, addrElements(g.Owned6)},
		{s.reals, intervalElements6(g.Reals6)},
		{s.local, intervalElements6(g.Local6)},
	} {
		if err := c.AddSet(e.set, e.elems); err != nil {
			return sets6{}, fmt.Errorf("building set %s: %w", e.set.Name, err)
		}
	}
	return s, nil
}

// addRules6 queues chain ch's IPv6 rules, as writeRules6 renders them.
func (s sets6) addRules6(c *nftables.Conn, tab *nftables.Table, ch *nftables.Chain) {
	// ip6 daddr @owned6 counter meta mark set GuardMark meta pkttype set other
	c.AddRule(&nftables.Rule{Table: tab, Chain: ch, UserData: comment(commentOwned), Exprs: append([]expr.Any{
		metaProtocol(), isIPv6(),
		ipv6Field(ipv6DaddrOffset),
		&expr.Lookup{SourceRegister: 1, SetName: s.owned.Name, SetID: s.owned.ID},
		&expr.Counter{},
	}, hideExprs()...)})
	// ip6 saddr @reals6 ip6 daddr != @local6 counter (the same)
	c.AddRule(&nftables.Rule{Table: tab, Chain: ch, UserData: comment(commentReals), Exprs: append([]expr.Any{
		metaProtocol(), isIPv6(),
		ipv6Field(ipv6SaddrOffset),
		&expr.Lookup{SourceRegister: 1, SetName: s.reals.Name, SetID: s.reals.ID},
		ipv6Field(ipv6DaddrOffset),
		&expr.Lookup{SourceRegister: 1, SetName: s.local.Name, SetID: s.local.ID, Invert: true},
		&expr.Counter{},
	}, hideExprs()...)})
}

// Offsets of the addresses in the IPv6 header.
const (
	ipv6SaddrOffset = 8
	ipv6DaddrOffset = 24
)

// isIPv6 is the dependency nft adds before an `ip6` match in the netdev
// family: meta protocol ip6.
func isIPv6() *expr.Cmp {
	return &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(unix.ETH_P_IPV6)}
}

// ipv6Field loads the 16-byte address at off in the IPv6 header into
// register 1.
func ipv6Field(off uint32) *expr.Payload {
	return &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: 16}
}

// intervalElements6 is intervalElements for IPv6 prefixes: an end at ::
// opens the set when the first interval starts later, and an interval
// reaching ffff:…:ffff has no end.
func intervalElements6(ps []netip.Prefix) []nftables.SetElement {
	var out []nftables.SetElement
	if len(ps) > 0 && ps[0].Addr() != netip.IPv6Unspecified() {
		out = append(out, nftables.SetElement{Key: netip.IPv6Unspecified().AsSlice(), IntervalEnd: true})
	}
	for _, p := range ps {
		out = append(out, nftables.SetElement{Key: p.Addr().AsSlice()})
		if next := lastAddr6(p).Next(); next.IsValid() {
			out = append(out, nftables.SetElement{Key: next.AsSlice(), IntervalEnd: true})
		}
	}
	return out
}
