package dataplane

import (
	"encoding/binary"

	"lvs/frame"
)

// Malformed and hostile frames. frame.Decode turns an IPv4 datagram it
// cannot use into KindOther without saying why, which keeps the decode of
// good frames short; the worker asks ipv4Fault only for those, so the
// reasons cost the packet path nothing. The kernel drops such datagrams in
// ip_rcv too (lvsd's guard passes them to it), so dropping them here is
// only the counting: truncated, bad_header and bad_ip_checksum match
// /proc/net/snmp's InTruncatedPkts, InHdrErrors and InCsumErrors.

// ipv4Fault says why the untagged IPv4 frame f, which Decode refused, is
// unusable, in the order ip_rcv checks it. It reports false for a frame
// that is not IPv4, and for a GSO super-frame over 64 KB (total length 0,
// which Decode leaves to the kernel as well).
func ipv4Fault(f []byte, m Meta) (DropReason, bool) {
	if len(f) < frame.EthernetLen || binary.BigEndian.Uint16(f[frame.EthernetLen-2:]) != frame.EtherTypeIPv4 {
		return 0, false
	}
	ip := frame.IPv4(f[frame.EthernetLen:])
	if len(ip) < frame.IPv4MinLen {
		return DropTruncated, true
	}
	hl, tl := ip.HeaderLen(), ip.TotalLen()
	switch {
	case tl == 0 && m.IsGSO():
		return 0, false
	case ip[0]>>4 != 4 || hl < frame.IPv4MinLen || tl < hl:
		return DropBadHeader, true
	case hl > len(ip):
		return DropTruncated, true
	case !ip.ValidChecksum():
		if hl > frame.IPv4MinLen && frame.Fold(frame.Sum(ip[:frame.IPv4MinLen], 0)) == 0xffff {
			return DropBadHeader, true // the sum covers 20 bytes: the header length is what is wrong
		}
		return DropBadIPChecksum, true
	case tl > len(ip):
		return DropTruncated, true
	}
	if ip.FragOffset() != 0 {
		return 0, false // Decode takes every later fragment
	}
	l4 := ip[hl:tl]
	switch ip.Protocol() {
	case frame.ProtoTCP:
		switch {
		case len(l4) < frame.TCPMinLen && ip.MF():
			return DropTinyFragment, true // RFC 1858: the flags may come in a later fragment
		case len(l4) < frame.TCPMinLen:
			return DropTruncated, true
		case frame.TCP(l4).HeaderLen() < frame.TCPMinLen:
			return DropBadHeader, true
		}
		return DropTruncated, true // its options run past the datagram
	case frame.ProtoUDP:
		switch {
		case len(l4) < frame.UDPLen && ip.MF():
			return DropTinyFragment, true
		case len(l4) < frame.UDPLen:
			return DropTruncated, true
		case frame.UDP(l4).Length() > len(l4):
			return DropTruncated, true
		}
		return DropBadHeader, true // a length shorter than its own header
	case frame.ProtoICMP:
		if ip.MF() {
			return DropTinyFragment, true
		}
		return DropTruncated, true
	}
	return 0, false
}

// arpConflict reports whether the ARP frame being processed claims, from
// another MAC than any of lvsd's ports, an address lvsd owns: someone else
// answering for the VIP (a spoofer, or a second active router). lvsd does
// not learn from it and answers nothing.
func (w *Worker) arpConflict(f []byte, st *State) bool {
	a := w.p.ARP(f)
	if _, ok := st.Owned.Port(a.SenderIP().As4()); !ok {
		return false
	}
	mac := a.SenderMAC()
	for _, p := range w.d.Ports {
		if p.MAC == mac {
			return false
		}
	}
	return true
}

// validTCPFlags reports whether fl is a combination a TCP endpoint sends
// (netfilter's tcp_valid_flags: ECE, CWR and PSH aside, one of SYN,
// SYN+URG, SYN+ACK, RST, RST+ACK, FIN+ACK, FIN+ACK+URG, ACK, ACK+URG).
func validTCPFlags(fl frame.TCPFlags) bool {
	switch fl &^ (frame.ECE | frame.CWR | frame.PSH) {
	case frame.SYN, frame.SYN | frame.URG, frame.SYN | frame.ACK,
		frame.RST, frame.RST | frame.ACK,
		frame.FIN | frame.ACK, frame.FIN | frame.ACK | frame.URG,
		frame.ACK, frame.ACK | frame.URG:
		return true
	}
	return false
}

// badL4Checksum reports whether the TCP, UDP or ICMP datagram being
// processed (IPv4 or IPv6, whole: a fragment's checksum covers the datagram
// and cannot be checked alone) carries a checksum that does not add up.
// It is asked before a frame changes any state or is forwarded, so a
// segment the receiver would discard neither resets a connection nor
// reaches a real server; the kernel's TCP and UDP receive paths count
// them as InCsumErrors. A checksum the sender left to offload
// (NeedsCsum) or the receiving interface verified (DataValid) is taken
// as it is, so frames from real NICs and local sockets cost no sum; an
// IPv4 UDP datagram may go without a checksum (zero), an IPv6 one may
// not (RFC 8200 §8.1).
func (w *Worker) badL4Checksum(f []byte, m Meta) bool {
	p := &w.p
	if p.Partial || m.Flags&DataValid != 0 || m.IsGSO() || p.IsFragment() || p.End > len(f) || p.L4 >= p.End {
		return false
	}
	l4 := f[p.L4:p.End]
	var initial uint32
	switch p.Proto {
	case frame.ProtoTCP:
		if len(l4) < frame.TCPMinLen {
			return false // Decode's and ipv4Fault's to judge
		}
	case frame.ProtoUDP:
		if len(l4) < frame.UDPLen {
			return false
		}
		if p.Kind == frame.KindIPv4 && binary.BigEndian.Uint16(l4[6:]) == 0 {
			return false
		}
	case frame.ProtoICMP:
		if p.Kind != frame.KindIPv4 {
			return false
		}
		return frame.Fold(frame.Sum(l4, 0)) != 0xffff // no pseudo header
	case frame.ProtoICMPv6:
	default:
		return false
	}
	if p.Kind == frame.KindIPv6 {
		initial = frame.IPv6(f[p.L3:p.End]).PseudoHeaderSum(p.Proto, len(l4))
	} else {
		initial = frame.PseudoHeaderSum(p.Src.Addr().As4(), p.Dst.Addr().As4(), p.Proto, len(l4))
	}
	return frame.Fold(frame.Sum(l4, initial)) != 0xffff
}
