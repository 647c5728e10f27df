package config

import (
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
)

// IPv6 in lvs.cf. Every address key takes an IPv4 or an IPv6 address; a
// virtual server is IPv6 when its VIP is. Piranha has no key for the rest,
// so lvs-go adds them (lvs.cf(5)):
//
//	nat_router6 = fd00:11:12::1 eth1   the IPv6 gateway of NAT real servers
//	nat_nmask6 = 64                    the prefix length of its network
//
// and pmask and vip_nmask of an IPv6 virtual server are prefix lengths, as
// ipvsadm's -M 64. IPVS's rules on address families are followed: a NAT or
// direct-routing real server has its virtual server's family; only a
// tunnelled one may differ (ip_vs_ctl.c allows heterogeneous pools for the
// tunnel method only).

// lvsd forwards IPv6 (dataplane/worker6.go): IPv6 virtual servers, real
// servers, nat_router6, firewall-mark rules, masquerade rules (lvs.cf
// blocks with IPv6 addresses, ip6tables-save MASQUERADE lines) and the
// FTP helper of an IPv6 NAT service (EPRT |2|, EPSV; dataplane/masq6.go)
// are run as their IPv4 counterparts are. With network = tunnel, real
// servers and sorry servers of the other family are run too, as IPVS
// allows: IPv4 ones behind an IPv6 VIP (IPv6 in IPv4) and IPv6 ones
// behind an IPv4 VIP (IPv4 in IPv6), dataplane/tunnel46.go.

// parseIP parses an IPv4 address as parseIPv4 does (its messages are
// unchanged), or an IPv6 address: global or unique-local unicast, without
// a zone (lvs.cf cannot name the link of a link-local address), not
// IPv4-mapped.
func parseIP(s string) (netip.Addr, error) {
	if !strings.Contains(s, ":") {
		return parseIPv4(s)
	}
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is6() {
		return netip.Addr{}, fmt.Errorf("expected an IPv4 or IPv6 address like 192.168.26.10 or 2001:db8::10, got %q", s)
	}
	switch {
	case a.Zone() != "":
		return netip.Addr{}, fmt.Errorf("expected an IPv6 address without a zone, got %s", s)
	case a.Is4In6():
		return netip.Addr{}, fmt.Errorf("expected an IPv6 address, got the IPv4-mapped %s: write %s", s, a.Unmap())
	case a.IsUnspecified() || a.IsMulticast() || a.IsLoopback():
		return netip.Addr{}, fmt.Errorf("expected a unicast IPv6 address, got %s", s)
	case a.IsLinkLocalUnicast():
		return netip.Addr{}, fmt.Errorf("expected a global or unique-local IPv6 address, got the link-local %s", s)
	}
	return a, nil
}

// parseMask parses a dotted IPv4 netmask (ParseNetmask) or an IPv6 prefix
// length from 0 to 128.
func parseMask(s string) (Netmask, error) {
	if s != "" && strings.Trim(s, "0123456789") == "" {
		n, err := strconv.Atoi(s)
		if err != nil || n > 128 {
			return Netmask{}, fmt.Errorf("expected an IPv6 prefix length from 0 to 128, got %s", s)
		}
		return PrefixLen(n), nil
	}
	if a, err := netip.ParseAddr(s); err == nil && a.Is4() {
		return ParseNetmask(s) // a dotted mask: its own message (not contiguous)
	}
	return Netmask{}, fmt.Errorf("expected a netmask like 255.255.255.0 or an IPv6 prefix length like 64, got %q", s)
}

// parsePrefix6 parses "2001:db8::/64" or a bare IPv6 address (a /128).
func parsePrefix6(s string) (netip.Prefix, error) {
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil || !a.Is6() || a.Is4In6() || a.Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("expected an IPv6 address or network like 2001:db8::/64, got %q", s)
		}
		return netip.PrefixFrom(a, 128), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil || !p.Addr().Is6() || p.Addr().Is4In6() {
		return netip.Prefix{}, fmt.Errorf("expected an IPv6 address or network like 2001:db8::/64, got %q", s)
	}
	if p.Masked() != p {
		return netip.Prefix{}, fmt.Errorf("network %s has host bits set: expected %s", s, p.Masked())
	}
	return p, nil
}

