package sim

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"lvs/internal/netlab"
)

// IPv6 in a site (issue 18): a segment may carry an IPv6 network beside
// its IPv4 one (subnet6), nodes take IPv6 addresses and routes like IPv4
// ones, a traffic step goes from the client addresses of its target's
// family, an interface may have a smaller MTU (a path where an IPv6 router
// must send packet-too-big, never fragment), and a ping step checks that
// an address answers ICMP or ICMPv6 echo.

// FaultPing is a check step run like a fault: `{kind: ping, target: NODE,
// to: ADDR}` passes when ADDR answers an echo request from NODE (ping for
// IPv4, ping6 for IPv6) within three tries of a second each.
const FaultPing FaultKind = "ping"

// Contains reports whether a is inside the segment's IPv4 or IPv6 network.
func (s *Segment) Contains(a netip.Addr) bool {
	return s.Subnet.Contains(a) || s.Subnet6.IsValid() && s.Subnet6.Contains(a)
}

// subnets names the segment's networks for messages.
func (s *Segment) subnets() string {
	if s.Subnet6.IsValid() {
		return s.Subnet.String() + ", " + s.Subnet6.String()
	}
	return s.Subnet.String()
}

// hasIPv6 reports whether the node has an IPv6 address.
func (n *Node) hasIPv6() bool {
	for _, i := range n.Interfaces {
		for _, a := range i.Addresses {
			if a.Addr().Is6() {
				return true
			}
		}
	}
	return false
}

// noDAD turns duplicate address detection off in a node namespace before
// its interfaces exist: the site's addresses are unique by construction,
// and an address under DAD cannot be bound for a second or more.
func noDAD(n *netlab.NS) error {
	for _, k := range []string{"net.ipv6.conf.all.accept_dad", "net.ipv6.conf.default.accept_dad"} {
		if err := n.Sysctl(k, "0"); err != nil {
			return err
		}
	}
	return nil
}

// setMTU sets the MTU of interface ifname in n.
func setMTU(n *netlab.NS, ifname string, mtu int) error {
	l, err := n.Link(ifname)
	if err != nil {
		return err
	}
	if err := n.Netlink().LinkSetMTU(l, mtu); err != nil {
		return fmt.Errorf("setting the MTU of %s in %s to %d: %w", ifname, n.Name, mtu, err)
	}
	return nil
}

// settle6 waits until no IPv6 address of the site is tentative: even
// without DAD an address is tentative until its link has a carrier, and
// a process cannot bind it meanwhile.
func (s *Site) settle6() error {
	for _, node := range s.Topo.Nodes {
		if !node.hasIPv6() {
			continue
		}
		h := s.nodes[node.Name].Netlink()
		err := netlab.WaitFor(context.Background(), 10*time.Second, nil, func() error {
			addrs, err := h.AddrList(nil, netlink.FAMILY_V6)
			if err != nil {
				return err
			}
			for _, a := range addrs {
				if a.Flags&unix.IFA_F_TENTATIVE != 0 {
					return fmt.Errorf("%v of %s is tentative", a.IPNet, node.Name)
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

// pingStep runs a ping step from node to dst.
func (s *Site) pingStep(node string, dst netip.Addr) (string, error) {
	if err := s.ping(node, dst); err != nil {
		return "", err
	}
	return fmt.Sprintf("%s answered an echo request from %s", dst, node), nil
}

// curlTarget returns curl's last arguments for a traffic step: the URL,
// by address (http://[2001:db8::10]:80/) or, with a host name, by name
// with --resolve giving the name every address of Resolve, and -4 or -6
// choosing the family of To, as a user's curl -4/-6 picks the A or the
// AAAA record of one name.
func curlTarget(tr *Traffic) []string {
	if tr.Host == "" {
		return []string{fmt.Sprintf("http://%s%s", tr.To, tr.Path)}
	}
	family := "-4"
	if tr.To.Addr().Is6() {
		family = "-6"
	}
	addrs := make([]string, 0, len(tr.Resolve))
	for _, a := range tr.Resolve {
		if a.Is6() {
			addrs = append(addrs, "["+a.String()+"]")
		} else {
			addrs = append(addrs, a.String())
		}
	}
	port := fmt.Sprint(tr.To.Port())
	return []string{family, "--resolve", tr.Host + ":" + port + ":" + strings.Join(addrs, ","),
		fmt.Sprintf("http://%s:%s%s", tr.Host, port, tr.Path)}
}

// validateHost checks a traffic step's host and resolve (curl only; the
// name must resolve to the address of to) and that its clients have an
// address of to's family.
func validateHost(at func(int, string, ...any), s *Step, nodes map[string]*Node) {
	tr := s.Traffic
	switch {
	case tr.Host == "" && len(tr.Resolve) > 0:
		at(s.Line, "resolve: give host too (the name the addresses are for)")
	case tr.Host != "" && tr.Client != "curl":
		at(s.Line, "host %s: only client curl resolves a name (add client: curl)", tr.Host)
	case tr.Host != "" && !slices.Contains(tr.Resolve, tr.To.Addr()):
		at(s.Line, "host %s: resolve must hold the address of to (%v), got %v", tr.Host, tr.To.Addr(), tr.Resolve)
	}
	for _, f := range tr.From {
		n := nodes[f]
		if n == nil || !tr.To.IsValid() {
			continue
		}
		if !slices.ContainsFunc(n.Interfaces, func(i *Interface) bool {
			return slices.ContainsFunc(i.Addresses, func(a netip.Prefix) bool { return a.Addr().Is4() == tr.To.Addr().Is4() })
		}) {
			at(s.Line, "traffic from %s to %v: %s has no address of that family", f, tr.To, f)
		}
	}
}
