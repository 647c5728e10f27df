package frame

import (
	"encoding/binary"
	"net/netip"
)

// ARP operation codes (RFC 826).
const (
	ARPRequest uint16 = 1
	ARPReply   uint16 = 2
)

// Sizes of an IPv4-over-Ethernet ARP packet and of the untagged frame that
// carries it. The frame is not padded to the 60-byte Ethernet minimum: the
// NIC driver pads short frames on transmit.
const (
	ARPLen      = 28
	ARPFrameLen = EthernetLen + ARPLen
)

const (
	arpHType = 0  // hardware type, 1 = Ethernet
	arpPType = 2  // protocol type, 0x0800
	arpHLen  = 4  // 6
	arpPLen  = 5  // 4
	arpOp    = 6  // operation
	arpSHA   = 8  // sender hardware address
	arpSPA   = 14 // sender protocol address
	arpTHA   = 18 // target hardware address
	arpTPA   = 24 // target protocol address
)

// ARP is a view of an IPv4-over-Ethernet ARP packet (RFC 826), the payload
// of an Ethernet frame of type EtherTypeARP. Call Valid before any accessor.
type ARP []byte

// Valid reports whether a holds an Ethernet/IPv4 ARP packet: hardware type
// 1, protocol type 0x0800, address lengths 6 and 4. Other ARP varieties are
// not ours to answer.
func (a ARP) Valid() bool {
	return len(a) >= ARPLen &&
		binary.BigEndian.Uint16(a[arpHType:]) == 1 &&
		binary.BigEndian.Uint16(a[arpPType:]) == EtherTypeIPv4 &&
		a[arpHLen] == 6 && a[arpPLen] == 4
}

// Op returns the operation: ARPRequest or ARPReply.
func (a ARP) Op() uint16 { return binary.BigEndian.Uint16(a[arpOp:]) }

// SenderMAC returns the sender hardware address.
func (a ARP) SenderMAC() MAC { return MAC(a[arpSHA : arpSHA+6]) }

// SenderIP returns the sender protocol address.
func (a ARP) SenderIP() netip.Addr { return netip.AddrFrom4([4]byte(a[arpSPA : arpSPA+4])) }

// TargetMAC returns the target hardware address (zero in most requests).
func (a ARP) TargetMAC() MAC { return MAC(a[arpTHA : arpTHA+6]) }

// TargetIP returns the target protocol address.
func (a ARP) TargetIP() netip.Addr { return netip.AddrFrom4([4]byte(a[arpTPA : arpTPA+4])) }

// IsGratuitous reports whether a announces its sender: sender and target
// protocol addresses are equal (RFC 5227 §3, RFC 5944 §4.6).
func (a ARP) IsGratuitous() bool {
	return [4]byte(a[arpSPA:arpSPA+4]) == [4]byte(a[arpTPA:arpTPA+4])
}

// ARPMessage holds the fields of an ARP packet to build with Put.
type ARPMessage struct {
	Op        uint16
	SenderMAC MAC
	SenderIP  netip.Addr // must be IPv4
	TargetMAC MAC
	TargetIP  netip.Addr // must be IPv4
}

// Put writes an untagged Ethernet frame carrying m into buf, from
// m.SenderMAC to ethDst, and returns ARPFrameLen. It panics if buf is
// shorter than ARPFrameLen or an address is not IPv4, as a misuse of the
// caller's own buffer would be a bug.
func (m *ARPMessage) Put(buf []byte, ethDst MAC) int {
	_ = buf[ARPFrameLen-1]
	if !m.SenderIP.Is4() || !m.TargetIP.Is4() {
		panic("frame: ARPMessage.Put: address is not IPv4")
	}
	e := Ethernet(buf)
	e.SetDst(ethDst)
	e.SetSrc(m.SenderMAC)
	binary.BigEndian.PutUint16(buf[ethType:], EtherTypeARP)
	a := buf[EthernetLen:ARPFrameLen]
	binary.BigEndian.PutUint16(a[arpHType:], 1)
	binary.BigEndian.PutUint16(a[arpPType:], EtherTypeIPv4)
	a[arpHLen], a[arpPLen] = 6, 4
	binary.BigEndian.PutUint16(a[arpOp:], m.Op)
	copy(a[arpSHA:], m.SenderMAC[:])
	s, t := m.SenderIP.As4(), m.TargetIP.As4()
	copy(a[arpSPA:], s[:])
	copy(a[arpTHA:], m.TargetMAC[:])
	copy(a[arpTPA:], t[:])
	return ARPFrameLen
}

// PutARPRequest writes a broadcast who-has request for target from mac/ip
// into buf and returns its length (ARPFrameLen).
func PutARPRequest(buf []byte, mac MAC, ip, target netip.Addr) int {
	m := ARPMessage{Op: ARPRequest, SenderMAC: mac, SenderIP: ip, TargetIP: target}
	return m.Put(buf, BroadcastMAC)
}

// PutARPReply writes the reply "ip is at mac" to the request req (a valid
// ARP view) into buf, unicast to the requester, and returns its length.
func PutARPReply(buf []byte, req ARP, mac MAC, ip netip.Addr) int {
	m := ARPMessage{Op: ARPReply, SenderMAC: mac, SenderIP: ip,
		TargetMAC: req.SenderMAC(), TargetIP: req.SenderIP()}
	return m.Put(buf, req.SenderMAC())
}

// PutGratuitousARP writes a broadcast gratuitous ARP announcing that ip is
// at mac, with sender and target address both ip, and returns its length.
// op ARPRequest is the RFC 5227 §2.3 announcement (target MAC zero);
// ARPReply is what heartbeat's send_arp sends, with target MAC broadcast.
// Both update neighbours' caches on Linux (arp_process accepts either).
func PutGratuitousARP(buf []byte, op uint16, mac MAC, ip netip.Addr) int {
	m := ARPMessage{Op: op, SenderMAC: mac, SenderIP: ip, TargetIP: ip}
	if op == ARPReply {
		m.TargetMAC = BroadcastMAC
	}
	return m.Put(buf, BroadcastMAC)
}
