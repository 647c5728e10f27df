package sim

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"

	"lvs/config"
)

// kernelRouter plays the LVS router with the kernel instead of lvsd
// (lvssim --router kernel): the active router's kernel forwards with
// nftables (DNAT for NAT, netdev `fwd` for direct routing), the way the
// guide's site would with ipvsadm replaced by nft — a reference for what a
// site does without lvsd. It does not health-check, exchange heartbeats or
// fail over; steps that need those are skipped.
type kernelRouter struct {
	active string // router node the stand-in configured
	rules  string // the ruleset it loaded there
}

// StandinLabel is how reports name the kernel stand-in.
const StandinLabel = "the kernel's nftables in place of lvsd (--router kernel): forwarding only, no health checks or failover"

func (r *kernelRouter) Name() string            { return "kernel" }
func (r *kernelRouter) Label() string           { return StandinLabel }
func (r *kernelRouter) Supports(f Feature) bool { return slices.Contains(kernelFeatures, f) }
func (r *kernelRouter) Process(string) *Proc    { return nil }

// Restart fails: the stand-in has no process to start again.
func (r *kernelRouter) Restart(context.Context, *Site, string) (*Proc, error) {
	return nil, fmt.Errorf("the kernel stand-in has no router process to restart; that needs --router lvsd")
}

// Start puts the VIPs and the NAT router address on the primary router,
// turns on forwarding there and loads the nftables ruleset.
func (r *kernelRouter) Start(ctx context.Context, s *Site) error {
	c := s.Topo.Site.Config
	n := activeRouter(s.Topo, c)
	if n == nil {
		return fmt.Errorf("kernel stand-in: no router node owns lvs.cf primary %v", c.Primary)
	}
	r.active = n.Name
	if c.Network == config.NetworkTunnel {
		return fmt.Errorf("kernel stand-in: nftables cannot encapsulate, so it cannot play a tunnelling router (network = tunnel); use --router lvsd")
	}
	added := map[netip.Addr]bool{}
	for _, v := range c.ActiveVirtuals() {
		if added[v.Address] {
			continue
		}
		added[v.Address] = true
		if err := s.nodes[n.Name].AddAddr(orDefault(v.Interface(), "eth0"), netip.PrefixFrom(v.Address, 32)); err != nil {
			return fmt.Errorf("kernel stand-in: VIP %v: %w", v.Address, err)
		}
	}
	if c.Network == config.NetworkNAT && c.NATRouter.IsValid() {
		if err := s.nodes[n.Name].AddAddr(orDefault(c.NATRouterInterface(), "eth1"), netip.PrefixFrom(c.NATRouter, 32)); err != nil {
			return fmt.Errorf("kernel stand-in: nat_router %v: %w", c.NATRouter, err)
		}
	}
	if err := s.nodes[n.Name].Sysctl("net.ipv4.ip_forward", "1"); err != nil {
		return err
	}
	macs := map[netip.Addr]net.HardwareAddr{}
	own := map[string]net.HardwareAddr{}
	if c.Network == config.NetworkDirect {
		var err error
		if macs, err = s.realMACs(); err != nil {
			return err
		}
		for _, i := range n.Interfaces {
			if own[i.Name], err = s.nodes[n.Name].MAC(i.Name); err != nil {
				return err
			}
		}
	}
	rules, err := standinRules(c, macs, own)
	if err != nil {
		return err
	}
	r.rules = fmt.Sprintf("# on %s\n%s", n.Name, rules)
	f, err := s.writeFile("standin-"+n.Name+".nft", []byte(rules))
	if err != nil {
		return err
	}
	return s.run(ctx, n.Name, "nft", "-f", f)
}

