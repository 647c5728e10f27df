package frametest

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"lvs/frame"
)

// walk6 follows the extension headers of the IPv6 datagram d (hop-by-hop,
// routing, destination options, fragment), written plainly and apart from
// package frame. It returns the upper-layer protocol and its offset in d,
// and whether that offset holds the upper-layer header (false for a
// non-first fragment or a header chain cut short by the end of d).
func walk6(d []byte) (proto uint8, off int, ok bool) {
	if len(d) < 40 {
		return 0, 0, false
	}
	proto, off = d[6], 40
	for {
		switch proto {
		case 0, 43, 60:
			if off+2 > len(d) {
				return proto, off, false
			}
			n := (int(d[off+1]) + 1) * 8
			if off+n > len(d) {
				return proto, off, false
			}
			proto, off = d[off], off+n
		case 44:
			if off+8 > len(d) {
				return proto, off, false
			}
			fo := binary.BigEndian.Uint16(d[off+2:]) &^ 7
			proto, off = d[off], off+8
			if fo != 0 {
				return proto, off, false
			}
		default:
			return proto, off, true
		}
	}
}

// inner6 is Inner for an ICMPv6 error quoting an IPv6 datagram.
func inner6(l *Layers, src, dst netip.AddrPort) string {
	if len(l.ICMP6.Payload) < 44 || l.ICMP6.Payload[4]>>4 != 6 {
		return "Inner: no ICMPv6 error with a quoted IPv6 header"
	}
	q := l.ICMP6.Payload[4:]
	var sp, dp uint16
	if proto, off, ok := walk6(q); ok && (proto == 6 || proto == 17) && len(q) >= off+4 {
		sp, dp = binary.BigEndian.Uint16(q[off:]), binary.BigEndian.Uint16(q[off+2:])
	}
	got := [2]netip.AddrPort{netip.AddrPortFrom(addr(q[8:24]), sp), netip.AddrPortFrom(addr(q[24:40]), dp)}
	return mismatch("quoted (src, dst)", got, [2]netip.AddrPort{src, dst})
}

// sums6 is SumsOK for IPv6: the TCP, UDP or ICMPv6 checksum of an
// unfragmented datagram over the IPv6 pseudo header. A zero UDP checksum
// is an error over IPv6 (RFC 8200 §8.1).
func sums6(l *Layers) string {
	var r gopacket.ChecksumVerificationResult
	var err error
	what := ""
	switch {
	case l.TCP != nil:
		if err = l.TCP.SetNetworkLayerForChecksum(l.IP6); err == nil {
			err, r = l.TCP.VerifyChecksum()
		}
		what = "TCP"
	case l.UDP != nil:
		if l.UDP.Checksum == 0 {
			return "UDP checksum over IPv6 = 0, which RFC 8200 forbids"
		}
		if err = l.UDP.SetNetworkLayerForChecksum(l.IP6); err == nil {
			err, r = l.UDP.VerifyChecksum()
		}
		what = "UDP"
	case l.ICMP6 != nil:
		if err = l.ICMP6.SetNetworkLayerForChecksum(l.IP6); err == nil {
			err, r = l.ICMP6.VerifyChecksum()
		}
		what = "ICMPv6"
	default:
		return ""
	}
	if err != nil {
		return fmt.Sprintf("%s checksum: %v", what, err)
	}
	if !r.Valid {
		return fmt.Sprintf("%s checksum = %#04x, want %#04x", what, r.Actual, r.Correct)
	}
	return ""
}

// partial6 is PartialSumOK for IPv6.
func partial6(l *Layers) string {
	if l.TCP == nil && l.UDP == nil {
		return "PartialSumOK: no TCP/UDP in IPv6"
	}
	f := l.Raw
	l3 := l3Offset(f)
	d := f[l3 : l3+40+int(binary.BigEndian.Uint16(f[l3+4:]))]
	proto, off, ok := walk6(d)
	if !ok {
		return "PartialSumOK: no upper-layer header"
	}
	sumOff := 16
	if proto == 17 {
		sumOff = 6
	}
	n := len(d) - off
	s := onesSum(d[8:40], 0)
	s = onesSum([]byte{0, 0, byte(n >> 8), byte(n), 0, 0, 0, proto}, s)
	got, want := binary.BigEndian.Uint16(d[off+sumOff:]), uint16(s)
	if got == want || got^want == 0xffff && (got == 0 || want == 0) {
		return ""
	}
	return fmt.Sprintf("partial L4 checksum = %#04x, want pseudo-header sum %#04x", got, want)
}

// NDTarget checks the target address of a neighbour solicitation or
// advertisement.
func NDTarget(a netip.Addr) Checker {
	return func(l *Layers) string {
		switch {
		case l.NS != nil:
			return mismatch("NS target", addr(l.NS.TargetAddress), a)
		case l.NA != nil:
			return mismatch("NA target", addr(l.NA.TargetAddress), a)
		}
		return "NDTarget: no neighbour solicitation or advertisement"
	}
}

// NAFlags checks the router, solicited and override flags of a neighbour
// advertisement.
func NAFlags(f frame.NAFlags) Checker {
	return func(l *Layers) string {
		if l.NA == nil {
			return "NAFlags: no neighbour advertisement"
		}
		return mismatch("NA flags", frame.NAFlags(l.NA.Flags), f)
	}
}

// LinkAddr checks the link-layer address option of a neighbour
// solicitation (source) or advertisement (target); the zero MAC means
// there must be none.
func LinkAddr(m frame.MAC) Checker {
	return func(l *Layers) string {
		var opts layers.ICMPv6Options
		want := layers.ICMPv6OptSourceAddress
		switch {
		case l.NS != nil:
			opts = l.NS.Options
		case l.NA != nil:
			opts, want = l.NA.Options, layers.ICMPv6OptTargetAddress
		default:
			return "LinkAddr: no neighbour solicitation or advertisement"
		}
		var got frame.MAC
		for _, o := range opts {
			if o.Type == want && len(o.Data) == 6 {
				got = frame.MAC(o.Data)
			}
		}
		return mismatch("link-layer address option", got, m)
	}
}

// ICMPv6Param checks the 32-bit field after the ICMPv6 checksum: the MTU
// of a packet too big, the pointer of a parameter problem.
func ICMPv6Param(v uint32) Checker {
	return func(l *Layers) string {
		if l.ICMP6 == nil || len(l.ICMP6.Payload) < 4 {
			return "ICMPv6Param: no ICMPv6 message"
		}
		return mismatch("ICMPv6 MTU/pointer", binary.BigEndian.Uint32(l.ICMP6.Payload), v)
	}
}

// Fragment6 checks the IPv6 fragment header: offset (bytes), M flag and
// identification.
func Fragment6(offset int, more bool, id uint32) Checker {
	return func(l *Layers) string {
		if l.Frag6 == nil {
			return "Fragment6: no IPv6 fragment header"
		}
		return mismatch("IPv6 fragment (offset, M, id)",
			[3]any{int(l.Frag6.FragmentOffset) * 8, l.Frag6.MoreFragments, l.Frag6.Identification}, [3]any{offset, more, id})
	}
}
