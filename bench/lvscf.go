package bench

import (
	"bytes"
	"fmt"
	"net/netip"
	"strings"

	"lvs/config"
)

// siteConfig is the director's lvs.cf: NAT, one UDP and one TCP virtual
// service on vip, each over every real server with round robin (what
// nftables' `numgen inc` does), the private side holding natRouter.
func siteConfig(primary, vip, natRouter netip.Addr, reals []netip.Addr, udpPort, tcpPort uint16) *config.Config {
	c := config.NewConfig()
	c.Serial = 1
	c.Primary = primary
	c.Service = config.ServiceLVS
	c.Network = config.NetworkNAT
	c.NATRouter = natRouter
	c.NATRouterDevice = "eth1:1"
	c.NATNetmask = config.NetmaskBits(24)
	for _, s := range []struct {
		name  string
		proto config.Protocol
		port  uint16
	}{{"udp", config.ProtoUDP, udpPort}, {"tcp", config.ProtoTCP, tcpPort}} {
		v := config.NewVirtual(s.name)
		v.Active = true
		v.Address = vip
		v.Device = "eth0:1"
		v.VIPNetmask = config.NetmaskBits(24)
		v.Protocol = s.proto
		v.Port = s.port
		v.Scheduler = config.SchedRR
		if s.proto == config.ProtoUDP {
			v.Send = `health\n` // UDP needs a request to get an answer; the responder echoes
		}
		for k, a := range reals {
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

// kernelLBRules is the kernel contender's ruleset for the same lvs.cf:
// nftables DNAT, each virtual service a `numgen inc mod N` map over its
// real servers (the reference probe's rules; conntrack keeps each flow on
// its first choice and reverses the translation of replies).
func kernelLBRules(c *config.Config, table string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "table ip %s\ndelete table ip %s\ntable ip %s {\n", table, table, table)
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
		fmt.Fprintf(&b, "\t\tip daddr %v %s dport %d dnat to numgen inc mod %d map { %s }\n",
			v.Address, proto, v.Port, n, strings.Join(elems, ", "))
	}
	b.WriteString("\t}\n}\n")
	return b.String()
}
