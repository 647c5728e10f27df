package dataplane

import (
	"net/netip"

	"lvs/frame"
)

// rule6 is an IPv6 MarkRule in the form Mark6 compares: the addresses as
// two 64-bit words each, masked.
type rule6 struct {
	proto                  uint8
	src, srcMask           [2]uint64
	dst, dstMask           [2]uint64
	spLo, spHi, dpLo, dpHi uint16
	inPort                 int
	mark                   uint32
}

// add6 compiles the IPv6 rule r, keeping the order of NewClassifier's
// rules (the last match wins, as with ip6tables' MARK target).
func (c *Classifier) add6(r MarkRule) {
	cr := rule6{proto: r.Proto, spLo: r.SPortLo, spHi: r.SPortHi, dpLo: r.DPortLo, dpHi: r.DPortHi,
		inPort: r.InPort, mark: r.Mark}
	cr.src, cr.srcMask = prefixWords(r.Src)
	cr.dst, cr.dstMask = prefixWords(r.Dst)
	if cr.spHi == 0 && cr.spLo == 0 {
		cr.spHi = 0xffff
	}
	if cr.dpHi == 0 && cr.dpLo == 0 {
		cr.dpHi = 0xffff
	}
	c.rules6 = append(c.rules6, cr)
}

// prefixWords returns an IPv6 prefix as masked address words and mask
// words; an invalid or IPv4 prefix matches anything (all zero).
func prefixWords(p netip.Prefix) (addr, mask [2]uint64) {
	if !p.IsValid() || !p.Addr().Is6() {
		return addr, mask
	}
	bits := p.Bits()
	for i := range mask {
		switch n := bits - 64*i; {
		case n >= 64:
			mask[i] = ^uint64(0)
		case n > 0:
			mask[i] = ^uint64(0) << (64 - n)
		}
	}
	a := words(p.Addr())
	return [2]uint64{a[0] & mask[0], a[1] & mask[1]}, mask
}

// words returns an IPv6 address as two big-endian words.
func words(a netip.Addr) [2]uint64 {
	b := a.As16()
	var w [2]uint64
	for i := range 8 {
		w[0] = w[0]<<8 | uint64(b[i])
		w[1] = w[1]<<8 | uint64(b[8+i])
	}
	return w
}

// Mark6 returns the firewall mark of an IPv6 frame that arrived on port
// inPort, or 0 when no IPv6 rule matches. It does not allocate.
func (c *Classifier) Mark6(p *frame.Parsed, inPort int) uint32 {
	if c == nil || len(c.rules6) == 0 || p.Kind != frame.KindIPv6 {
		return 0
	}
	src, dst := words(p.Src.Addr()), words(p.Dst.Addr())
	sp, dp := p.Src.Port(), p.Dst.Port()
	var mark uint32
	for i := range c.rules6 {
		r := &c.rules6[i]
		if r.proto != 0 && r.proto != p.Proto ||
			src[0]&r.srcMask[0] != r.src[0] || src[1]&r.srcMask[1] != r.src[1] ||
			dst[0]&r.dstMask[0] != r.dst[0] || dst[1]&r.dstMask[1] != r.dst[1] ||
			sp < r.spLo || sp > r.spHi || dp < r.dpLo || dp > r.dpHi ||
			r.inPort >= 0 && r.inPort != inPort {
			continue
		}
		mark = r.mark
	}
	return mark
}
