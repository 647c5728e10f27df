package nat

import "net/netip"

// Rule is one masquerade rule: the guide's
// `iptables -t nat -A POSTROUTING -p tcp -s 10.11.12.0/24 --sport 20 -j MASQUERADE`
// (or lvs.cf's native masquerade block). Zero fields match anything.
type Rule struct {
	Proto            uint8        // 0: any of TCP and UDP
	Src, Dst         netip.Prefix // invalid: any
	SPortLo, SPortHi uint16       // 0,0: any
	DPortLo, DPortHi uint16       // 0,0: any
	OutPort          int          // port index the packet must leave by (-o); -1: any
	IPv6             bool         // matches IPv6 packets only (an ip6tables rule, a block with IPv6 addresses)
}

type rule struct {
	proto                  uint8
	src, srcMask           uint32
	dst, dstMask           uint32
	spLo, spHi, dpLo, dpHi uint16
	out                    int
	v6                     bool
	src6, dst6             netip.Prefix // IPv6: invalid means any
}

// Masquerade is the compiled set of masquerade rules and the addresses
// masqueraded packets take. It is immutable and safe for concurrent use;
// the daemon builds a new one on reload.
type Masquerade struct {
	rules []rule
	// by maps a real server to the VIP its masqueraded connections come
	// from: the VIP of (one of) its virtual servers, so that an active FTP
	// data connection comes from the address the client connected to.
	by  map[[4]byte]netip.Addr
	by6 map[[16]byte]netip.Addr // the same for IPv6 real servers
	// port is the fallback per egress port: an address lvsd owns there;
	// port6 an IPv6 one, for IPv6 sources.
	port, port6 []netip.Addr
}

// NewMasquerade compiles rules. bySource maps real servers (of either
// family) to the address of their family their connections are
// masqueraded to; byPort and byPort6 give, per egress port index, the
// IPv4 and IPv6 address for other sources (invalid: none, do not
// masquerade).
func NewMasquerade(rules []Rule, bySource map[netip.Addr]netip.Addr, byPort, byPort6 []netip.Addr) *Masquerade {
	m := &Masquerade{by: make(map[[4]byte]netip.Addr, len(bySource)), by6: map[[16]byte]netip.Addr{},
		port: append([]netip.Addr(nil), byPort...), port6: append([]netip.Addr(nil), byPort6...)}
	for _, r := range rules {
		cr := rule{proto: r.Proto, spLo: r.SPortLo, spHi: r.SPortHi, dpLo: r.DPortLo, dpHi: r.DPortHi, out: r.OutPort,
			v6: r.IPv6 || r.Src.Addr().Is6() || r.Dst.Addr().Is6()}
		if cr.v6 {
			cr.src6, cr.dst6 = prefix6(r.Src), prefix6(r.Dst)
		} else {
			cr.src, cr.srcMask = prefixBits(r.Src)
			cr.dst, cr.dstMask = prefixBits(r.Dst)
		}
		if cr.spLo == 0 && cr.spHi == 0 {
			cr.spHi = 0xffff
		}
		if cr.dpLo == 0 && cr.dpHi == 0 {
			cr.dpHi = 0xffff
		}
		m.rules = append(m.rules, cr)
	}
	for s, a := range bySource {
		switch {
		case s.Is4() && a.Is4():
			m.by[s.As4()] = a
		case s.Is6() && a.Is6():
			m.by6[s.As16()] = a
		}
	}
	return m
}

// Empty reports whether m has no rules.
func (m *Masquerade) Empty() bool { return m == nil || len(m.rules) == 0 }

// Match reports whether a packet src→dst of proto leaving by port out
// is to be masqueraded. It does not allocate.
func (m *Masquerade) Match(proto uint8, src, dst netip.AddrPort, out int) bool {
	if m == nil {
		return false
	}
	if src.Addr().Is6() {
		return m.match6(proto, src, dst, out)
	}
	s, d := be32(src.Addr().As4()), be32(dst.Addr().As4())
	sp, dp := src.Port(), dst.Port()
	for i := range m.rules {
		r := &m.rules[i]
		if r.v6 || r.proto != 0 && r.proto != proto ||
			s&r.srcMask != r.src || d&r.dstMask != r.dst ||
			sp < r.spLo || sp > r.spHi || dp < r.dpLo || dp > r.dpHi ||
			r.out >= 0 && r.out != out {
			continue
		}
		return true
	}
	return false
}

// Source returns the address a connection from src leaving by port out is
// masqueraded to: the VIP of src's virtual server, else the port's address.
func (m *Masquerade) Source(src netip.Addr, out int) (netip.Addr, bool) {
	if m == nil {
		return netip.Addr{}, false
	}
	if src.Is6() {
		return m.source6(src, out)
	}
	if a, ok := m.by[src.As4()]; ok {
		return a, true
	}
	if out >= 0 && out < len(m.port) && m.port[out].IsValid() {
		return m.port[out], true
	}
	return netip.Addr{}, false
}

func prefixBits(p netip.Prefix) (addr, mask uint32) {
	if !p.IsValid() || !p.Addr().Is4() || p.Bits() == 0 {
		return 0, 0
	}
	mask = ^uint32(0) << (32 - p.Bits())
	return be32(p.Addr().As4()) & mask, mask
}

func be32(b [4]byte) uint32 {
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// match6 is Match for an IPv6 packet: only IPv6 rules apply.
func (m *Masquerade) match6(proto uint8, src, dst netip.AddrPort, out int) bool {
	sp, dp := src.Port(), dst.Port()
	for i := range m.rules {
		r := &m.rules[i]
		if !r.v6 || r.proto != 0 && r.proto != proto ||
			r.src6.IsValid() && !r.src6.Contains(src.Addr()) ||
			r.dst6.IsValid() && !r.dst6.Contains(dst.Addr()) ||
			sp < r.spLo || sp > r.spHi || dp < r.dpLo || dp > r.dpHi ||
			r.out >= 0 && r.out != out {
			continue
		}
		return true
	}
	return false
}

// source6 is Source for an IPv6 source.
func (m *Masquerade) source6(src netip.Addr, out int) (netip.Addr, bool) {
	if a, ok := m.by6[src.As16()]; ok {
		return a, true
	}
	if out >= 0 && out < len(m.port6) && m.port6[out].IsValid() {
		return m.port6[out], true
	}
	return netip.Addr{}, false
}

// prefix6 is an IPv6 rule's address match: invalid (any) for no address
// or a /0.
func prefix6(p netip.Prefix) netip.Prefix {
	if !p.IsValid() || !p.Addr().Is6() || p.Bits() == 0 {
		return netip.Prefix{}
	}
	return p.Masked()
}
