//go:build linux

package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"lvs/config"
	"lvs/internal/netlab"
)

// The IPv6 addresses of the testbed (ipv6.go), beside the IPv4 ones on the
// same interfaces: the documentation prefix 2001:db8::/32, inside the
// run's namespaces only.
var (
	client6       = netip.MustParseAddr("2001:db8:250:1::2")   // cli eth0
	directorPub6  = netip.MustParseAddr("2001:db8:250:1::1")   // dir eth0
	vip6          = netip.MustParseAddr("2001:db8:250:1::100") // klb6: on dir eth0; lvsd6: owned by lvsd
	directorPriv6 = netip.MustParseAddr("2001:db8:250:2::1")   // dir eth1
	natRouter6    = netip.MustParseAddr("2001:db8:250:2::fe")  // the real servers' IPv6 gateway
	net6Bits      = 64

	// floodNet6 holds the IPv6 flood's source addresses (flowSource): in
	// the client's /64, never the client's own address.
	floodNet6 = netip.MustParsePrefix("2001:db8:250:1:ff00::/72")
	anyNet6   = netip.MustParsePrefix("::/0")
)

// realAddr6 is real server k's (1-based) IPv6 address.
func realAddr6(k int) netip.Addr {
	a := natRouter6.As16()
	a[15] = byte(10 + k)
	return netip.AddrFrom16(a)
}

// realAddrs6 returns the IPv6 addresses of n real servers.
func realAddrs6(n int) []netip.Addr {
	out := make([]netip.Addr, n)
	for k := range out {
		out[k] = realAddr6(k + 1)
	}
	return out
}

// lbTable6 is klb6's nftables table (family ip6).
const lbTable6 = "lvsbench_lb6"

// site6 is lvsd6's lvs.cf and the kernel's rules for the same services:
// the UDP and TCP services of the IPv4 site on vip6, over the real
// servers' IPv6 addresses, nat_router6 on the private side.
func site6(servers int) *config.Config {
	return siteConfig6(siteSpec{primary: directorPub, vip: vip6, natRouter: natRouter6, reals: realAddrs6(servers), udpPort: udpPort, tcpPort: tcpPort})
}

// addAddr6 adds a/bits to ifname without duplicate address detection:
// the testbed's addresses are unique by construction, and an address
// under DAD cannot be used for a second or more.
func (n *nsNode) addAddr6(ifname string, a netip.Addr, bits int) error {
	l, err := n.link(ifname)
	if err != nil {
		return err
	}
	err = n.h.AddrAdd(l, &netlink.Addr{IPNet: netlab.IPNet(netip.PrefixFrom(a, bits)), Flags: unix.IFA_F_NODAD})
	if err != nil {
		return fmt.Errorf("adding %v/%d to %s in %s: %w", a, bits, ifname, n.name, err)
	}
	return nil
}

// neigh6 adds a permanent IPv6 neighbour entry, so no neighbour discovery
// runs during windows.
func (n *nsNode) neigh6(ifname string, a netip.Addr, mac net.HardwareAddr) error {
	l, err := n.link(ifname)
	if err != nil {
		return err
	}
	err = n.h.NeighSet(&netlink.Neigh{LinkIndex: l.Attrs().Index, Family: unix.AF_INET6,
		State: netlink.NUD_PERMANENT, IP: a.AsSlice(), HardwareAddr: mac})
	if err != nil {
		return fmt.Errorf("IPv6 neighbour %v on %s in %s: %w", a, ifname, n.name, err)
	}
	return nil
}

// forget6 deletes the IPv6 neighbour entry for a on ifname, if any.
func (n *nsNode) forget6(ifname string, a netip.Addr) error {
	l, err := n.link(ifname)
	if err != nil {
		return err
	}
	err = n.h.NeighDel(&netlink.Neigh{LinkIndex: l.Attrs().Index, Family: unix.AF_INET6, IP: a.AsSlice()})
	if err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("forgetting IPv6 neighbour %v in %s: %w", a, n.name, err)
	}
	return nil
}