// parseAnyPrefix parses an IPv4 (parsePrefix) or IPv6 (parsePrefix6)
// address or network, as the source and destination of a rule block.
func parseAnyPrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, ":") {
		return parsePrefix6(s)
	}
	return parsePrefix(s)
}

// natRouter6Key is `nat_router6 = IP DEV` (extension).
var natRouter6Key = func() keyDef[Config] {
	k := addrDevKey("nat_router6", func(c *Config) (*netip.Addr, *string) { return &c.NATRouter6, &c.NATRouter6Device })
	k.ext = true
	return k
}()

// natNmask6Key is `nat_nmask6 = N` (extension): a prefix length.
var natNmask6Key = keyDef[Config]{name: "nat_nmask6", nargs: 1, ext: true,
	set: func(c *Config, v []token) error {
		n, err := intIn(v[0].text, 0, 128, "an IPv6 prefix length")
		c.NATNetmask6 = PrefixLen(int(n))
		return err
	},
	get: func(c *Config) (string, bool) { return c.NATNetmask6.String(), c.NATNetmask6.IsValid() }}

// NATRouter6Interface returns the interface that holds the IPv6 NAT router
// address.
func (c *Config) NATRouter6Interface() string { return BaseInterface(c.NATRouter6Device) }

// IsIPv6 reports whether v is an IPv6 virtual server: its VIP is IPv6.
func (v *Virtual) IsIPv6() bool { return v.Address.Is6() }

// families checks what IPv6 adds: address families that must agree, the
// IPv6 NAT router and masks of the right kind.
func (k *checker) families() {
	c, d := k.c, k.d
	pair := func(a, b netip.Addr, ka, kb string) {
		if a.IsValid() && b.IsValid() && a.Is6() != b.Is6() {
			d.errorf(k.at(c, kb), "%s %s and %s %s are of different address families: heartbeats cannot pass between them", ka, a, kb, b)
		}
	}
	pair(c.Primary, c.Backup, "primary", "backup")
	pair(c.PrimaryPrivate, c.BackupPrivate, "primary_private", "backup_private")
	if c.NATRouter.Is6() {
		d.errorf(k.at(c, "nat_router"), "nat_router %s is IPv6: nat_router is the IPv4 gateway of the real servers; put the IPv6 one in nat_router6", c.NATRouter)
	}
	if c.NATRouter6.Is4() {
		d.errorf(k.at(c, "nat_router6"), "nat_router6 %s is IPv4: nat_router6 is the IPv6 gateway of the real servers; put the IPv4 one in nat_router", c.NATRouter6)
	}
	k.nat6()
	for _, v := range append(append([]*Virtual{}, c.Virtuals...), c.Failovers...) {
		k.virtualFamilies(v)
	}
	k.ruleFamilies()
}

// nat6 is nat for nat_router6 and the IPv6 real servers of NAT services.
func (k *checker) nat6() {
	c, d := k.c, k.d
	if c.Network != NetworkNAT {
		if c.NATRouter6.IsValid() {
			d.warnf(k.at(c, "nat_router6"), "nat_router6 is only used with network = nat (network is %s)", c.Network)
		}
		return
	}
	if !c.NATRouter6.Is6() {
		if c.NATNetmask6.IsValid() {
			d.warnf(k.at(c, "nat_nmask6"), "nat_nmask6 has no effect without nat_router6")
		}
		if !k.written(c, "nat_router6") && k.hasActiveServers6() {
			d.errorf(k.at(c, "network"), "network = nat with IPv6 real servers needs `nat_router6 = IP DEV`: the floating IPv6 address they use as their default gateway")
		}
		return
	}
	if !c.NATNetmask6.IsValid() {
		if !k.written(c, "nat_nmask6") {
			d.warnf(k.at(c, "nat_router6"), "nat_nmask6 is not set: cannot check that the IPv6 real servers are on the NAT network")
		}
		return
	}
	net := netip.PrefixFrom(c.NATRouter6, c.NATNetmask6.Bits()).Masked()
	for _, v := range c.Virtuals {
		for _, s := range v.Servers {
			if v.Active && s.Address.Is6() && !net.Contains(s.Address) {
				d.warnf(k.at(s, "address"), "virtual %s, server %s: %s is outside the NAT network %s of nat_router6 %s: its replies will not return through the router",
					v.Name, s.Name, s.Address, net, c.NATRouter6)
			}
		}
	}
}

