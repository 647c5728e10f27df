package frame

import (
	"encoding/binary"
	"net/netip"
)

// TCPFlags holds the TCP control bits (RFC 9293 §3.1, RFC 3168 for ECE/CWR).
type TCPFlags uint8

// TCP control bits.
const (
	FIN TCPFlags = 1 << iota
	SYN
	RST
	PSH
	ACK
	URG
	ECE
	CWR
)

// String returns the set flags in tcpdump's order of significance, such as
// "SYN|ACK", or "none".
func (f TCPFlags) String() string {
	names := [...]string{"FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR"}
	s := ""
	for i, n := range names {
		if f&(1<<i) != 0 {
			if s != "" {
				s += "|"
			}
			s += n
		}
	}
	if s == "" {
		return "none"
	}
	return s
}

// TCPMinLen is the length of a TCP header without options.
const TCPMinLen = 20

const (
	tcpSrcPort = 0
	tcpDstPort = 2
	tcpSeq     = 4
	tcpAck     = 8
	tcpDataOff = 12 // data offset in the high 4 bits
	tcpFlags   = 13
	tcpWindow  = 14
	tcpSum     = 16
	tcpUrgent  = 18

	// TCPChecksumOffset is where the checksum sits in the TCP header: the
	// csum_offset of a CHECKSUM_PARTIAL TCP segment.
	TCPChecksumOffset = tcpSum
)

// TCP option kinds (RFC 9293 §3.2).
const (
	tcpOptEnd = 0
	tcpOptNOP = 1
	tcpOptMSS = 2
)

// TCP is a view of a TCP segment: header, options and payload. Call Valid
// before any accessor.
type TCP []byte

// Valid reports whether t holds a TCP header whose data offset is at least
// 5 words and within t.
func (t TCP) Valid() bool {
	if len(t) < TCPMinLen {
		return false
	}
	off := int(t[tcpDataOff]>>4) * 4
	return off >= TCPMinLen && off <= len(t)
}

// SrcPort returns the source port.
func (t TCP) SrcPort() uint16 { return binary.BigEndian.Uint16(t[tcpSrcPort:]) }

// DstPort returns the destination port.
func (t TCP) DstPort() uint16 { return binary.BigEndian.Uint16(t[tcpDstPort:]) }

// Seq returns the sequence number.
func (t TCP) Seq() uint32 { return binary.BigEndian.Uint32(t[tcpSeq:]) }

// Ack returns the acknowledgment number.
func (t TCP) Ack() uint32 { return binary.BigEndian.Uint32(t[tcpAck:]) }

// HeaderLen returns the data offset in bytes: the header with its options.
func (t TCP) HeaderLen() int { return int(t[tcpDataOff]>>4) * 4 }

// Flags returns the control bits.
func (t TCP) Flags() TCPFlags { return TCPFlags(t[tcpFlags]) }

// Window returns the receive window field (unscaled).
func (t TCP) Window() uint16 { return binary.BigEndian.Uint16(t[tcpWindow:]) }

// Checksum returns the checksum field.
func (t TCP) Checksum() uint16 { return binary.BigEndian.Uint16(t[tcpSum:]) }

// Urgent returns the urgent pointer.
func (t TCP) Urgent() uint16 { return binary.BigEndian.Uint16(t[tcpUrgent:]) }

// Options returns the option bytes.
func (t TCP) Options() []byte { return t[TCPMinLen:t.HeaderLen()] }

// Payload returns the data after the header. t should end where the IP
// datagram ends (see Parsed.End), or link padding is included.
func (t TCP) Payload() []byte { return t[t.HeaderLen():] }

