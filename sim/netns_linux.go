package sim

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// nsNode is a node's namespace as built.
type nsNode struct {
	name string // namespace name: PREFIX + node
	ns   netns.NsHandle
	h    *netlink.Handle
}

// inNS runs fn on a fresh OS thread switched into the named namespace.
// The thread is never switched back: its goroutine exits locked, so the
// runtime discards the thread and no other goroutine can run in the wrong
// namespace. Sockets created by fn stay in that namespace.
func inNS(ns netns.NsHandle, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		if err := netns.Set(ns); err != nil {
			errc <- fmt.Errorf("entering namespace: %w", err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// newNamedNS creates the namespace /run/netns/name without touching the
// calling thread.
func newNamedNS(name string) (netns.NsHandle, error) {
	var h netns.NsHandle
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // NewNamed switches this thread; it dies with the goroutine
		var err error
		h, err = netns.NewNamed(name)
		errc <- err
	}()
	if err := <-errc; err != nil {
		return 0, fmt.Errorf("creating namespace %s: %w", name, err)
	}
	return h, nil
}

// openNS creates a node's namespace with a netlink handle into it and lo up.
func (s *Site) openNS(node string) (*nsNode, error) {
	name := s.Prefix + node
	s.state.addNamespace(name)
	if err := s.saveState(); err != nil {
		return nil, err
	}
	ns, err := newNamedNS(name)
	if err != nil {
		return nil, err
	}
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		ns.Close()
		return nil, fmt.Errorf("netlink handle in %s: %w", name, err)
	}
	n := &nsNode{name: name, ns: ns, h: h}
	lo, err := h.LinkByName("lo")
	if err == nil {
		err = h.LinkSetUp(lo)
	}
	if err != nil {
		n.close()
		return nil, fmt.Errorf("bringing up lo in %s: %w", name, err)
	}
	return n, nil
}

func (n *nsNode) close() {
	if n.h != nil {
		n.h.Close()
	}
	n.ns.Close()
}

// buildNetwork creates the switch namespace with one bridge per segment,
// then every node namespace with its veths, addresses, routes and sysctls.
func (s *Site) buildNetwork() error {
	sw, err := s.openNS("sw")
	if err != nil {
		return err
	}
	s.sw = sw
	bridges := map[string]netlink.Link{}
	for i, seg := range s.Topo.Segments {
		br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: fmt.Sprintf("%sb%d", s.linkPrefix, i)}}
		if err := sw.h.LinkAdd(br); err != nil {
			return fmt.Errorf("creating bridge for segment %s: %w", seg.Name, err)
		}
		if err := sw.h.LinkSetUp(br); err != nil {
			return fmt.Errorf("bringing up bridge %s: %w", br.Name, err)
		}
		bridges[seg.Name] = br
	}
	veth := 0
	for _, node := range s.Topo.Nodes {
		n, err := s.openNS(node.Name)
		if err != nil {
			return err
		}
		s.nodes[node.Name] = n
		for _, ifc := range node.Interfaces {
			veth++
			if err := s.plug(n, ifc, bridges[ifc.Segment], veth); err != nil {
				return fmt.Errorf("node %s interface %s: %w", node.Name, ifc.Name, err)
			}
		}
		if err := s.configureNode(node, n); err != nil {
			return fmt.Errorf("node %s: %w", node.Name, err)
		}
	}
	return nil
}

// plug creates a veth pair inside the switch namespace whose peer is born
// in the node namespace under the topology's name (eth0), so nothing is
// ever created in the host's namespace.
func (s *Site) plug(n *nsNode, ifc *Interface, br netlink.Link, k int) error {
	v := &netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: fmt.Sprintf("%sv%d", s.linkPrefix, k)},
		PeerName:      ifc.Name,
		PeerNamespace: netlink.NsFd(int(n.ns)),
	}
	if err := s.sw.h.LinkAdd(v); err != nil {
		return fmt.Errorf("creating veth %s: %w", v.Name, err)
	}
	swEnd, err := s.sw.h.LinkByName(v.Name)
	if err != nil {
		return fmt.Errorf("finding veth %s: %w", v.Name, err)
	}
	if err := s.sw.h.LinkSetMaster(swEnd, br); err != nil {
		return fmt.Errorf("attaching %s to its bridge: %w", v.Name, err)
	}
	if err := s.sw.h.LinkSetUp(swEnd); err != nil {
		return fmt.Errorf("bringing up %s: %w", v.Name, err)
	}
	in, err := n.h.LinkByName(ifc.Name)
	if err != nil {
		return fmt.Errorf("finding %s in the node: %w", ifc.Name, err)
	}
	for _, a := range ifc.Addresses {
		if err := n.h.AddrAdd(in, &netlink.Addr{IPNet: ipnet(a)}); err != nil {
			return fmt.Errorf("adding %v: %w", a, err)
		}
	}
	if err := n.h.LinkSetUp(in); err != nil {
		return fmt.Errorf("bringing up: %w", err)
	}
	return nil
}

