package daemon

import (
	"fmt"
	"net/netip"

	"github.com/vishvananda/netlink"

	"lvs/dataplane"
)

// kernelRoutes returns the router's IPv4 and IPv6 routes through interface
// ifindex (main table): connected subnets and gateways, the default route
// included.
// lvsd forwards replies to clients by them, as the kernel would.
func kernelRoutes(ifindex int) ([]dataplane.Route, error) {
	link, err := netlink.LinkByIndex(ifindex)
	if err != nil {
		return nil, fmt.Errorf("reading interface %d: %w", ifindex, err)
	}
	rs, err := netlink.RouteList(link, netlink.FAMILY_V4)
	if err != nil {
		return nil, fmt.Errorf("reading routes of %s: %w", link.Attrs().Name, err)
	}
	var out []dataplane.Route
	if out, err = kernelRoutes6(link); err != nil {
		return nil, err
	}
	for _, r := range rs {
		pfx := netip.PrefixFrom(netip.IPv4Unspecified(), 0)
		if r.Dst != nil {
			a, ok := netip.AddrFromSlice(r.Dst.IP)
			ones, _ := r.Dst.Mask.Size()
			if !ok || !a.Unmap().Is4() {
				continue
			}
			pfx = netip.PrefixFrom(a.Unmap(), ones).Masked()
		}
		var via netip.Addr
		if r.Gw != nil {
			if a, ok := netip.AddrFromSlice(r.Gw); ok && a.Unmap().Is4() {
				via = a.Unmap()
			}
		}
		out = append(out, dataplane.Route{Prefix: pfx, Via: via})
	}
	return out, nil
}

// kernelRoutes6 returns the router's IPv6 routes through link (main
// table), but for link-local and multicast networks, which are on every
// interface alike. A gateway may be link-local, as IPv6 routers' usually
// are: lvsd resolves it on that interface.
func kernelRoutes6(link netlink.Link) ([]dataplane.Route, error) {
	rs, err := netlink.RouteList(link, netlink.FAMILY_V6)
	if err != nil {
		return nil, fmt.Errorf("reading IPv6 routes of %s: %w", link.Attrs().Name, err)
	}
	var out []dataplane.Route
	for _, r := range rs {
		pfx := netip.PrefixFrom(netip.IPv6Unspecified(), 0)
		if r.Dst != nil {
			a, ok := netip.AddrFromSlice(r.Dst.IP)
			ones, _ := r.Dst.Mask.Size()
			if !ok || a.Is4In6() || a.IsLinkLocalUnicast() || a.IsMulticast() {
				continue
			}
			pfx = netip.PrefixFrom(a, ones).Masked()
		}
		var via netip.Addr
		if r.Gw != nil {
			if a, ok := netip.AddrFromSlice(r.Gw); ok && a.Is6() && !a.Is4In6() {
				via = a
			}
		}
		out = append(out, dataplane.Route{Prefix: pfx, Via: via})
	}
	return out, nil
}
