package daemon

import (
	"fmt"
	"net"
	"net/netip"
	"slices"

	"lvs/config"
	"lvs/dataplane"
	"lvs/frame"
	"lvs/nat"
	"lvs/neigh"
)

// iface is what lvsd needs to know of one of the router's interfaces.
type iface struct {
	name   string
	index  int
	mac    frame.MAC
	mtu    int
	addrs  []netip.Prefix    // the kernel's own addresses on it
	routes []dataplane.Route // the kernel's routes through it (Port unset)
}

// lookupIface reads an interface of the router's namespace.
func lookupIface(name string) (iface, error) {
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return iface{}, fmt.Errorf("looking up interface %s: %w", name, err)
	}
	if len(ifi.HardwareAddr) != 6 {
		return iface{}, fmt.Errorf("interface %s has no Ethernet address", name)
	}
	out := iface{name: name, index: ifi.Index, mac: frame.MAC(ifi.HardwareAddr), mtu: ifi.MTU}
	addrs, err := ifi.Addrs()
	if err != nil {
		return iface{}, fmt.Errorf("reading addresses of %s: %w", name, err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			ip, ok := netip.AddrFromSlice(n.IP)
			ones, _ := n.Mask.Size()
			if ok && (ip.Unmap().Is4() || ip.Is6()) {
				out.addrs = append(out.addrs, netip.PrefixFrom(ip.Unmap(), ones)) // IPv6 ones too (site6.go)
			}
		}
	}
	if out.routes, err = kernelRoutes(ifi.Index); err != nil {
		return iface{}, err
	}
	return out, nil
}

// site is the router's view of lvs.cf: which interfaces the dataplane
// serves, what it owns on each, and where the real servers are.
type site struct {
	ports  []*dataplane.Port
	owned  map[netip.Addr]int
	routes []dataplane.Route
	local  map[[4]byte]bool
	local6 map[[16]byte]bool    // the router's own IPv6 addresses on the ports (site6.go)
	reals  map[int][]netip.Addr // neighbours to keep resolved, per port: real servers and gateways
	// kernelRoutes are the router's own addresses and routes on the ports.
	kernelRoutes []dataplane.Route
	// realServers are the active real servers and sorry servers of lvs.cf.
	realServers []netip.Addr
	// wake is poked by the ports' neighbour tables when the control loop
	// has neighbour work: an address the packet path asked to resolve, or
	// a MAC that held frames wait for (links.go).
	wake chan struct{}
}

