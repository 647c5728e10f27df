package dataplane

import (
	"net/netip"

	"lvs/frame"
)

// MarkRule is one firewall-mark rule: the guide's
// `iptables -t mangle -A PREROUTING -p tcp -d VIP/32 --dport 80 -j MARK --set-mark 80`
// (or lvs.cf's native fwmark_rule), evaluated by lvsd itself. Zero fields
// match anything.
type MarkRule struct {
	Proto            uint8        // 0: any protocol
	Src, Dst         netip.Prefix // invalid: any
	SPortLo, SPortHi uint16       // 0,0: any
	DPortLo, DPortHi uint16       // 0,0: any
	InPort           int          // port index the frame must arrive on; -1: any
	Mark             uint32
	// IPv6 makes the rule match IPv6 frames only (an ip6tables rule, or a
	// block with IPv6 addresses; classify6.go); without it, IPv4 frames
	// only, as iptables rules do.
	IPv6 bool
}

// rule is a MarkRule in the form the packet path compares cheaply.
type rule struct {
	proto                  uint8
	src, srcMask           uint32
	dst, dstMask           uint32
	spLo, spHi, dpLo, dpHi uint16
	inPort                 int
	mark                   uint32
}

// Classifier assigns firewall marks to frames. It is immutable and safe for
// concurrent use; the daemon builds a new one on reload.
type Classifier struct {
	rules  []rule
	rules6 []rule6 // IPv6 rules (classify6.go)
}

// NewClassifier compiles rules in order. Like iptables' MARK target, which
// does not stop the chain, every matching rule sets the mark, so the last
// matching rule wins.
func NewClassifier(rules []MarkRule) *Classifier {
	c := &Classifier{rules: make([]rule, 0, len(rules))}
	for _, r := range rules {
		if r.IPv6 || r.Src.Addr().Is6() || r.Dst.Addr().Is6() {
			c.add6(r) // never an IPv4 rule: its prefixes would compile to "any" (classify6.go)
			continue
		}
		cr := rule{proto: r.Proto, spLo: r.SPortLo, spHi: r.SPortHi, dpLo: r.DPortLo, dpHi: r.DPortHi,
			inPort: r.InPort, mark: r.Mark}
		cr.src, cr.srcMask = prefixBits(r.Src)
		cr.dst, cr.dstMask = prefixBits(r.Dst)
		if cr.spHi == 0 && cr.spLo == 0 {
			cr.spHi = 0xffff
		}
		if cr.dpHi == 0 && cr.dpLo == 0 {
			cr.dpHi = 0xffff
		}
		c.rules = append(c.rules, cr)
	}
	return c
}

func prefixBits(p netip.Prefix) (addr, mask uint32) {
	if !p.IsValid() || !p.Addr().Is4() {
		return 0, 0
	}
	mask = ^uint32(0) << (32 - p.Bits())
	if p.Bits() == 0 {
		mask = 0
	}
	return be32(p.Addr().As4()) & mask, mask
}

func be32(b [4]byte) uint32 {
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// Mark returns the firewall mark of an IPv4 frame that arrived on port
// inPort, or 0 when no rule matches. It does not allocate.
func (c *Classifier) Mark(p *frame.Parsed, inPort int) uint32 {
	if c == nil || len(c.rules) == 0 {
		return 0
	}
	if p.Kind != frame.KindIPv4 {
		return 0 // an IPv6 frame is classified by Mark6 (classify6.go)
	}
	src, dst := be32(p.Src.Addr().As4()), be32(p.Dst.Addr().As4())
	sp, dp := p.Src.Port(), p.Dst.Port()
	var mark uint32
	for i := range c.rules {
		r := &c.rules[i]
		if r.proto != 0 && r.proto != p.Proto ||
			src&r.srcMask != r.src || dst&r.dstMask != r.dst ||
			sp < r.spLo || sp > r.spHi || dp < r.dpLo || dp > r.dpHi ||
			r.inPort >= 0 && r.inPort != inPort {
			continue
		}
		mark = r.mark
	}
	return mark
}