// configureNode sets sysctls, loopback addresses and routes of one node.
func (s *Site) configureNode(node *Node, n *nsNode) error {
	if node.Forward {
		node.Sysctls["net.ipv4.ip_forward"] = "1"
	}
	if err := s.setupIPIP(node, n); err != nil { // before the sysctls: they may name tunl0
		return err
	}
	for k, v := range node.Sysctls {
		if err := s.sysctl(node.Name, k, v); err != nil {
			return err
		}
	}
	lo, err := n.h.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("finding lo: %w", err)
	}
	for _, a := range node.Loopback {
		if err := n.h.AddrAdd(lo, &netlink.Addr{IPNet: ipnet(a)}); err != nil {
			return fmt.Errorf("adding %v to lo: %w", a, err)
		}
	}
	for _, r := range node.Routes {
		rt := &netlink.Route{Gw: r.Via.AsSlice()}
		if !r.Default {
			rt.Dst = ipnet(r.To.Masked())
		}
		if err := n.h.RouteAdd(rt); err != nil {
			return fmt.Errorf("route to %v via %v: %w", routeDst(r), r.Via, err)
		}
	}
	return s.setupRedirect(context.Background(), node)
}

func routeDst(r *Route) string {
	if r.Default {
		return "default"
	}
	return r.To.String()
}

func ipnet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), 32)}
}

// sysctl writes a net.* sysctl inside a node's namespace: /proc/sys/net
// shows the namespace of the thread that opens it.
func (s *Site) sysctl(node, key, val string) error {
	n := s.nodes[node]
	if n == nil {
		return fmt.Errorf("sysctl %s: unknown node %s", key, node)
	}
	path := filepath.Join("/proc/sys", strings.ReplaceAll(key, ".", "/"))
	return inNS(n.ns, func() error {
		if err := os.WriteFile(path, []byte(val), 0o644); err != nil {
			return fmt.Errorf("sysctl %s=%s on %s: %w", key, val, node, err)
		}
		return nil
	})
}

// addAddr adds an address to an interface of a node.
func (s *Site) addAddr(node, ifname string, a netip.Prefix) error {
	n := s.nodes[node]
	l, err := n.h.LinkByName(ifname)
	if err != nil {
		return fmt.Errorf("finding %s on %s: %w", ifname, node, err)
	}
	return n.h.AddrAdd(l, &netlink.Addr{IPNet: ipnet(a)})
}

// setLink sets a node's interface up or down.
func (s *Site) setLink(node, ifname string, up bool) error {
	n := s.nodes[node]
	if n == nil {
		return fmt.Errorf("unknown node %s", node)
	}
	l, err := n.h.LinkByName(ifname)
	if err != nil {
		return fmt.Errorf("finding %s on %s: %w", ifname, node, err)
	}
	if up {
		return n.h.LinkSetUp(l)
	}
	return n.h.LinkSetDown(l)
}

// linkMAC returns the MAC address of a node's interface.
func (s *Site) linkMAC(node, ifname string) (net.HardwareAddr, error) {
	l, err := s.nodes[node].h.LinkByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("finding %s on %s: %w", ifname, node, err)
	}
	return l.Attrs().HardwareAddr, nil
}

// realMACs maps each real server address to its interface's MAC.
func (s *Site) realMACs() (map[netip.Addr]net.HardwareAddr, error) {
	out := map[netip.Addr]net.HardwareAddr{}
	for _, node := range s.Topo.Nodes {
		if node.Role != RoleReal {
			continue
		}
		for _, ifc := range node.Interfaces {
			l, err := s.nodes[node.Name].h.LinkByName(ifc.Name)
			if err != nil {
				return nil, fmt.Errorf("finding %s on %s: %w", ifc.Name, node.Name, err)
			}
			for _, a := range ifc.Addresses {
				out[a.Addr()] = l.Attrs().HardwareAddr
			}
		}
	}
	return out, nil
}

// teardownNetwork deletes every namespace of the site; links inside them go
// with them.
func (s *Site) teardownNetwork() error {
	var errs []error
	for _, n := range s.nodes {
		n.close()
	}
	if s.sw != nil {
		s.sw.close()
	}
	for _, name := range s.state.Namespaces {
		if err := netns.DeleteNamed(name); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("deleting namespace %s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

// routerTx returns the bytes sent so far by every interface of the active
// router (the one holding lvs.cf's primary address), 0 when there is none.
func (s *Site) routerTx() int64 {
	if s.Topo.Site == nil {
		return 0
	}
	r := activeRouter(s.Topo, s.Topo.Site.Config)
	if r == nil || s.nodes[r.Name] == nil {
		return 0
	}
	var n int64
	for _, i := range r.Interfaces {
		if l, err := s.nodes[r.Name].h.LinkByName(i.Name); err == nil && l.Attrs().Statistics != nil {
			n += int64(l.Attrs().Statistics.TxBytes)
		}
	}
	return n
}