// interfaceNames lists the interfaces lvs.cf puts addresses on: every
// active VIP's device and the nat_router and nat_router6 devices, as base
// names ("eth0").
func interfaceNames(c *config.Config) []string {
	var names []string
	for _, v := range c.Virtuals {
		if v.Active && v.Interface() != "" {
			names = append(names, v.Interface())
		}
	}
	if c.Network == config.NetworkNAT && c.NATRouterInterface() != "" {
		names = append(names, c.NATRouterInterface())
	}
	if c.Network == config.NetworkNAT && c.NATRouter6.IsValid() && c.NATRouter6Interface() != "" {
		names = append(names, c.NATRouter6Interface())
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// buildSite works out ports, ownership and routes from the configuration
// and the interfaces (looked up by look, so tests can fake the host).
func buildSite(c *config.Config, look func(string) (iface, error), all []netip.Prefix) (*site, error) {
	names := interfaceNames(c)
	if len(names) == 0 {
		return nil, fmt.Errorf("no active virtual server names an interface (address = IP DEV)")
	}
	base := &site{local: map[[4]byte]bool{}, local6: map[[16]byte]bool{}, wake: make(chan struct{}, 1)}
	for _, n := range names {
		ifc, err := look(n)
		if err != nil {
			return nil, err
		}
		base.addPort(ifc)
	}
	base.addLocal(all)
	return base.plan(c)
}

// addPort appends a port for interface ifc, with its addresses and the
// kernel's routes through it.
func (b *site) addPort(ifc iface) {
	i := len(b.ports)
	p := &dataplane.Port{Index: i, Name: ifc.name, Ifindex: ifc.index, MAC: ifc.mac, MTU: ifc.mtu, Neigh: neigh.New()}
	p.Neigh.SetWake(b.wake)
	for _, a := range ifc.addrs {
		if a.Addr().Is6() {
			b.addr6(p, a) // site6.go
			continue
		}
		if !p.Addr.IsValid() {
			p.Addr = a.Addr()
		}
		b.kernelRoutes = append(b.kernelRoutes, dataplane.Route{Prefix: a.Masked(), Port: i})
	}
	for _, r := range ifc.routes {
		r.Port = i
		b.kernelRoutes = append(b.kernelRoutes, r)
	}
	b.ports = append(b.ports, p)
}

// addLocal records the router's own addresses, all.
func (b *site) addLocal(all []netip.Prefix) {
	for _, a := range all {
		if a.Addr().Is4() {
			b.local[a.Addr().As4()] = true
		} else {
			b.local6[a.Addr().As16()] = true
		}
	}
}

// plan works out, for configuration c on the site's existing ports, the
// owned addresses, the routes and the neighbours to keep resolved. It
// returns a new site sharing the ports (and their neighbour tables), so a
// reload keeps what was learned. Interfaces lvs.cf names that lvsd does not
// serve are reported; a reload adds their ports first (grownSite, ports.go).
func (b *site) plan(c *config.Config) (*site, error) {
	s := &site{ports: b.ports, local: b.local, local6: b.local6, kernelRoutes: b.kernelRoutes, wake: b.wake,
		owned: map[netip.Addr]int{}, reals: map[int][]netip.Addr{}}
	byName := map[string]int{}
	for _, p := range s.ports {
		byName[p.Name] = p.Index
	}
	port := func(dev string) (int, error) {
		i, ok := byName[config.BaseInterface(dev)]
		if !ok {
			return 0, fmt.Errorf("interface %s is not one lvsd serves (%v)", dev, s.names())
		}
		return i, nil
	}
	s.routes = append(s.routes, s.kernelRoutes...)
	for _, r := range s.kernelRoutes {
		if r.Via.IsValid() {
			s.reals[r.Port] = append(s.reals[r.Port], r.Via) // keep gateways resolved too
		}
	}
	for _, v := range c.Virtuals {
		if v.Active && v.Address.IsValid() {
			i, err := port(v.Device)
			if err != nil {
				return nil, err
			}
			s.owned[v.Address] = i
		}
	}
	if c.Network == config.NetworkNAT && c.NATRouter.IsValid() {
		i, err := port(c.NATRouterDevice)
		if err != nil {
			return nil, err
		}
		s.owned[c.NATRouter] = i
		bits := 24
		if c.NATNetmask.IsValid() {
			bits = c.NATNetmask.Bits()
		}
		s.routes = append(s.routes, dataplane.Route{Prefix: netip.PrefixFrom(c.NATRouter, bits).Masked(), Port: i})
	}
	if err := s.planNAT6(c, port); err != nil { // site6.go
		return nil, err
	}
	if err := s.planReals(c); err != nil {
		return nil, err
	}
	return s, nil
}

// planReals finds the port and next hop of every active real server.
func (s *site) planReals(c *config.Config) error {
	routes := dataplane.NewRoutes(s.routes)
	for _, v := range c.Virtuals {
		if !v.Active {
			continue
		}
		for _, r := range v.Servers {
			if !r.Active || !r.Address.IsValid() {
				continue
			}
			port, hop, ok := lookupRoute(routes, r.Address) // site6.go
			if !ok {
				return fmt.Errorf("real server %s (%s in virtual %s) is on none of lvsd's interfaces %v",
					r.Address, r.Name, v.Name, s.names())
			}
			s.reals[port] = append(s.reals[port], hop)
			s.realServers = append(s.realServers, r.Address)
		}
		// A sorry server answers like a real server (the kernel must not
		// forward its NAT replies too), but is resolved only when lvsd
		// activates it and the first packet misses (dataplane/neighqueue.go).
		if v.SorryServer.IsValid() {
			s.realServers = append(s.realServers, v.SorryServer)
		}
	}
	for p, rs := range s.reals {
		slices.SortFunc(rs, func(a, b netip.Addr) int { return a.Compare(b) })
		s.reals[p] = slices.Compact(rs)
	}
	return nil
}

// names lists the site's interfaces.
func (s *site) names() []string {
	var out []string
	for _, p := range s.ports {
		out = append(out, p.Name)
	}
	return out
}

// resolve tells each port's neighbour table what to keep resolved.
func (s *site) resolve() {
	for _, p := range s.ports {
		p.Neigh.Want(s.reals[p.Index])
	}
}

// guardSpec is the kernel guard for this site. Gateways are kept resolved
// like real servers but are not real servers: the guard must not drop what
// they forward to the router itself.
func (s *site) guardSpec(r *config.Rules) GuardSpec {
	g := GuardSpec{}
	for _, p := range s.ports {
		g.Interfaces = append(g.Interfaces, p.Name)
	}
	for a := range s.owned {
		g.Owned = append(g.Owned, a)
	}
	for _, a := range s.realServers {
		g.Reals = append(g.Reals, netip.PrefixFrom(a, a.BitLen()))
	}
	// Hosts whose connections lvsd masquerades: the kernel must not
	// forward them as well, unmasqueraded, when ip_forward is on. A rule
	// without a source is left out (it would take every forwarded packet
	// from the kernel); its real servers are covered above.
	if r != nil {
		for _, m := range r.Masquerades {
			if m.Src.IsValid() {
				g.Reals = append(g.Reals, m.Src.Masked())
			}
		}
	}
	for a := range s.local {
		g.Local = append(g.Local, netip.AddrFrom4(a))
	}
	for a := range s.local6 {
		g.Local = append(g.Local, netip.AddrFrom16(a))
	}
	return g
}

// natState compiles what the dataplane needs beyond virtual services: the
// masquerade rules of lvs.cf's masquerade blocks and the iptables-save file
// (the guide's `-j MASQUERADE`, §3.5) and the services with ftp_helper on.
// A masqueraded connection comes from the VIP of a virtual server its real
// server belongs to (a port-21 one first, so an active FTP data connection
// comes from the address the client connected to), and from any other
// source host from the first VIP on the egress port. It returns nil when
// there is nothing to do, which keeps those paths out of the packet path.
func natState(c *config.Config, r *config.Rules, s *site) *dataplane.NAT {
	n := &dataplane.NAT{}
	if c.Network == config.NetworkNAT {
		for _, v := range c.Virtuals {
			if v.Active && v.FTPHelper && v.Protocol != config.ProtoUDP {
				n.FTP = append(n.FTP, netip.AddrPortFrom(v.Address, v.Port))
			}
		}
	}
	var rules []nat.Rule
	if r != nil {
		for _, m := range r.Masquerades {
			rules = append(rules, nat.Rule{Proto: uint8(m.Proto), Src: m.Src, Dst: m.Dst,
				SPortLo: m.SPortLo, SPortHi: m.SPortHi, DPortLo: m.DPortLo, DPortHi: m.DPortHi, OutPort: s.ruleIface(m.Iface), IPv6: m.IPv6})
		}
	}
	if len(rules) == 0 && len(n.FTP) == 0 {
		return nil
	}
	bySource := map[netip.Addr]netip.Addr{}
	byPort, byPort6 := make([]netip.Addr, len(s.ports)), make([]netip.Addr, len(s.ports))
	for _, ftpFirst := range []bool{true, false} {
		for _, v := range c.Virtuals {
			if !v.Active || (v.Port == 21) != ftpFirst {
				continue
			}
			ports := byPort
			if v.Address.Is6() {
				ports = byPort6
			}
			if i, ok := s.owned[v.Address]; ok && i < len(ports) && !ports[i].IsValid() {
				ports[i] = v.Address
			}
			for _, rs := range v.Servers {
				if _, seen := bySource[rs.Address]; rs.Active && rs.Address.Is6() == v.Address.Is6() && !seen {
					bySource[rs.Address] = v.Address
				}
			}
		}
	}
	n.Masq = nat.NewMasquerade(rules, bySource, byPort, byPort6)
	return n
}

// ruleIface is the port of a rule's interface (-i of a MARK rule, -o of a
// MASQUERADE rule) for the dataplane: -1 for any interface, -2 for one lvsd
// does not serve (the rule never matches).
func (s *site) ruleIface(iface string) int {
	if iface == "" {
		return -1
	}
	for _, p := range s.ports {
		if p.Name == config.BaseInterface(iface) {
			return p.Index
		}
	}
	return -2
}
