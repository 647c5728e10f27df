package frame

import "encoding/binary"

// Software GSO for TCP over IPv4 and IPv6. veth and other virtual links hand the
// director super-frames of up to 64 KB (DESIGN.md: 65,160-byte frames
// during a plain download). When the egress cannot take them with a
// virtio-net header, they must be cut into MTU-sized segments here, as the
// kernel's tcp_gso_segment and inet_gso_segment (ipv6_gso_segment) would.

// MSSForMTU returns the TCP payload size per segment that makes each
// segment of the datagram decoded into p exactly mtu bytes of IP datagram:
// the MTU less the IP and TCP headers, options included. The result is not
// positive when the headers alone exceed mtu.
func MSSForMTU(p *Parsed, mtu int) int { return mtu - (p.Payload - p.L3) }

// Segment cuts the TCP/IPv4 or TCP/IPv6 frame decoded into p into segments of at most
// mss payload bytes, written into the caller's buffers: dst[i] is resliced
// (within its capacity) to the i-th segment. It returns the number of
// segments, or 0 — writing nothing — when p is not an unfragmented TCP
// datagram, mss is not positive, or dst has too few or too small buffers
// (each needs cap ≥ p.Payload+mss, the last only what it holds).
//
// Each segment carries copies of the Ethernet (and 802.1Q), IP and TCP
// headers with options, and:
//   - IP total length for its size, IP ID = original ID + i (as
//     inet_gso_segment without SKB_GSO_TCP_FIXEDID), header checksum;
//     for IPv6 the payload length for its size, extension headers copied;
//   - sequence number advanced by the payload before it;
//   - CWR only on the first segment, FIN and PSH only on the last, other
//     flags on all (tcp_gso_segment);
//   - a full TCP checksum computed in software, whatever the original
//     held (complete, or partial per CHECKSUM_PARTIAL).
//
// A frame whose payload fits in one segment yields one segment: a copy with
// full checksums.
func Segment(dst [][]byte, frame []byte, p *Parsed, mss int) int {
	if !p.IsIP() || p.Proto != ProtoTCP || p.IsFragment() || mss <= 0 {
		return 0
	}
	hl := p.Payload
	data := frame[hl:p.End]
	n := max((len(data)+mss-1)/mss, 1)
	if n > len(dst) {
		return 0
	}
	for i := range n {
		if cap(dst[i]) < hl+min(mss, len(data)-i*mss) {
			return 0
		}
	}
	l3hl := hl - p.L3
	t0 := TCP(frame[p.L4:p.End])
	seq0, f0 := t0.Seq(), t0.Flags()
	var id0 uint16
	if p.Kind == KindIPv4 {
		id0 = IPv4(frame[p.L3:]).ID()
	}
	for i := range n {
		off := i * mss
		chunk := min(mss, len(data)-off)
		b := dst[i][:hl+chunk]
		copy(b, frame[:hl])
		copy(b[hl:], data[off:off+chunk])
		t := TCP(b[p.L4:])
		t.SetSeq(seq0 + uint32(off))
		f := f0
		if i > 0 {
			f &^= CWR
		}
		if i < n-1 {
			f &^= FIN | PSH
		}
		t.SetFlags(f)
		if p.Kind == KindIPv6 {
			ip := IPv6(b[p.L3:])
			binary.BigEndian.PutUint16(ip[ipv6PayloadLen:], uint16(l3hl-IPv6Len+chunk))
			t.UpdateChecksum6(ip)
		} else {
			ip := IPv4(b[p.L3:])
			binary.BigEndian.PutUint16(ip[ipv4TotalLen:], uint16(l3hl+chunk))
			binary.BigEndian.PutUint16(ip[ipv4ID:], id0+uint16(i))
			ip.UpdateChecksum()
			t.UpdateChecksum(ip)
		}
		dst[i] = b
	}
	return n
}
