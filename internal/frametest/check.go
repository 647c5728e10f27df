package frametest

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"lvs/frame"
)

// Layers is a frame decoded by gopacket, for checkers. Absent layers are
// nil.
type Layers struct {
	Raw   []byte
	Eth   *layers.Ethernet
	Dot1Q *layers.Dot1Q
	ARP   *layers.ARP
	IP    *layers.IPv4
	TCP   *layers.TCP
	UDP   *layers.UDP
	ICMP  *layers.ICMPv4
	Err   error // gopacket's decoding error, if any

	IP6   *layers.IPv6
	Frag6 *layers.IPv6Fragment
	ICMP6 *layers.ICMPv6
	Echo6 *layers.ICMPv6Echo
	NS    *layers.ICMPv6NeighborSolicitation
	NA    *layers.ICMPv6NeighborAdvertisement
}

// Decode decodes f with gopacket.
func Decode(f []byte) *Layers {
	pk := gopacket.NewPacket(f, layers.LayerTypeEthernet, gopacket.Default)
	l := &Layers{Raw: f}
	if e := pk.ErrorLayer(); e != nil {
		l.Err = e.Error()
	}
	l.Eth, _ = pk.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
	l.Dot1Q, _ = pk.Layer(layers.LayerTypeDot1Q).(*layers.Dot1Q)
	l.ARP, _ = pk.Layer(layers.LayerTypeARP).(*layers.ARP)
	l.IP, _ = pk.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	l.TCP, _ = pk.Layer(layers.LayerTypeTCP).(*layers.TCP)
	l.UDP, _ = pk.Layer(layers.LayerTypeUDP).(*layers.UDP)
	l.ICMP, _ = pk.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
	if l.IP != nil && l.IP.Flags&layers.IPv4MoreFragments != 0 || l.IP != nil && l.IP.FragOffset != 0 {
		l.TCP, l.UDP, l.ICMP = nil, nil, nil // gopacket decodes fragment data as L4: not ours to check
	}
	l.IP6, _ = pk.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
	l.Frag6, _ = pk.Layer(layers.LayerTypeIPv6Fragment).(*layers.IPv6Fragment)
	l.ICMP6, _ = pk.Layer(layers.LayerTypeICMPv6).(*layers.ICMPv6)
	l.Echo6, _ = pk.Layer(layers.LayerTypeICMPv6Echo).(*layers.ICMPv6Echo)
	l.NS, _ = pk.Layer(layers.LayerTypeICMPv6NeighborSolicitation).(*layers.ICMPv6NeighborSolicitation)
	l.NA, _ = pk.Layer(layers.LayerTypeICMPv6NeighborAdvertisement).(*layers.ICMPv6NeighborAdvertisement)
	if l.Frag6 != nil && (l.Frag6.FragmentOffset != 0 || l.Frag6.MoreFragments) {
		l.TCP, l.UDP, l.ICMP6, l.Echo6, l.NS, l.NA = nil, nil, nil, nil, nil, nil
	}
	return l
}

// A Checker checks one property of a decoded frame and returns "" when it
// holds, or what was got and wanted.
type Checker func(l *Layers) string

// Check decodes f with gopacket and reports every failing checker with
// t.Errorf, naming the property with got and want.
func Check(t testing.TB, f []byte, checks ...Checker) {
	t.Helper()
	l := Decode(f)
	for _, c := range checks {
		if msg := c(l); msg != "" {
			t.Errorf("frame check: %s", msg)
		}
	}
}

// mismatch formats a failed property, or "" when got equals want.
func mismatch[T comparable](what string, got, want T) string {
	if got == want {
		return ""
	}
	return fmt.Sprintf("%s = %v, want %v", what, got, want)
}

func addr(b []byte) netip.Addr { a, _ := netip.AddrFromSlice(b); return a.Unmap() }

// SrcAddr checks the IPv4 or IPv6 source address.
func SrcAddr(a netip.Addr) Checker {
	return func(l *Layers) string {
		switch {
		case l.IP != nil:
			return mismatch("IPv4 src", addr(l.IP.SrcIP), a)
		case l.IP6 != nil:
			return mismatch("IPv6 src", addr(l.IP6.SrcIP), a)
		}
		return "SrcAddr: no IP layer"
	}
}

// DstAddr checks the IPv4 or IPv6 destination address.
func DstAddr(a netip.Addr) Checker {
	return func(l *Layers) string {
		switch {
		case l.IP != nil:
			return mismatch("IPv4 dst", addr(l.IP.DstIP), a)
		case l.IP6 != nil:
			return mismatch("IPv6 dst", addr(l.IP6.DstIP), a)
		}
		return "DstAddr: no IP layer"
	}
}