// hasActiveServers6 reports whether an active virtual server has an
// active IPv6 real server.
func (k *checker) hasActiveServers6() bool {
	for _, v := range k.c.Virtuals {
		for _, s := range v.Servers {
			if v.Active && s.Active && s.Address.Is6() {
				return true
			}
		}
	}
	return false
}

// virtualFamilies checks the families of a virtual server's masks, real
// servers and sorry server against its VIP.
func (k *checker) virtualFamilies(v *Virtual) {
	if !v.Address.IsValid() {
		return
	}
	d, v6 := k.d, v.IsIPv6()
	mask := func(key string, m Netmask) {
		switch {
		case !m.IsValid():
		case v6 && !m.IsPrefixLen():
			d.errorf(k.at(v, key), "virtual %s: %s of an IPv6 virtual server is a prefix length like 64 (as ipvsadm -M 64), got %s", v.Name, key, m)
		case !v6 && m.IsPrefixLen():
			d.errorf(k.at(v, key), "virtual %s: %s of an IPv4 virtual server is a netmask like 255.255.255.0, got %s", v.Name, key, m)
		}
	}
	mask("pmask", v.PMask)
	mask("vip_nmask", v.VIPNetmask)
	family := func(a netip.Addr) string {
		if a.Is6() {
			return "IPv6"
		}
		return "IPv4"
	}
	// As IPVS (ip_vs_ctl.c, ip_vs_add_dest): a real server of another
	// family than its service only with the tunnel method.
	for _, s := range v.Servers {
		if s.Address.IsValid() && s.Address.Is6() != v6 && k.c.Network != NetworkTunnel {
			d.errorf(k.at(s, "address"), "virtual %s, server %s: an %s real server behind the %s VIP %s needs network = tunnel (IPVS mixes address families only when tunnelling), network is %s",
				v.Name, s.Name, family(s.Address), family(v.Address), v.Address, k.c.Network)
		}
	}
	if v.SorryServer.IsValid() && v.SorryServer.Is6() != v6 && k.c.Network != NetworkTunnel {
		d.errorf(k.at(v, "sorry_server"), "virtual %s: the %s sorry_server %s cannot serve the %s VIP %s with network = %s",
			v.Name, family(v.SorryServer), v.SorryServer, family(v.Address), v.Address, k.c.Network)
	}
}

// ruleFamilies checks that a rule block does not mix families.
func (k *checker) ruleFamilies() {
	check := func(kind, name string, obj any, m *RuleMatch) {
		if m.Source.IsValid() && m.Destination.IsValid() && m.Source.Addr().Is6() != m.Destination.Addr().Is6() {
			k.d.errorf(k.at(obj, "destination"), "%s %s: source %s and destination %s are of different address families", kind, name, m.Source, m.Destination)
		}
	}
	for _, b := range k.c.FWMarkRules {
		check("fwmark_rule", b.Name, b, &b.RuleMatch)
	}
	for _, b := range k.c.Masquerades {
		check("masquerade", b.Name, b, &b.RuleMatch)
	}
}

// ParseIp6tables reads the same subset as ParseIptables from an
// ip6tables-save file (or ip6tables commands): MARK rules in mangle
// PREROUTING and MASQUERADE rules in nat POSTROUTING, with IPv6 addresses.
// Every rule it returns has Match.IPv6 set.
func ParseIp6tables(name string, r io.Reader) (*Rules, error) {
	return parseIptables(name, r, true)
}

// commandName is the command a rule line may start with.
func commandName(v6 bool) string {
	if v6 {
		return "ip6tables"
	}
	return "iptables"
}

// prefix parses an address or network of the rule's family.
func (r *rule) prefix(s string) (netip.Prefix, error) {
	if r.v6 {
		return parsePrefix6(s)
	}
	return parsePrefix(s)
}