// MSS returns the value of the maximum segment size option (RFC 9293
// §3.7.1), which only SYN segments carry, and whether it was present and
// well formed.
func (t TCP) MSS() (uint16, bool) {
	o := t.Options()
	for len(o) > 0 {
		switch o[0] {
		case tcpOptEnd:
			return 0, false
		case tcpOptNOP:
			o = o[1:]
			continue
		}
		if len(o) < 2 || int(o[1]) < 2 || int(o[1]) > len(o) {
			return 0, false
		}
		if o[0] == tcpOptMSS {
			if o[1] != 4 {
				return 0, false
			}
			return binary.BigEndian.Uint16(o[2:]), true
		}
		o = o[o[1]:]
	}
	return 0, false
}

// SetChecksum stores sum in the checksum field.
func (t TCP) SetChecksum(sum uint16) { binary.BigEndian.PutUint16(t[tcpSum:], sum) }

// SetSeq sets the sequence number without touching the checksum.
func (t TCP) SetSeq(seq uint32) { binary.BigEndian.PutUint32(t[tcpSeq:], seq) }

// SetFlags sets the control bits without touching the checksum.
func (t TCP) SetFlags(f TCPFlags) { t[tcpFlags] = uint8(f) }

// SetSrcPort rewrites the source port and patches a complete checksum
// (RFC 1624). For a CHECKSUM_PARTIAL segment use Parsed.SetSrc.
func (t TCP) SetSrcPort(p uint16) {
	old := t.SrcPort()
	binary.BigEndian.PutUint16(t[tcpSrcPort:], p)
	t.SetChecksum(Update16(t.Checksum(), old, p))
}

// SetDstPort rewrites the destination port and patches a complete checksum.
func (t TCP) SetDstPort(p uint16) {
	old := t.DstPort()
	binary.BigEndian.PutUint16(t[tcpDstPort:], p)
	t.SetChecksum(Update16(t.Checksum(), old, p))
}

// UpdateAddr patches a complete checksum after an address of the pseudo
// header changed from old to new (as IPv4.SetSrc/SetDst do); both IPv4, or
// both IPv6 (as IPv6.SetSrc/SetDst do).
func (t TCP) UpdateAddr(old, new netip.Addr) {
	if old.Is4() {
		t.SetChecksum(Update32(t.Checksum(), old.As4(), new.As4()))
		return
	}
	o := old.As16()
	t.SetChecksum(^Fold(uint32(^t.Checksum()) + addrDelta6(o[:], new.As16())))
}

// ComputeChecksum returns the checksum t should carry inside IPv4 header
// ip, computed over the pseudo header and the whole of t with the checksum
// field taken as zero. t must end where the datagram ends.
func (t TCP) ComputeChecksum(ip IPv4) uint16 {
	s := ip.PseudoHeaderSum(len(t))
	s = Sum(t[:tcpSum], s)
	return ^Fold(Sum(t[tcpUrgent:], s))
}

// ValidChecksum reports whether the checksum of t inside ip is correct.
func (t TCP) ValidChecksum(ip IPv4) bool {
	return Fold(Sum(t, ip.PseudoHeaderSum(len(t)))) == 0xffff
}

// UpdateChecksum recomputes the checksum from scratch.
func (t TCP) UpdateChecksum(ip IPv4) { t.SetChecksum(t.ComputeChecksum(ip)) }

// ComputeChecksum6 returns the checksum t should carry inside the IPv6
// datagram ip (RFC 8200 §8.1). t must end where the datagram ends.
func (t TCP) ComputeChecksum6(ip IPv6) uint16 {
	s := ip.PseudoHeaderSum(ProtoTCP, len(t))
	s = Sum(t[:tcpSum], s)
	return ^Fold(Sum(t[tcpUrgent:], s))
}

// ValidChecksum6 reports whether the checksum of t inside the IPv6
// datagram ip is correct.
func (t TCP) ValidChecksum6(ip IPv6) bool {
	return Fold(Sum(t, ip.PseudoHeaderSum(ProtoTCP, len(t)))) == 0xffff
}

// UpdateChecksum6 recomputes the checksum inside the IPv6 datagram ip.
func (t TCP) UpdateChecksum6(ip IPv6) { t.SetChecksum(t.ComputeChecksum6(ip)) }