// ports returns the TCP or UDP ports.
func (l *Layers) ports() (src, dst uint16, ok bool) {
	switch {
	case l.TCP != nil:
		return uint16(l.TCP.SrcPort), uint16(l.TCP.DstPort), true
	case l.UDP != nil:
		return uint16(l.UDP.SrcPort), uint16(l.UDP.DstPort), true
	}
	return 0, 0, false
}

// SrcPort checks the TCP or UDP source port.
func SrcPort(p uint16) Checker {
	return func(l *Layers) string {
		s, _, ok := l.ports()
		if !ok {
			return "SrcPort: no TCP/UDP layer"
		}
		return mismatch("src port", s, p)
	}
}

// DstPort checks the TCP or UDP destination port.
func DstPort(p uint16) Checker {
	return func(l *Layers) string {
		_, d, ok := l.ports()
		if !ok {
			return "DstPort: no TCP/UDP layer"
		}
		return mismatch("dst port", d, p)
	}
}

// TTL checks the IPv4 time to live or the IPv6 hop limit.
func TTL(n uint8) Checker {
	return func(l *Layers) string {
		switch {
		case l.IP != nil:
			return mismatch("TTL", l.IP.TTL, n)
		case l.IP6 != nil:
			return mismatch("hop limit", l.IP6.HopLimit, n)
		}
		return "TTL: no IP layer"
	}
}

// IPID checks the IP identification.
func IPID(n uint16) Checker {
	return func(l *Layers) string {
		if l.IP == nil {
			return "IPID: no IPv4 layer"
		}
		return mismatch("IP ID", l.IP.Id, n)
	}
}

// Fragment checks the fragment offset (bytes) and MF flag.
func Fragment(offset int, more bool) Checker {
	return func(l *Layers) string {
		if l.IP == nil {
			return "Fragment: no IPv4 layer"
		}
		return mismatch("fragment (offset, MF)",
			[2]any{int(l.IP.FragOffset) * 8, l.IP.Flags&layers.IPv4MoreFragments != 0}, [2]any{offset, more})
	}
}

// Flags checks the TCP control bits.
func Flags(f frame.TCPFlags) Checker {
	return func(l *Layers) string {
		if l.TCP == nil {
			return "Flags: no TCP layer"
		}
		t := l.TCP
		var got frame.TCPFlags
		for i, b := range []bool{t.FIN, t.SYN, t.RST, t.PSH, t.ACK, t.URG, t.ECE, t.CWR} {
			if b {
				got |= 1 << i
			}
		}
		return mismatch("TCP flags", got, f)
	}
}

// Seq checks the TCP sequence number.
func Seq(n uint32) Checker {
	return func(l *Layers) string {
		if l.TCP == nil {
			return "Seq: no TCP layer"
		}
		return mismatch("TCP seq", l.TCP.Seq, n)
	}
}

// Payload checks the L4 payload (TCP, UDP or ICMP data).
func Payload(p []byte) Checker {
	return func(l *Layers) string {
		var got []byte
		switch {
		case l.TCP != nil:
			got = l.TCP.Payload
		case l.UDP != nil:
			got = l.UDP.Payload
		case l.ICMP != nil:
			got = l.ICMP.Payload
		case l.Echo6 != nil:
			got = l.Echo6.Payload
		case l.ICMP6 != nil && len(l.ICMP6.Payload) >= 4:
			got = l.ICMP6.Payload[4:] // after the 4 bytes of MTU, pointer or unused
		default:
			return "Payload: no L4 layer"
		}
		if !bytes.Equal(got, p) {
			return fmt.Sprintf("payload = %d bytes %.16x…, want %d bytes %.16x…", len(got), got, len(p), p)
		}
		return ""
	}
}

// Len checks the length of the whole frame.
func Len(n int) Checker {
	return func(l *Layers) string { return mismatch("frame length", len(l.Raw), n) }
}

// SrcMAC checks the Ethernet source.
func SrcMAC(m frame.MAC) Checker {
	return func(l *Layers) string {
		if l.Eth == nil || len(l.Eth.SrcMAC) != 6 {
			return "SrcMAC: no Ethernet layer"
		}
		return mismatch("Ethernet src", frame.MAC(l.Eth.SrcMAC), m)
	}
}

// DstMAC checks the Ethernet destination.
func DstMAC(m frame.MAC) Checker {
	return func(l *Layers) string {
		if l.Eth == nil || len(l.Eth.DstMAC) != 6 {
			return "DstMAC: no Ethernet layer"
		}
		return mismatch("Ethernet dst", frame.MAC(l.Eth.DstMAC), m)
	}
}

// VLAN checks the 802.1Q VLAN ID; 0 means untagged.
func VLAN(id uint16) Checker {
	return func(l *Layers) string {
		var got uint16
		if l.Dot1Q != nil {
			got = l.Dot1Q.VLANIdentifier
		}
		return mismatch("VLAN", got, id)
	}
}

