package fastpath

import (
	"encoding/binary"
	"net/netip"

	"github.com/cilium/ebpf/asm"
)

// IPv6 new flows in the kernel: the IPv4 path's contract (newflow.go) for
// a service with an IPv6 VIP and IPv6 real servers, NAT66 or direct
// routing. classify6 sends a frame of no flow here; like IPv4's, the path
// lets on only a TCP SYN (without ACK, FIN or RST) or a UDP datagram
// whose L4 checksum is right (l4Checksum6), finds the service, takes the
// next slot of its cycle with one atomic add, writes the flow's IPv6
// entries from the target's IPv6 templates, reports it in the same ring
// as a record of its own length (ev6NewLen) and forwards the frame through
// the entry it made. A frame with an extension header never gets here
// (classify6 punts it).
//
// The service map is IPv4's, shared: its key is 8 bytes, so an IPv6
// service's key holds the XOR of its VIP's four words where IPv4's holds
// the VIP, and svc6Family in the byte IPv4's leaves zero; the value holds
// the whole VIP (svcVIP6), which the program compares before it takes a
// slot, so a frame to another address of the same fold is punted. Two
// IPv6 services of the same key cannot both be there: SetServices leaves
// the second to the Go path. The IPv4 path builds and reads its key and
// value as before: not one instruction of it changed. The targets array
// is shared too, its slots widened to IPv6's templates (tgt6Len).

// The IPv6 service key's family byte, and the VIP in the service value.
const (
	svc6Family = 1  // in the key's last byte (the protocol's high byte)
	svcVIP6    = 24 // 16 bytes
)

// The IPv6 target value: two IPv6 flow values, then the real server.
const (
	tgt6Rev   = value6Len
	tgt6Flags = 2 * value6Len // tgtHasRev
	tgt6Real  = tgt6Flags + 4 // 16 bytes
	tgt6RPort = tgt6Real + 16
	tgt6Len   = tgt6RPort + 4 // padded to 8
)

// An IPv6 new flow's record: the closing record's ends, protocol and
// interface where that has them, the real server's port where it has the
// entry's flags and the real server's address after it. Its length tells
// it from the others (close.go).
const (
	ev6RPort  = ev6Flags
	ev6Real   = ev6Len
	ev6NewLen = ev6Real + 16
)

// Stack of the IPv6 new-flow path, below classify6's (st6Buf). The rev
// key's and the index's slots hold the checksum's scratch until the flow
// is made, as IPv4's do; the check's own slots are below st6Save (sum6).
const (
	st6Val  = -216 // value6Len bytes
	st6RKey = st6Val - key6Len
	st6Svc  = st6RKey - 8
	st6Idx  = st6Svc - 8
	st6Save = st6Idx - 8 // the TCP flags, kept across the path
)

// Frame offsets of the IPv6 check.
const (
	fr6L4     = 54
	fr6UDPLen = fr6L4 + 4
)

// sum6 is the IPv6 layout of the L4 check (l4sum.go).
var sum6 = sumLayout{sfx: sfx6, l4: fr6L4, addrs: []int16{
	st6Key, st6Key + 4, st6Key + 8, st6Key + 12, st6Key + 16, st6Key + 20, st6Key + 24, st6Key + 28},
	l4Len: st6RKey, word: st6RKey + 8, pseudo: st6Save - 8, field: st6Idx, svcPtr: st6Save - 16,
	chunk: st6Save - 16 - chunkLen}

// newFlow6 is the IPv6 new-flow path, entered at lNew+sfx6 from classify6
// on a miss with R6 = context, R8 = protocol, R9 = TCP flags and the key
// at st6Key. It makes the flow and forwards the frame through the entry
// it made, or jumps to lPunt.
func newFlow6(m progMaps) asm.Instructions {
	insns := opens(lNew+sfx6, st6Save, lSvc+sfx6)
	insns = append(insns, pickTarget6(m)...)
	insns = append(insns, writeFlow6(m)...)
	insns = append(insns, report6(m)...)
	insns = append(insns, unwind(m.flows6, st6Key, sfx6)...)
	return append(insns, l4Checksum6(lChecked+sfx6)...)
}

