package netlab

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Link returns the interface name of the namespace.
func (n *NS) Link(name string) (netlink.Link, error) {
	l, err := n.h.LinkByName(name)
	if err != nil {
		return nil, fmt.Errorf("finding %s in %s: %w", name, n.Name, err)
	}
	return l, nil
}

// Up sets an interface up.
func (n *NS) Up(name string) error { return n.SetUp(name, true) }

// SetUp sets an interface up or down.
func (n *NS) SetUp(name string, up bool) error {
	l, err := n.Link(name)
	if err != nil {
		return err
	}
	set, word := n.h.LinkSetUp, "up"
	if !up {
		set, word = n.h.LinkSetDown, "down"
	}
	if err := set(l); err != nil {
		return fmt.Errorf("setting %s %s in %s: %w", name, word, n.Name, err)
	}
	return nil
}

// Veth creates a veth pair in n whose peer is born in peer as peerName, so
// nothing is ever created in, or connected to, the host's namespace. Both
// ends stay down. Names must fit IFNAMSIZ (15 bytes).
func (n *NS) Veth(name string, peer *NS, peerName string) error {
	v := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: name}, PeerName: peerName,
		PeerNamespace: netlink.NsFd(int(peer.ns))}
	if err := n.h.LinkAdd(v); err != nil {
		return fmt.Errorf("creating veth %s(%s)–%s(%s): %w", name, n.Name, peerName, peer.Name, err)
	}
	return nil
}

// Bridge creates bridge name in n and sets it up, then attaches the
// interfaces ports of n to it and sets each up: one Ethernet segment for
// the namespaces whose veths end in n.
func (n *NS) Bridge(name string, ports ...string) error {
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: name}}
	if err := n.h.LinkAdd(br); err != nil {
		return fmt.Errorf("creating bridge %s in %s: %w", name, n.Name, err)
	}
	if err := n.Up(name); err != nil {
		return err
	}
	return n.Attach(name, ports...)
}

// Attach puts the interfaces ports of n on bridge br and sets them up.
func (n *NS) Attach(br string, ports ...string) error {
	b, err := n.Link(br)
	if err != nil {
		return err
	}
	for _, p := range ports {
		l, err := n.Link(p)
		if err != nil {
			return err
		}
		if err := n.h.LinkSetMaster(l, b); err != nil {
			return fmt.Errorf("attaching %s to bridge %s in %s: %w", p, br, n.Name, err)
		}
		if err := n.Up(p); err != nil {
			return err
		}
	}
	return nil
}

// AddAddr adds address a (with its prefix length) to interface ifname.
func (n *NS) AddAddr(ifname string, a netip.Prefix) error {
	l, err := n.Link(ifname)
	if err != nil {
		return err
	}
	if err := n.h.AddrAdd(l, &netlink.Addr{IPNet: IPNet(a)}); err != nil {
		return fmt.Errorf("adding %v to %s in %s: %w", a, ifname, n.Name, err)
	}
	return nil
}

// DelAddr removes address a from ifname; a missing address is fine.
func (n *NS) DelAddr(ifname string, a netip.Prefix) error {
	l, err := n.Link(ifname)
	if err != nil {
		return err
	}
	if err := n.h.AddrDel(l, &netlink.Addr{IPNet: IPNet(a)}); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) {
		return fmt.Errorf("removing %v from %s in %s: %w", a, ifname, n.Name, err)
	}
	return nil
}

// AddRoute adds a route to dst via gw; an invalid (zero) dst is the
// default route.
func (n *NS) AddRoute(dst netip.Prefix, gw netip.Addr) error {
	if err := n.h.RouteAdd(route(dst, gw)); err != nil {
		return fmt.Errorf("route to %s via %v in %s: %w", routeDst(dst), gw, n.Name, err)
	}
	return nil
}

// DelRoute deletes the route to dst via gw; a missing route is fine.
func (n *NS) DelRoute(dst netip.Prefix, gw netip.Addr) error {
	if err := n.h.RouteDel(route(dst, gw)); err != nil && !errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("removing route to %s via %v in %s: %w", routeDst(dst), gw, n.Name, err)
	}
	return nil
}

func route(dst netip.Prefix, gw netip.Addr) *netlink.Route {
	r := &netlink.Route{Gw: gw.AsSlice()}
	if dst.IsValid() {
		r.Dst = IPNet(dst.Masked())
	}
	return r
}

func routeDst(dst netip.Prefix) string {
	if !dst.IsValid() {
		return "default"
	}
	return dst.String()
}

// Neigh adds (or replaces) a permanent IPv4 neighbour entry on ifname.
func (n *NS) Neigh(ifname string, a netip.Addr, mac net.HardwareAddr) error {
	l, err := n.Link(ifname)
	if err != nil {
		return err
	}
	err = n.h.NeighSet(&netlink.Neigh{LinkIndex: l.Attrs().Index, Family: unix.AF_INET,
		State: netlink.NUD_PERMANENT, IP: a.AsSlice(), HardwareAddr: mac})
	if err != nil {
		return fmt.Errorf("neighbour %v on %s in %s: %w", a, ifname, n.Name, err)
	}
	return nil
}

// Forget deletes the neighbour entry for a on ifname, if there is one.
func (n *NS) Forget(ifname string, a netip.Addr) error {
	l, err := n.Link(ifname)
	if err != nil {
		return err
	}
	err = n.h.NeighDel(&netlink.Neigh{LinkIndex: l.Attrs().Index, Family: unix.AF_INET, IP: a.AsSlice()})
	if err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("forgetting neighbour %v in %s: %w", a, n.Name, err)
	}
	return nil
}

// MAC returns the hardware address of ifname.
func (n *NS) MAC(ifname string) (net.HardwareAddr, error) {
	l, err := n.Link(ifname)
	if err != nil {
		return nil, err
	}
	return l.Attrs().HardwareAddr, nil
}

// Stats returns the kernel's counters of ifname.
func (n *NS) Stats(ifname string) (*netlink.LinkStatistics, error) {
	l, err := n.Link(ifname)
	if err != nil {
		return nil, err
	}
	if l.Attrs().Statistics == nil {
		return nil, fmt.Errorf("%s in %s: no statistics", ifname, n.Name)
	}
	return l.Attrs().Statistics, nil
}

// IPNet converts an IPv4 or IPv6 prefix for netlink.
func IPNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}
