package config

import (
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"
)

// Rules are the packet-marking and masquerading rules the guide sets up with
// iptables (§3.4, §3.5): firewall marks that bundle ports into one virtual
// service, and masquerading of connections the real servers open (active
// FTP). They come from an iptables-save file (ParseIptables) or from
// fwmark_rule and masquerade blocks in lvs.cf (Config.Rules); both give
// the same values.
type Rules struct {
	Marks       []MarkRule
	Masquerades []MasqRule
	// Warnings are problems of an iptables-save file that lvsd works
	// despite: rules of the filter, raw and security tables, which stay the
	// kernel's business (they filter the router's own traffic).
	Warnings []*ParseError
}

// Match is the part of a rule that selects packets. Zero fields match
// anything; port ranges need a protocol.
type Match struct {
	Proto            Protocol     // -p; ProtoAny matches every protocol
	Src, Dst         netip.Prefix // -s, -d; invalid = any
	SPortLo, SPortHi uint16       // --sport; 0:0 = any
	DPortLo, DPortHi uint16       // --dport; 0:0 = any
	Iface            string       // -i of a MARK rule, -o of a MASQUERADE rule; "" = any
	IPv6             bool         // matches IPv6 packets only: an ip6tables rule, or a block with IPv6 addresses
}

// MarkRule is `-t mangle -A PREROUTING … -j MARK --set-mark Mark`.
type MarkRule struct {
	Match
	Mark uint32
	Name string // fwmark_rule block name; "" from iptables
	File string // where the rule was read
	Line int
}

// MasqRule is `-t nat -A POSTROUTING … -j MASQUERADE`.
type MasqRule struct {
	Match
	Name string // masquerade block name; "" from iptables
	File string
	Line int
}

// FWMarkBlock is an `fwmark_rule NAME { … }` block (extension): the native
// form of the guide's MARK rules. Each key is the iptables option of the same
// meaning; dport and sport take lists, so the guide's two FTP rules are one
// block:
//
//	fwmark_rule ftp {
//	     mark = 21
//	     protocol = tcp
//	     destination = 192.168.26.10
//	     dport = 21,10000:20000
//	}
type FWMarkBlock struct {
	Name string
	Line int
	Mark uint32
	RuleMatch
	Keys []string
}

// MasqueradeBlock is a `masquerade NAME { … }` block (extension): the native
// form of the guide's MASQUERADE rule.
type MasqueradeBlock struct {
	Name string
	Line int
	RuleMatch
	Keys []string
}

// RuleMatch is the packet selection of a native rule block.
type RuleMatch struct {
	Protocol    Protocol     // protocol: tcp, udp or all (default all)
	Source      netip.Prefix // source: address or network
	Destination netip.Prefix // destination: address or network
	SPorts      []PortRange  // sport: "20" or "21,10000:20000"
	DPorts      []PortRange  // dport
	Interface   string       // interface: -i of a MARK rule, -o of a MASQUERADE rule
}

// matches expands the block into one Match per (sport, dport) pair.
func (m *RuleMatch) matches() []Match {
	sp, dp := m.SPorts, m.DPorts
	if len(sp) == 0 {
		sp = []PortRange{{}}
	}
	if len(dp) == 0 {
		dp = []PortRange{{}}
	}
	var out []Match
	for _, s := range sp {
		for _, d := range dp {
			out = append(out, Match{Proto: m.Protocol, Src: m.Source, Dst: m.Destination,
				SPortLo: s.Lo, SPortHi: s.Hi, DPortLo: d.Lo, DPortHi: d.Hi, Iface: m.Interface,
				IPv6: m.Source.Addr().Is6() || m.Destination.Addr().Is6()})
		}
	}
	return out
}

// Rules returns the rules of the fwmark_rule and masquerade blocks of c.
func (c *Config) Rules(file string) *Rules {
	r := &Rules{}
	for _, b := range c.FWMarkRules {
		for _, m := range b.matches() {
			r.Marks = append(r.Marks, MarkRule{Match: m, Mark: b.Mark, Name: b.Name, File: file, Line: b.Line})
		}
	}
	for _, b := range c.Masquerades {
		for _, m := range b.matches() {
			r.Masquerades = append(r.Masquerades, MasqRule{Match: m, Name: b.Name, File: file, Line: b.Line})
		}
	}
	return r
}

// Merge appends the rules of o to r.
func (r *Rules) Merge(o *Rules) {
	if o == nil {
		return
	}
	r.Marks = append(r.Marks, o.Marks...)
	r.Masquerades = append(r.Masquerades, o.Masquerades...)
	r.Warnings = append(r.Warnings, o.Warnings...)
}

