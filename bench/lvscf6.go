package bench

import (
	"net/netip"

	"lvs/config"
)

// siteConfig6 is lvsd6's lvs.cf: siteConfig with an IPv6 VIP and real
// servers, the real servers' gateway in nat_router6 (IPv6 NAT has no
// nat_router) on the private side with a /64, and /64 VIP masks.
func siteConfig6(sp siteSpec) *config.Config {
	c := siteConfig(sp)
	c.NATRouter, c.NATRouterDevice, c.NATNetmask = netip.Addr{}, "", config.Netmask{}
	c.NATRouter6, c.NATRouter6Device, c.NATNetmask6 = sp.natRouter, "eth1:1", config.PrefixLen(64)
	for _, v := range c.Virtuals {
		v.VIPNetmask = config.PrefixLen(64)
	}
	return c
}
