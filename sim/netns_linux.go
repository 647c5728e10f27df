package sim

import (
	"context"
	"fmt"
	"net"
	"net/netip"

	"lvs/internal/netlab"
)

// buildNetwork creates the switch namespace with one bridge per segment,
// then every node namespace with its veths, addresses, routes and sysctls.
func (s *Site) buildNetwork() error {
	sw, err := s.lab.NS("sw")
	if err != nil {
		return err
	}
	s.sw = sw
	bridges := map[string]string{}
	for i, seg := range s.Topo.Segments {
		br := fmt.Sprintf("%sb%d", s.linkPrefix, i)
		if err := sw.Bridge(br); err != nil {
			return fmt.Errorf("segment %s: %w", seg.Name, err)
		}
		bridges[seg.Name] = br
	}
	veth := 0
	for _, node := range s.Topo.Nodes {
		n, err := s.lab.NS(node.Name)
		if err != nil {
			return err
		}
		s.nodes[node.Name] = n
		if err := noDAD(n); err != nil { // ipv6.go
			return fmt.Errorf("node %s: %w", node.Name, err)
		}
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
	return s.settle6() // ipv6.go
}

// plug creates a veth pair inside the switch namespace whose peer is born
// in the node namespace under the topology's name (eth0), so nothing is
// ever created in the host's namespace.
func (s *Site) plug(n *netlab.NS, ifc *Interface, br string, k int) error {
	name := fmt.Sprintf("%sv%d", s.linkPrefix, k)
	if err := s.sw.Veth(name, n, ifc.Name); err != nil {
		return err
	}
	if err := s.sw.Attach(br, name); err != nil {
		return err
	}
	for _, a := range ifc.Addresses {
		if err := n.AddAddr(ifc.Name, a); err != nil {
			return err
		}
	}
	if ifc.MTU > 0 {
		if err := setMTU(n, ifc.Name, ifc.MTU); err != nil { // ipv6.go
			return err
		}
	}
	return n.Up(ifc.Name)
}

// configureNode sets sysctls, loopback addresses and routes of one node.
func (s *Site) configureNode(node *Node, n *netlab.NS) error {
	if node.Forward {
		node.Sysctls["net.ipv4.ip_forward"] = "1"
		if node.hasIPv6() { // ipv6.go
			node.Sysctls["net.ipv6.conf.all.forwarding"] = "1"
		}
	}
	if err := s.setupIPIP(node, n); err != nil { // before the sysctls: they may name tunl0
		return err
	}
	for k, v := range node.Sysctls {
		if err := n.Sysctl(k, v); err != nil {
			return err
		}
	}
	for _, a := range node.Loopback {
		if err := n.AddAddr("lo", a); err != nil {
			return err
		}
	}
	for _, r := range node.Routes {
		dst := r.To
		if r.Default {
			dst = netip.Prefix{}
		}
		if err := n.AddRoute(dst, r.Via); err != nil {
			return err
		}
	}
	return s.setupRedirect(context.Background(), node)
}

// node returns the namespace of a node.
func (s *Site) node(name string) (*netlab.NS, error) {
	if n := s.nodes[name]; n != nil {
		return n, nil
	}
	return nil, fmt.Errorf("unknown node %s", name)
}

// realMACs maps each real server address to its interface's MAC.
func (s *Site) realMACs() (map[netip.Addr]net.HardwareAddr, error) {
	out := map[netip.Addr]net.HardwareAddr{}
	for _, node := range s.Topo.Nodes {
		if node.Role != RoleReal {
			continue
		}
		for _, ifc := range node.Interfaces {
			mac, err := s.nodes[node.Name].MAC(ifc.Name)
			if err != nil {
				return nil, err
			}
			for _, a := range ifc.Addresses {
				out[a.Addr()] = mac
			}
		}
	}
	return out, nil
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
		if st, err := s.nodes[r.Name].Stats(i.Name); err == nil {
			n += int64(st.TxBytes)
		}
	}
	return n
}