// l4Checksum6 is l4Checksum for an IPv6 frame with no extension header:
// the L4 length is the payload length (a UDP header must say the same),
// and a UDP datagram without a checksum is the Go path's (RFC 8200 makes
// the checksum mandatory).
func l4Checksum6(next string) asm.Instructions {
	insns := asm.Instructions{
		asm.LoadMem(asm.R7, asm.RFP, st6Buf, asm.Half).WithSymbol(lL4Check + sfx6), // as it is on the wire
		asm.Mov.Reg(asm.R9, asm.R7),
		asm.HostTo(asm.BE, asm.R9, asm.Half),
		asm.JLT.Imm(asm.R9, 8, lPunt),
		asm.JGT.Imm(asm.R9, maxL4, lPunt),
		asm.JEq.Imm(asm.R8, protoUDP, lUDPLen+sfx6),
		asm.JLT.Imm(asm.R9, 20, lPunt), // shorter than a TCP header
		asm.Add.Imm(asm.R7, 0x0600),    // 0, 6 read little-endian
		asm.Ja.Label(lL4Sum + sfx6),
		asm.Mov.Imm(asm.R0, 0).WithSymbol(lUDPLen + sfx6),
		asm.StoreMem(asm.RFP, sum6.word, asm.R0, asm.DWord),
		asm.Mov.Imm(asm.R2, fr6UDPLen),
	}
	insns = append(insns, loadBytes(asm.R2, sum6.word, 4)...)
	insns = append(insns,
		asm.LoadMem(asm.R0, asm.RFP, sum6.word, asm.Half),
		asm.JNE.Reg(asm.R0, asm.R7, lPunt),
		asm.Add.Imm(asm.R7, 0x1100), // 0, 17 read little-endian
	)
	return append(insns, l4Sum(next, sum6)...)
}

// pickTarget6, at lSvc+sfx6, is pickTarget for an IPv6 frame: the
// service's key is the fold of the VIP (svc6Key), its value must hold the
// frame's VIP, and the record reserved is ev6NewLen bytes.
func pickTarget6(m progMaps) asm.Instructions {
	insns := asm.Instructions{
		asm.LoadMem(asm.R0, asm.RFP, st6Key+16, asm.Word).WithSymbol(lSvc + sfx6),
	}
	for off := int16(20); off < 32; off += 4 {
		insns = append(insns,
			asm.LoadMem(asm.R1, asm.RFP, st6Key+off, asm.Word),
			asm.Xor.Reg(asm.R0, asm.R1))
	}
	insns = append(insns,
		asm.StoreMem(asm.RFP, st6Svc, asm.R0, asm.Word),
		asm.LoadMem(asm.R0, asm.RFP, st6Key+34, asm.Half),
		asm.StoreMem(asm.RFP, st6Svc+4, asm.R0, asm.Half),
		asm.Mov.Reg(asm.R0, asm.R8),
		asm.Or.Imm(asm.R0, svc6Family<<8),
		asm.StoreMem(asm.RFP, st6Svc+6, asm.R0, asm.Half),
	)
	var check asm.Instructions
	for off := int16(0); off < 16; off += 8 {
		check = append(check,
			asm.LoadMem(asm.R1, asm.R0, svcVIP6+off, asm.DWord),
			asm.LoadMem(asm.R2, asm.RFP, st6Key+16+off, asm.DWord),
			asm.JNE.Reg(asm.R1, asm.R2, lPunt))
	}
	check = append(check, checked(sum6)...) // l4sum.go
	return append(insns, schedule(m, st6Svc, st6Idx, ev6NewLen, check, mh6)...)
}