// ruleKeys are the keys shared by fwmark_rule and masquerade blocks.
func ruleKeys[T any](f func(*T) *RuleMatch) []keyDef[T] {
	prefix := func(name string, p func(*RuleMatch) *netip.Prefix) keyDef[T] {
		return keyDef[T]{name: name, nargs: 1, ext: true,
			set: func(x *T, v []token) (err error) { *p(f(x)), err = parseAnyPrefix(v[0].text); return },
			get: func(x *T) (string, bool) { q := *p(f(x)); return formatPrefix(q), q.IsValid() }}
	}
	ports := func(name string, p func(*RuleMatch) *[]PortRange) keyDef[T] {
		return keyDef[T]{name: name, nargs: 1, ext: true,
			set: func(x *T, v []token) (err error) { *p(f(x)), err = parsePortList(v[0].text); return },
			get: func(x *T) (string, bool) { q := *p(f(x)); return formatPortList(q), len(q) > 0 }}
	}
	return []keyDef[T]{
		{name: "protocol", nargs: 1, ext: true,
			set: func(x *T, v []token) error {
				if v[0].text == "all" {
					f(x).Protocol = ProtoAny
					return nil
				}
				p, err := parseProtocol(v[0].text)
				if err != nil {
					return fmt.Errorf("expected tcp, udp or all, got %q", v[0].text)
				}
				f(x).Protocol = p
				return nil
			},
			get: func(x *T) (string, bool) { return f(x).Protocol.String(), true }},
		prefix("source", func(m *RuleMatch) *netip.Prefix { return &m.Source }),
		prefix("destination", func(m *RuleMatch) *netip.Prefix { return &m.Destination }),
		ports("sport", func(m *RuleMatch) *[]PortRange { return &m.SPorts }),
		ports("dport", func(m *RuleMatch) *[]PortRange { return &m.DPorts }),
		{name: "interface", nargs: 1, ext: true,
			set: func(x *T, v []token) error {
				if err := checkDevice(v[0].text); err != nil || strings.Contains(v[0].text, ":") {
					return fmt.Errorf("expected an interface name like eth0, got %q", v[0].text)
				}
				f(x).Interface = v[0].text
				return nil
			},
			get: func(x *T) (string, bool) { return f(x).Interface, f(x).Interface != "" }},
	}
}

var markKeys = append([]keyDef[FWMarkBlock]{
	{name: "mark", nargs: 1, ext: true, always: true,
		set: func(b *FWMarkBlock, v []token) error {
			n, err := intIn(v[0].text, 1, math.MaxUint32, "a firewall mark")
			b.Mark = uint32(n)
			return err
		},
		get: func(b *FWMarkBlock) (string, bool) { return strconv.FormatUint(uint64(b.Mark), 10), b.Mark != 0 }},
}, ruleKeys(func(b *FWMarkBlock) *RuleMatch { return &b.RuleMatch })...)

var masqKeys = ruleKeys(func(b *MasqueradeBlock) *RuleMatch { return &b.RuleMatch })

// validateMatch checks what iptables itself would refuse.
func validateMatch(m *RuleMatch) error {
	if (len(m.SPorts) > 0 || len(m.DPorts) > 0) && m.Protocol == ProtoAny {
		return fmt.Errorf("sport and dport need protocol = tcp or udp")
	}
	return nil
}

// CheckRules returns warnings about how rules fit c, read from file:
// firewall-mark services that no rule marks (so no packet reaches them), and
// MARK rules whose mark no active virtual server uses.
func CheckRules(file string, c *Config, r *Rules) []*ParseError {
	var out []*ParseError
	set := map[uint32]bool{}
	for _, m := range r.Marks {
		set[m.Mark] = true
	}
	used := map[uint32]bool{}
	for _, v := range c.Virtuals {
		if !v.Active || v.FWMark == 0 {
			continue
		}
		used[v.FWMark] = true
		if !set[v.FWMark] {
			out = append(out, &ParseError{File: file, Line: v.Line, Msg: fmt.Sprintf(
				"virtual %s: no rule sets fwmark %d, so no packet reaches this service: add a fwmark_rule block or an iptables MARK rule (guide §3.4)",
				v.Name, v.FWMark)})
			set[v.FWMark] = true // once per mark
		}
	}
	for _, m := range r.Marks {
		if !used[m.Mark] {
			out = append(out, &ParseError{File: m.File, Line: m.Line, Msg: fmt.Sprintf(
				"rule sets fwmark %d, which no active virtual server uses", m.Mark)})
			used[m.Mark] = true
		} else if vip, ok := missesVIPs(c, m); !ok {
			out = append(out, &ParseError{File: m.File, Line: m.Line, Msg: fmt.Sprintf(
				"rule marks packets to %s with fwmark %d, but the virtual servers with that mark have VIP %s", m.Dst, m.Mark, vip)})
		}
	}
	out = append(out, checkMasquerades(file, c, r)...)
	return out
}

// missesVIPs reports whether the destination of m contains a VIP of an
// active virtual server with its mark; it returns one such VIP when not.
func missesVIPs(c *Config, m MarkRule) (string, bool) {
	if !m.Dst.IsValid() {
		return "", true
	}
	vip := ""
	for _, v := range c.Virtuals {
		if v.Active && v.FWMark == m.Mark && v.Address.IsValid() {
			if m.Dst.Contains(v.Address) {
				return "", true
			}
			vip = v.Address.String()
		}
	}
	return vip, vip == ""
}

// checkMasquerades warns about masquerade rules whose source is not the
// NAT network: the guide's rule masquerades the real servers' network.
func checkMasquerades(file string, c *Config, r *Rules) []*ParseError {
	if c.Network != NetworkNAT {
		return nil
	}
	var out []*ParseError
	check := func(router netip.Addr, mask Netmask, key string, v6 bool) {
		if !router.IsValid() || !mask.IsValid() {
			return
		}
		nat := netip.PrefixFrom(router, mask.Bits()).Masked()
		for _, m := range r.Masquerades {
			if m.IPv6 == v6 && m.Src.IsValid() && !nat.Overlaps(m.Src) {
				out = append(out, &ParseError{File: m.File, Line: m.Line, Msg: fmt.Sprintf(
					"masquerade rule for source %s does not cover the NAT network %s of %s", m.Src, nat, key)})
			}
		}
	}
	check(c.NATRouter, c.NATNetmask, "nat_router", false)
	check(c.NATRouter6, c.NATNetmask6, "nat_router6", true)
	return out
}
