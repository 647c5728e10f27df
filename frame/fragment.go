package frame

import "encoding/binary"

// IPv4Fragments returns how many fragments FragmentIPv4 cuts an IPv4
// datagram without options of n bytes (header included) into for an
// egress MTU of mtu, or 0 when mtu leaves no room for data.
func IPv4Fragments(n, mtu int) int {
	per := (mtu - IPv4MinLen) &^ 7
	if per <= 0 || n <= IPv4MinLen {
		return 0
	}
	return (n - IPv4MinLen + per - 1) / per
}

// FragmentIPv4 cuts the Ethernet frame f, whose IPv4 datagram (at
// EthernetLen, without options, DF clear, checksums final) is larger than
// the egress MTU mtu, into fragments of at most mtu bytes, as the kernel's
// ip_fragment does for a packet IPVS forwards (ip_vs_nat_xmit and
// ip_vs_dr_xmit hand it to the IP output path): each fragment carries a
// copy of the Ethernet and IP headers with its own total length, offset,
// MF flag and header checksum, and a multiple of 8 bytes of the payload
// (the last the rest). A datagram that was already a fragment keeps its
// offset base, and its MF flag on the last piece.
//
// FragmentIPv4 writes fragment i into bufs[i] and sets frames[i] to it, and
// returns the number of fragments, IPv4Fragments(total length, mtu). It
// writes nothing and returns 0 when f holds no such datagram, when DF is
// set, when there are fewer buffers or frames than fragments, or when a
// buffer is shorter than EthernetLen+mtu. It does not allocate.
func FragmentIPv4(frames, bufs [][]byte, f []byte, mtu int) int {
	if len(f) < EthernetLen+IPv4MinLen {
		return 0
	}
	h := IPv4(f[EthernetLen:])
	n := h.TotalLen()
	k := IPv4Fragments(n, mtu)
	if k == 0 || !h.ValidHeader() || h.HeaderLen() != IPv4MinLen || len(h) < n || h.DF() ||
		len(bufs) < k || len(frames) < k {
		return 0
	}
	for _, b := range bufs[:k] {
		if len(b) < EthernetLen+mtu {
			return 0
		}
	}
	payload := h[IPv4MinLen:n]
	base := h.FragOffset()
	more := h.MF()
	per := (mtu - IPv4MinLen) &^ 7
	for i := range k {
		off := i * per
		end := min(off+per, len(payload))
		frag := uint16((base + off) / 8)
		if end < len(payload) || more {
			frag |= ipv4FlagMF
		}
		b := bufs[i]
		copy(b, f[:EthernetLen+IPv4MinLen])
		o := IPv4(b[EthernetLen : EthernetLen+IPv4MinLen])
		binary.BigEndian.PutUint16(o[ipv4TotalLen:], uint16(IPv4MinLen+end-off))
		binary.BigEndian.PutUint16(o[ipv4Frag:], frag)
		o.UpdateChecksum()
		copy(b[EthernetLen+IPv4MinLen:], payload[off:end])
		frames[i] = b[:EthernetLen+IPv4MinLen+end-off]
	}
	return k
}