// writeFlow6 is writeFlow for IPv6: the client direction from the
// target's first template with the client's address and port as the
// source, keyed at st6Key; the reply direction, if the target has one,
// back to the client's address, port and MAC through the port the frame
// came in, keyed real server → client.
func writeFlow6(m progMaps) asm.Instructions {
	insns := copyFrom(asm.R7, 0, st6Val, value6Len)
	insns = append(insns, copyFrom(asm.RFP, st6Key, st6Val+valAddrs6, 16)...)
	insns = append(insns,
		asm.LoadMem(asm.R0, asm.RFP, st6Key+32, asm.Half),
		asm.StoreMem(asm.RFP, st6Val+valAddrs6+32, asm.R0, asm.Half),
	)
	insns = append(insns, insertNew(m.flows6, st6Key, st6Val, lDiscard+sfx6)...)
	insns = append(insns,
		asm.LoadMem(asm.R0, asm.R7, tgt6Flags, asm.Word),
		asm.And.Imm(asm.R0, tgtHasRev),
		asm.JEq.Imm(asm.R0, 0, lEvent+sfx6),
	)
	insns = append(insns, copyFrom(asm.R7, tgt6Rev, st6Val, value6Len)...)
	insns = append(insns, copyFrom(asm.RFP, st6Key, st6Val+valAddrs6+16, 16)...)
	insns = append(insns,
		asm.LoadMem(asm.R0, asm.RFP, st6Key+32, asm.Half),
		asm.StoreMem(asm.RFP, st6Val+valAddrs6+34, asm.R0, asm.Half),
		asm.LoadMem(asm.R0, asm.R6, skbIfindex, asm.Word),
		asm.StoreMem(asm.RFP, st6Val+valOut, asm.R0, asm.Word),
		asm.Mov.Reg(asm.R1, asm.R6),
		asm.Mov.Imm(asm.R2, 6), // the frame's source MAC
		asm.Mov.Reg(asm.R3, asm.RFP),
		asm.Add.Imm(asm.R3, st6Val+valDstMAC),
		asm.Mov.Imm(asm.R4, 6),
		asm.FnSkbLoadBytes.Call(),
		asm.JNE.Imm(asm.R0, 0, lUndo+sfx6),
	)
	// Its key: real server → client, the ports likewise, the protocol.
	insns = append(insns, copyFrom(asm.R7, tgt6Real, st6RKey, 16)...)
	insns = append(insns, copyFrom(asm.RFP, st6Key, st6RKey+16, 16)...)
	insns = append(insns,
		asm.LoadMem(asm.R0, asm.R7, tgt6RPort, asm.Half),
		asm.StoreMem(asm.RFP, st6RKey+32, asm.R0, asm.Half),
		asm.LoadMem(asm.R0, asm.RFP, st6Key+32, asm.Half),
		asm.StoreMem(asm.RFP, st6RKey+34, asm.R0, asm.Half),
		asm.LoadMem(asm.R0, asm.RFP, st6Key+36, asm.Word),
		asm.StoreMem(asm.RFP, st6RKey+36, asm.R0, asm.Word),
	)
	return append(insns, insertNew(m.flows6, st6RKey, st6Val, lUndo+sfx6)...)
}

// report6, at lEvent+sfx6, fills and submits the reserved record (the
// flow's ends, its real server, protocol and interface) and joins the
// established-flow path with the entry it made.
func report6(m progMaps) asm.Instructions {
	fill := asm.Instructions{
		asm.StoreImm(asm.R8, ev6RPort, 0, asm.Word),
		asm.LoadMem(asm.R0, asm.R7, tgt6RPort, asm.Half),
		asm.StoreMem(asm.R8, ev6RPort, asm.R0, asm.Half),
		asm.LoadMem(asm.R0, asm.RFP, st6Key+36, asm.Word),
		asm.LSh.Imm(asm.R0, 16), // the protocol at ev6Proto, kind 0; no TCP flags
		asm.StoreMem(asm.R8, ev6TCPFlags, asm.R0, asm.Word),
	}
	for off := int16(0); off < 16; off += 8 {
		fill = append(fill,
			asm.LoadMem(asm.R0, asm.R7, tgt6Real+off, asm.DWord),
			asm.StoreMem(asm.R8, ev6Real+off, asm.R0, asm.DWord))
	}
	insns := record6(lEvent+sfx6, fill)
	return append(insns, rejoin(m.flows6, st6Key, st6NextHdr, st6Save, sfx6)...)
}

// svc6Key is the service map's key of an IPv6 service (see above).
func svc6Key(vip netip.AddrPort, proto uint8) (k [svcKeyLen]byte) {
	a := vip.Addr().As16()
	for i := range 4 {
		for j := range 4 {
			k[j] ^= a[4*i+j]
		}
	}
	binary.BigEndian.PutUint16(k[4:], vip.Port())
	k[6], k[7] = proto, svc6Family
	return k
}

// parseNewFlow6 decodes an IPv6 new flow's record.
func parseNewFlow6(b []byte) NewFlow {
	ap := func(a, p int) netip.AddrPort {
		return netip.AddrPortFrom(netip.AddrFrom16([16]byte(b[a:a+16])), binary.BigEndian.Uint16(b[p:]))
	}
	return NewFlow{Client: ap(ev6Client, ev6Ports), Virtual: ap(ev6VIP, ev6Ports+2), Real: ap(ev6Real, ev6RPort),
		Proto: b[ev6Proto], In: int(binary.LittleEndian.Uint32(b[ev6In:]))}
}
