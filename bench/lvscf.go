package bench

import (
	"bytes"
	"cmp"
	"fmt"
	"net/netip"
	"strings"

	"lvs/config"
)

// siteSpec is what differs between the lvs.cf files of a run.
type siteSpec struct {
	primary   netip.Addr
	vip       netip.Addr
	vipDevice string // "eth0:1"
	natRouter netip.Addr
	natBits   int  // nat_netmask (0: 24)
	direct    bool // network = direct (no nat_router)
	reals     []netip.Addr
	udpPort   uint16
	tcpPort   uint16 // 0: no TCP service
	sched     config.Scheduler
}

// siteConfig is the director's lvs.cf: NAT (or direct routing), one UDP
// and one TCP virtual service on vip, each over every real server with
// round robin (what nftables' `numgen inc` does) unless sp.sched says
// otherwise; under NAT the private side holds natRouter.
func siteConfig(sp siteSpec) *config.Config {
	c := config.NewConfig()
	c.Serial = 1
	c.Primary = sp.primary
	c.Service = config.ServiceLVS
	c.Network = config.NetworkNAT
	if sp.direct {
		c.Network = config.NetworkDirect
	} else {
		c.NATRouter = sp.natRouter
		c.NATRouterDevice = "eth1:1"
		c.NATNetmask = config.NetmaskBits(cmp.Or(sp.natBits, 24))
	}
	if sp.sched == 0 {
		sp.sched = config.SchedRR
	}
	if sp.vipDevice == "" {
		sp.vipDevice = "eth0:1"
	}
	type svc struct {
		name  string
		proto config.Protocol
		port  uint16
	}
	svcs := []svc{{"udp", config.ProtoUDP, sp.udpPort}}
	if sp.tcpPort != 0 {
		svcs = append(svcs, svc{"tcp", config.ProtoTCP, sp.tcpPort})
	}
	for _, s := range svcs {
		v := config.NewVirtual(s.name)
		v.Active = true
		v.Address = sp.vip
		v.Device = sp.vipDevice
		v.VIPNetmask = config.NetmaskBits(24)
		v.Protocol = s.proto
		v.Port = s.port
		v.Scheduler = sp.sched
		if s.proto == config.ProtoUDP {
			v.Send = `health\n` // UDP needs a request to get an answer; the responder echoes
		}
		for k, a := range sp.reals {
			srv := config.NewServer(fmt.Sprintf("rs%d", k+1))
			srv.Address = a
			srv.Active = true
			v.Servers = append(v.Servers, srv)
		}
		c.Virtuals = append(c.Virtuals, v)
	}
	return c
}

// formatSite writes c with config.Format — the code path users rely on —
// and parses the text back with config.Parse, as lvsd will.
func formatSite(c *config.Config) ([]byte, error) {
	text := config.Format(c)
	if _, err := config.Parse("lvs.cf", bytes.NewReader(text)); err != nil {
		return nil, fmt.Errorf("the generated lvs.cf does not parse: %w", err)
	}
	return text, nil
}

// Kernel load-balancing choices: the reference probe's round robin, or a
// hash of the client's address and port.
const (
	pickNumgen = "numgen"
	pickJhash  = "jhash"
)

// kernelLBRules is the kernel contender's ruleset for the same lvs.cf:
// nftables DNAT, each virtual service a `numgen inc mod N` (pick numgen)
// or `jhash ip saddr . PROTO sport mod N` (pick jhash) map over its real
// servers (the reference probe's rules; conntrack keeps each flow on its
// first choice and reverses the translation of replies). A config whose
// virtual services are IPv6 gets an ip6 table with ip6 matches (klb6).
func kernelLBRules(c *config.Config, table, pick string) string {
	var b strings.Builder
	fam := "ip"
	if vs := c.ActiveVirtuals(); len(vs) > 0 && vs[0].IsIPv6() {
		fam = "ip6"
	}
	fmt.Fprintf(&b, "table %s %s\ndelete table %s %s\ntable %s %s {\n", fam, table, fam, table, fam, table)
	b.WriteString("\tchain pre {\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n")
	for _, v := range c.ActiveVirtuals() {
		var elems []string
		n := 0
		for _, s := range v.Servers {
			if s.Active && s.Weight > 0 {
				elems = append(elems, fmt.Sprintf("%d : %v", n, s.Address))
				n++
			}
		}
		if n == 0 {
			continue
		}
		proto := "tcp"
		if v.Protocol == config.ProtoUDP {
			proto = "udp"
		}
		expr := "numgen inc"
		if pick == pickJhash {
			expr = fmt.Sprintf("jhash %s saddr . %s sport", fam, proto)
		}
		fmt.Fprintf(&b, "\t\t%s daddr %v %s dport %d dnat to %s mod %d map { %s }\n",
			fam, v.Address, proto, v.Port, expr, n, strings.Join(elems, ", "))
	}
	b.WriteString("\t}\n}\n")
	return b.String()
}