// activeRouter is the router node holding lvs.cf's primary address, or the
// first router.
func activeRouter(t *Topology, c *config.Config) *Node {
	rs := t.Routers()
	for _, n := range rs {
		for _, i := range n.Interfaces {
			for _, a := range i.Addresses {
				if a.Addr() == c.Primary {
					return n
				}
			}
		}
	}
	if len(rs) > 0 {
		return rs[0]
	}
	return nil
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// standinRules writes the nftables ruleset for lvs.cf: marks from the
// fwmark_rule blocks, then one DNAT (NAT) or MAC rewrite (direct routing)
// per active virtual server. Weights become numgen/jhash map ranges:
// numgen inc gives wrr's exact long-run shares; persistent services and sh
// hash the client address (jhash), so one client always reaches one server.
//
// For direct routing the frame also leaves with the router's own source
// MAC, as IPVS does: keeping the sender's MAC would teach the segment's
// bridge that the gateway lives behind the router's port.
func standinRules(c *config.Config, macs map[netip.Addr]net.HardwareAddr, own map[string]net.HardwareAddr) (string, error) {
	var b strings.Builder
	b.WriteString("# lvssim kernel stand-in for lvsd (generated from lvs.cf)\n")
	b.WriteString("table ip lvssim_standin\ndelete table ip lvssim_standin\n")
	b.WriteString("table ip lvssim_standin {\n")
	if len(c.FWMarkRules) > 0 {
		b.WriteString("\tchain lvs_mark {\n\t\ttype filter hook prerouting priority mangle; policy accept;\n")
		for _, m := range c.FWMarkRules {
			fmt.Fprintf(&b, "\t\t%s meta mark set %d\n", markMatch(m), m.Mark)
		}
		b.WriteString("\t}\n")
	}
	var dr []string
	if c.Network == config.NetworkNAT {
		b.WriteString("\tchain lvs_dnat {\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n")
	}
	for _, v := range c.ActiveVirtuals() {
		rs := activeServers(v)
		if len(rs) == 0 {
			continue
		}
		if c.Network == config.NetworkNAT {
			fmt.Fprintf(&b, "\t\t%s dnat to %s\n", virtualMatch(v), pick(v, rs, false, func(s *config.Server) string {
				return s.Address.String()
			}))
			continue
		}
		var missing []string
		m := pick(v, rs, true, func(s *config.Server) string {
			if macs[s.Address] == nil {
				missing = append(missing, s.Address.String())
			}
			return macs[s.Address].String()
		})
		if len(missing) > 0 {
			return "", fmt.Errorf("direct routing: no MAC for real servers %s", strings.Join(missing, ", "))
		}
		dev := orDefault(v.Interface(), "eth0")
		if own[dev] == nil {
			return "", fmt.Errorf("direct routing: the router has no interface %s for VIP %v", dev, v.Address)
		}
		dr = append(dr, fmt.Sprintf("\t\t%s ether saddr set %s ether daddr set %s fwd to %q\n",
			virtualMatch(v), own[dev], m, dev))
	}
	if c.Network == config.NetworkNAT {
		b.WriteString("\t}\n")
		// The guide's -j MASQUERADE rules (active FTP from port 20), as
		// the kernel runs them: from the egress interface's address.
		if ms := c.Rules("").Masquerades; len(ms) > 0 {
			b.WriteString("\tchain lvs_masq {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n")
			for _, m := range ms {
				fmt.Fprintf(&b, "\t\t%s masquerade\n", masqMatch(m.Match))
			}
			b.WriteString("\t}\n")
		}
	}
	b.WriteString("}\n")
	if len(dr) > 0 {
		dev := orDefault(c.ActiveVirtuals()[0].Interface(), "eth0")
		b.WriteString("table netdev lvssim_dr\ndelete table netdev lvssim_dr\n")
		fmt.Fprintf(&b, "table netdev lvssim_dr {\n\tchain lvs_ingress {\n\t\ttype filter hook ingress device %q priority 0; policy accept;\n", dev)
		b.WriteString(strings.Join(dr, ""))
		b.WriteString("\t}\n}\n")
	}
	return b.String(), nil
}

// masqMatch is the nftables match of a masquerade rule.
func masqMatch(m config.Match) string {
	var parts []string
	if m.Src.IsValid() {
		parts = append(parts, "ip saddr "+m.Src.String())
	}
	if m.Dst.IsValid() {
		parts = append(parts, "ip daddr "+m.Dst.String())
	}
	proto := "tcp"
	if m.Proto == config.ProtoUDP {
		proto = "udp"
	}
	ports := func(dir string, lo, hi uint16) {
		switch {
		case lo == 0 && hi == 0:
		case lo == hi:
			parts = append(parts, fmt.Sprintf("%s %s %d", proto, dir, lo))
		default:
			parts = append(parts, fmt.Sprintf("%s %s %d-%d", proto, dir, lo, hi))
		}
	}
	ports("sport", m.SPortLo, m.SPortHi)
	ports("dport", m.DPortLo, m.DPortHi)
	if m.Proto != config.ProtoAny && m.SPortHi == 0 && m.DPortHi == 0 {
		parts = append(parts, "meta l4proto "+proto)
	}
	if m.Iface != "" {
		parts = append(parts, fmt.Sprintf("oifname %q", config.BaseInterface(m.Iface)))
	}
	return strings.Join(parts, " ")
}

func markMatch(m *config.FWMarkBlock) string {
	var parts []string
	if m.Destination.IsValid() {
		parts = append(parts, "ip daddr "+m.Destination.String())
	}
	proto := "tcp"
	if m.Protocol == config.ProtoUDP {
		proto = "udp"
	}
	if len(m.DPorts) > 0 {
		var ps []string
		for _, r := range m.DPorts {
			if r.Lo == r.Hi {
				ps = append(ps, fmt.Sprint(r.Lo))
			} else {
				ps = append(ps, fmt.Sprintf("%d-%d", r.Lo, r.Hi))
			}
		}
		parts = append(parts, fmt.Sprintf("%s dport { %s }", proto, strings.Join(ps, ", ")))
	} else if m.Protocol != config.ProtoAny {
		parts = append(parts, "meta l4proto "+proto)
	}
	return strings.Join(parts, " ")
}

func virtualMatch(v *config.Virtual) string {
	if v.FWMark != 0 {
		return fmt.Sprintf("meta mark %d", v.FWMark)
	}
	proto := "tcp"
	if v.Protocol == config.ProtoUDP {
		proto = "udp"
	}
	return fmt.Sprintf("ip daddr %v %s dport %d", v.Address, proto, v.Port)
}

// pick builds "numgen inc mod N map { 0 : A, 1-2 : B }" over the weights.
// perPacket means there is no connection tracking (netdev): then even
// non-persistent services hash the connection's addresses and ports, so
// every packet of one connection reaches the same server.
func pick(v *config.Virtual, rs []*config.Server, perPacket bool, val func(*config.Server) string) string {
	total := 0
	var elems []string
	for _, s := range rs {
		w := s.Weight
		if v.Scheduler == config.SchedRR {
			w = 1
		}
		if w == 1 {
			elems = append(elems, fmt.Sprintf("%d : %s", total, val(s)))
		} else {
			elems = append(elems, fmt.Sprintf("%d-%d : %s", total, total+w-1, val(s)))
		}
		total += w
	}
	sel := fmt.Sprintf("numgen inc mod %d", total)
	switch {
	case v.Persistent > 0 || v.Scheduler == config.SchedSH:
		sel = fmt.Sprintf("jhash ip saddr mod %d seed 0x4c5653", total)
	case perPacket:
		sel = fmt.Sprintf("jhash ip saddr . tcp sport mod %d seed 0x4c5653", total)
	}
	return fmt.Sprintf("%s map { %s }", sel, strings.Join(elems, ", "))
}
