package fastpath

import (
	"encoding/binary"
	"net/netip"

	"lvs/frame"
)

// Key is the map key of one direction of a flow, as the frame carries it:
// source and destination address and port, and the protocol.
type Key struct {
	Src, Dst netip.AddrPort
	Proto    uint8 // frame.ProtoTCP or frame.ProtoUDP
}

// keyLen is the size of a key in the flow map.
const keyLen = 16

// marshal writes k as the program builds it from a frame: source address,
// destination address, source port, destination port (all in network
// order), the protocol in a little-endian word.
func (k Key) marshal(b *[keyLen]byte) {
	s, d := k.Src.Addr().As4(), k.Dst.Addr().As4()
	copy(b[0:4], s[:])
	copy(b[4:8], d[:])
	binary.BigEndian.PutUint16(b[8:], k.Src.Port())
	binary.BigEndian.PutUint16(b[10:], k.Dst.Port())
	binary.LittleEndian.PutUint32(b[12:], uint32(k.Proto))
}

// Action says what the fast path does with a frame of one direction of a
// flow: the rewrite (the values after it) and where it goes.
type Action struct {
	// DstMAC and SrcMAC are the Ethernet addresses on the egress segment.
	DstMAC, SrcMAC frame.MAC
	// Src and Dst are the addresses and ports after the rewrite (equal to
	// the key's for direct routing).
	Src, Dst netip.AddrPort
	// In and Out are the ingress and egress interface indexes.
	In, Out int
	// DecTTL decrements the TTL (NAT, as the kernel's forwarding does).
	DecTTL bool
	// MTU is the egress interface's MTU: a frame larger than it that is not
	// a GSO super-frame is punted, so the Go path answers it.
	MTU int
	// Slot is the counter slot the packets and bytes are added to (see
	// Counters): 2·destination ID, +1 for the reply direction.
	Slot uint32
	// SynAck forwards SYN-ACK segments too: the reply direction of a NAT
	// connection installed with its first SYN, so the real server's answer
	// does not wait for the Go path (connection set-up time).
	SynAck bool
	// Syn is the client direction of a TCP connection installed with its
	// first SYN: the program forwards the SYN's retransmissions too, and
	// the client's next segment marks the handshake complete (flagAcked,
	// FastPath.Acked), as for a connection the program scheduled itself.
	Syn bool
}

// The flow map's value: the action, precomputed checksum differences and
// the time the program last forwarded a frame of the flow.
const (
	valDstMAC   = 0  // 6 bytes, then the source MAC: written at frame offset 0
	valAddrs    = 12 // new source and destination address: frame offset 26
	valPorts    = 20 // new source and destination port: frame offset 34
	valOut      = 24 // egress ifindex
	valIn       = 28 // ingress ifindex the flow must arrive on
	valIPDiff   = 32 // IPv4 header checksum difference (addresses, TTL)
	valAddrDiff = 36 // L4 checksum difference of the pseudo-header addresses
	valPortDiff = 40 // L4 checksum difference of the ports
	valFlags    = 44
	valMaxLen   = 48 // the largest frame (Ethernet header included) that is not GSO
	valSlot     = 52
	valSeen     = 56 // bpf_ktime_get_coarse_ns of the last frame forwarded
	valueLen    = 64
)

// Value flags.
const (
	flagDecTTL   = 1 // decrement the TTL
	flagUDP      = 2 // a zero UDP checksum stays zero (BPF_F_MARK_MANGLED_0)
	flagWithdraw = 4 // being removed: punt to the Go path
	flagSynAck   = 8 // forward a SYN-ACK too (the reply direction of a NAT connection being opened)
	// flagSyn forwards the client's SYN too: the client direction of a flow
	// the fast path scheduled itself (newflow.go), until the client's next
	// segment, which swaps it for flagAcked.
	flagSyn   = 16
	flagAcked = 32 // the client sent a segment after its SYN
	// flagMACOnly: addresses, ports and TTL stay (direct routing): the
	// program rewrites the MACs and redirects, no checksum to touch.
	flagMACOnly = 64
	// flagFinSeen: the program forwarded and reported the client's FIN of
	// this direct-routing entry (reuse.go): a pure SYN from the same port
	// may go to the same real server, as IPVS reuses a DR entry in
	// FIN_WAIT.
	flagFinSeen = 128
)