// ICMPType checks the ICMP or ICMPv6 type and code.
func ICMPType(typ, code uint8) Checker {
	return func(l *Layers) string {
		if l.ICMP6 != nil {
			return mismatch("ICMPv6 type/code", [2]uint8{l.ICMP6.TypeCode.Type(), l.ICMP6.TypeCode.Code()}, [2]uint8{typ, code})
		}
		if l.ICMP == nil {
			return "ICMPType: no ICMP layer"
		}
		return mismatch("ICMP type/code", [2]uint8{l.ICMP.TypeCode.Type(), l.ICMP.TypeCode.Code()}, [2]uint8{typ, code})
	}
}

// Inner checks the addresses and ports of the datagram quoted by an ICMP
// error (ports 0 when not quoted or not TCP/UDP).
func Inner(src, dst netip.AddrPort) Checker {
	return func(l *Layers) string {
		if l.ICMP6 != nil {
			return inner6(l, src, dst)
		}
		if l.ICMP == nil || len(l.ICMP.Payload) < 20 {
			return "Inner: no ICMP error with a quoted header"
		}
		q := l.ICMP.Payload
		ihl := int(q[0]&0x0f) * 4
		var sp, dp uint16
		if (q[9] == 6 || q[9] == 17) && len(q) >= ihl+4 {
			sp, dp = binary.BigEndian.Uint16(q[ihl:]), binary.BigEndian.Uint16(q[ihl+2:])
		}
		got := [2]netip.AddrPort{netip.AddrPortFrom(addr(q[12:16]), sp), netip.AddrPortFrom(addr(q[16:20]), dp)}
		return mismatch("quoted (src, dst)", got, [2]netip.AddrPort{src, dst})
	}
}

// SumsOK checks every checksum gopacket can verify: the IPv4 header, the
// TCP, UDP (0 is accepted: none, RFC 768) or ICMP checksum of an
// unfragmented datagram, and for an ICMP error the quoted IPv4 header's.
func SumsOK() Checker {
	return func(l *Layers) string {
		if l.IP6 != nil {
			return sums6(l)
		}
		if l.IP == nil {
			return ""
		}
		if _, r := l.IP.VerifyChecksum(); !r.Valid {
			return fmt.Sprintf("IPv4 header checksum = %#04x, want %#04x", r.Actual, r.Correct)
		}
		var r gopacket.ChecksumVerificationResult
		var err error
		what := ""
		switch {
		case l.TCP != nil:
			if err = l.TCP.SetNetworkLayerForChecksum(l.IP); err == nil {
				err, r = l.TCP.VerifyChecksum()
			}
			what = "TCP"
		case l.UDP != nil:
			if err = l.UDP.SetNetworkLayerForChecksum(l.IP); err == nil {
				err, r = l.UDP.VerifyChecksum()
			}
			what = "UDP"
		case l.ICMP != nil:
			err, r = l.ICMP.VerifyChecksum()
			what = "ICMP"
			if q := l.ICMP.Payload; r.Valid && isICMPError(l.ICMP) && quotesIPv4(q) {
				if s := onesSum(q[:int(q[0]&0x0f)*4], 0); s != 0xffff {
					return fmt.Sprintf("quoted IPv4 header sums to %#04x, want 0xffff", s)
				}
			}
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
}

// quotesIPv4 reports whether q starts with a whole IPv4 header.
func quotesIPv4(q []byte) bool {
	return len(q) >= 20 && q[0]>>4 == 4 && q[0]&0x0f >= 5 && len(q) >= int(q[0]&0x0f)*4
}

func isICMPError(c *layers.ICMPv4) bool {
	switch c.TypeCode.Type() {
	case 3, 4, 5, 11, 12:
		return true
	}
	return false
}

// PartialSumOK checks that the TCP or UDP checksum field holds what a
// CHECKSUM_PARTIAL field holds: the folded, non-inverted pseudo-header sum
// for the datagram's L4 length (0 and 0xffff are the same sum).
func PartialSumOK() Checker {
	return func(l *Layers) string {
		if l.IP6 != nil {
			return partial6(l)
		}
		if l.IP == nil || l.TCP == nil && l.UDP == nil {
			return "PartialSumOK: no TCP/UDP in IPv4"
		}
		f := l.Raw
		l3, l4 := l3Offset(f), l4Offset(f)
		end := l3 + int(binary.BigEndian.Uint16(f[l3+2:]))
		off := 16
		if f[l3+9] == 17 {
			off = 6
		}
		got := binary.BigEndian.Uint16(f[l4+off:])
		want := uint16(pseudoSum(f, l3, end-l4))
		if got == want || got^want == 0xffff && (got == 0 || want == 0) {
			return ""
		}
		return fmt.Sprintf("partial L4 checksum = %#04x, want pseudo-header sum %#04x", got, want)
	}
}