// address6 gives the testbed its IPv6 half: addresses on the client's,
// the director's and the real servers' interfaces, the real servers'
// default route via nat_router6, permanent neighbours for the director's
// own addresses (as address does for IPv4), and on each real server a
// netdev-ingress rule that counts and drops the IPv6 flood. The VIP and
// nat_router6 are found by neighbour discovery, afresh before each
// contender (forgetOwned6).
func (tb *testbed) address6(ctx context.Context) error {
	steps := []func() error{
		func() error { return tb.cli.addAddr6("eth0", client6, net6Bits) },
		func() error { return tb.dirNode.addAddr6("eth0", directorPub6, net6Bits) },
		func() error { return tb.dirNode.addAddr6("eth1", directorPriv6, net6Bits) },
		func() error { return tb.dirNode.sysctl("net.ipv6.conf.all.forwarding", "0") },
		func() error { return tb.cli.neigh6("eth0", directorPub6, tb.pubMAC) },
		func() error { return tb.dirNode.neigh6("eth0", client6, tb.cliMAC) },
	}
	sink := fmt.Sprintf(`table netdev lvsbench6 {
	chain flood6 {
		type filter hook ingress device "eth0" priority 0; policy accept;
		ip6 saddr %v counter drop
	}
}
`, floodNet6)
	for k, n := range tb.rs {
		steps = append(steps,
			func() error { return n.addAddr6("eth0", realAddr6(k+1), net6Bits) },
			func() error { return n.route(anyNet6, natRouter6) },
			func() error { return n.neigh6("eth0", directorPriv6, tb.privMAC) },
			func() error {
				mac, err := n.ns.MAC("eth0")
				if err != nil {
					return err
				}
				return tb.dirNode.neigh6("eth1", realAddr6(k+1), mac)
			},
			func() error {
				if err := n.run(ctx, sink, "nft", "-f", "-"); err != nil {
					return fmt.Errorf("IPv6 flood sink: %w", err)
				}
				return nil
			},
		)
	}
	for _, f := range steps {
		if err := f(); err != nil {
			return err
		}
	}
	tb.has6 = true
	return tb.settle6(ctx)
}

// settle6 waits until no IPv6 address of the testbed is tentative (an
// address is, even without DAD, until its link has a carrier).
func (tb *testbed) settle6(ctx context.Context) error {
	for _, n := range append([]*nsNode{tb.cli, tb.dirNode}, tb.rs...) {
		err := waitFor(ctx, 10*time.Second, nil, func() error {
			addrs, err := n.h.AddrList(nil, netlink.FAMILY_V6)
			if err != nil {
				return err
			}
			for _, a := range addrs {
				if a.Flags&unix.IFA_F_TENTATIVE != 0 {
					return fmt.Errorf("%v in %s is tentative", a.IPNet, n.name)
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// forgetOwned6 is forgetOwned for IPv6: the client and the real servers
// forget the MAC of vip6 and nat_router6.
func (tb *testbed) forgetOwned6() error {
	if !tb.has6 {
		return nil
	}
	errs := []error{tb.cli.forget6("eth0", vip6)}
	for _, n := range tb.rs {
		errs = append(errs, n.forget6("eth0", natRouter6))
	}
	return errors.Join(errs...)
}

// setup6 is klb6's setup: the director owns vip6 and nat_router6, loads
// the ip6 DNAT ruleset and forwards IPv6.
func (k *kernelContender) setup6(ctx context.Context, tb *testbed) error {
	d := tb.dirNode
	if err := d.addAddr6("eth0", vip6, 128); err != nil {
		return err
	}
	if err := d.addAddr6("eth1", natRouter6, 128); err != nil {
		return err
	}
	if err := d.run(ctx, k.rules, "nft", "-f", "-"); err != nil {
		return fmt.Errorf("loading the ip6 DNAT ruleset: %w", err)
	}
	return d.sysctl("net.ipv6.conf.all.forwarding", "1")
}

// teardown6 undoes setup6 and forgets the IPv6 flows (as teardown does
// for IPv4), so the next repetition's klb6 chooses afresh.
func (k *kernelContender) teardown6(ctx context.Context, tb *testbed) error {
	d := tb.dirNode
	errs := []error{d.sysctl("net.ipv6.conf.all.forwarding", "0"), d.run(ctx, "", "nft", "delete", "table", "ip6", lbTable6)}
	// ConntrackTableFlush flushes only IPv4 (it asks with AF_INET).
	if _, err := d.h.ConntrackDeleteFilters(netlink.ConntrackTable, unix.AF_INET6, everyFlow{}); err != nil {
		errs = append(errs, fmt.Errorf("flushing IPv6 conntrack in %s: %w", d.name, err))
	}
	errs = append(errs, d.delAddr("eth0", vip6, 128), d.delAddr("eth1", natRouter6, 128))
	return errors.Join(errs...)
}

// everyFlow matches every conntrack entry.
type everyFlow struct{}

func (everyFlow) MatchConntrackFlow(*netlink.ConntrackFlow) bool { return true }