// marshal encodes the action for the map entry of key k.
func (a Action) marshal(k Key, b *[valueLen]byte) {
	*b = [valueLen]byte{}
	s, d := a.Src.Addr().As4(), a.Dst.Addr().As4()
	copy(b[valAddrs:], s[:])
	copy(b[valAddrs+4:], d[:])
	binary.BigEndian.PutUint16(b[valPorts:], a.Src.Port())
	binary.BigEndian.PutUint16(b[valPorts+2:], a.Dst.Port())
	ks, kd := k.Src.Addr().As4(), k.Dst.Addr().As4()
	ip := a.put(k, b[:], ks[:], kd[:], s[:], d[:])
	if a.DecTTL {
		ip.v += 0xfeff // TTL−1 in the TTL/protocol word: ~m + m' (RFC 1624)
	}
	binary.LittleEndian.PutUint32(b[valIPDiff:], ip.host())
}

// put writes the words of the value both families share for key k, whose
// addresses ks, kd the action rewrites to s, d (4 or 16 bytes each), and
// returns the checksum difference of the addresses.
func (a Action) put(k Key, b, ks, kd, s, d []byte) sum {
	copy(b[valDstMAC:], a.DstMAC[:])
	copy(b[valDstMAC+6:], a.SrcMAC[:])
	le := binary.LittleEndian
	le.PutUint32(b[valOut:], uint32(a.Out))
	le.PutUint32(b[valIn:], uint32(a.In))
	var addr, port sum
	addr.sub(ks)
	addr.sub(kd)
	addr.add(s)
	addr.add(d)
	port.sub16(k.Src.Port())
	port.sub16(k.Dst.Port())
	port.add16(a.Src.Port())
	port.add16(a.Dst.Port())
	var flags uint32
	if a.DecTTL {
		flags |= flagDecTTL
	}
	if k.Proto == frame.ProtoUDP {
		flags |= flagUDP
	}
	if a.SynAck {
		flags |= flagSynAck
	}
	if a.Syn {
		flags |= flagSyn
	}
	if !a.DecTTL && a.Src == k.Src && a.Dst == k.Dst {
		flags |= flagMACOnly
	}
	le.PutUint32(b[valAddrDiff:], addr.host())
	le.PutUint32(b[valPortDiff:], port.host())
	le.PutUint32(b[valFlags:], flags)
	le.PutUint32(b[valMaxLen:], uint32(a.MTU+frame.EthernetLen))
	le.PutUint32(b[valSlot:], a.Slot)
	return addr
}

// sum accumulates a ones'-complement checksum difference over big-endian
// 16-bit words: ~old + new for every word that changes (RFC 1624, eqn. 3).
type sum struct{ v uint32 }

func (s *sum) add16(w uint16) { s.v += uint32(w) }
func (s *sum) sub16(w uint16) { s.v += uint32(^w) }
func (s *sum) add(b []byte) {
	for i := 0; i+1 < len(b); i += 2 {
		s.add16(binary.BigEndian.Uint16(b[i:]))
	}
}
func (s *sum) sub(b []byte) {
	for i := 0; i+1 < len(b); i += 2 {
		s.sub16(binary.BigEndian.Uint16(b[i:]))
	}
}

// host folds the difference to 16 bits and byte-swaps it: the kernel's
// checksum helpers add it to the checksum field as a little-endian load of
// its network-order bytes.
func (s sum) host() uint32 {
	v := s.v
	for v > 0xffff {
		v = v&0xffff + v>>16
	}
	return uint32(v>>8 | v&0xff<<8)
}
