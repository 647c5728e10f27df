package fastpath

import (
	"github.com/cilium/ebpf/asm"
)

// Offsets into struct __sk_buff (include/uapi/linux/bpf.h).
const (
	skbLen         = 0
	skbPktType     = 4
	skbVLANPresent = 20
	skbIfindex     = 40
	skbGSOSize     = 176
)

// Frame offsets of an untagged Ethernet + IPv4 (no options) frame.
const (
	frTTL     = 22
	frIPCsum  = 24
	frAddrs   = 26
	frPorts   = 34
	frTCPFlag = 47
	frTCPCsum = 50
	frUDPCsum = 40
	// The classifier copies frame[frLoad : frLoad+loadLen] to the stack at
	// stBuf, placed so that the addresses and ports land 4-byte aligned
	// (the verifier insists on aligned stack access).
	frLoad  = 10
	loadLen = 28
)

// Stack layout (offsets from the frame pointer R10).
const (
	stBuf   = -48             // loadLen bytes of the frame from frLoad
	stEther = stBuf + 12 - 10 // EtherType (u16)
	stVIHL  = stBuf + 14 - 10 // version and header length (u8)
	stFrag  = stBuf + 20 - 10 // flags and fragment offset (u16)
	stTTL   = stBuf + frTTL - 10
	stProto = stBuf + 23 - 10
	stSrc   = stBuf + frAddrs - 10 // u32
	stDst   = stSrc + 4
	stPorts = stBuf + frPorts - 10
	stKey   = -64 // keyLen bytes
	stTmp   = -8
	// stGone (u32) is goneRST once the frame is an RST the program
	// reported (close.go): the redirect deletes its flow's entry; it is
	// goneReuse for a SYN that reuses a half-closed DR entry (reuse.go).
	stGone = -16
)

const (
	protoTCP  = 6
	protoUDP  = 17
	tcpSYN    = 0x02
	tcpSYNACK = 0x12
	// Helper flags (include/uapi/linux/bpf.h).
	fPseudoHdr   = 1 << 4 // BPF_F_PSEUDO_HDR
	fMarkMangled = 1 << 5 // BPF_F_MARK_MANGLED_0
	// tcx return codes.
	tcxNext = -1
	tcxDrop = 2
)

// Labels.
const (
	lPunt     = "punt"
	lTCP      = "tcp"
	lKey      = "key"
	lFits     = "fits"
	lCounted  = "counted"
	lNoTTL    = "nottl"
	lUDPCsum  = "udpcsum"
	lCsum     = "csum"
	lShot     = "shot"
	lFlags    = "flags"
	lPureSYN  = "puresyn"
	lNoAck    = "noack"
	lRedirect = "redirect"
	lTaken    = "taken"
	lV6       = "ipv6"
	sfx6      = "6" // the IPv6 branch's copies of the labels above
)

// classify emits the program's decision. With the context in R1 it
// leaves R6 = context, R7 = the flow's map value, R8 = the protocol,
// R9 = the TCP flags, and falls through when the fast path takes the frame;
// otherwise it jumps to lPunt, or for a frame of no flow to miss (the
// new-flow path, newflow.go).
//
// An IPv6 frame leaves the IPv4 tests at the EtherType, after the one test
// every IPv4 frame pays, for classify6 (prog6.go), which ends the same way.
func classify(flows, reuse int, miss string) asm.Instructions {
	insns := asm.Instructions{
		asm.Mov.Reg(asm.R6, asm.R1),
		asm.StoreImm(asm.RFP, stGone, 0, asm.Word),
		asm.LoadMem(asm.R0, asm.R6, skbPktType, asm.Word),
		asm.JNE.Imm(asm.R0, 0, lPunt), // PACKET_HOST only
		asm.LoadMem(asm.R0, asm.R6, skbVLANPresent, asm.Word),
		asm.JNE.Imm(asm.R0, 0, lPunt),
		// bpf_skb_load_bytes(skb, frLoad, fp+stBuf, loadLen)
		asm.Mov.Reg(asm.R1, asm.R6),
		asm.Mov.Imm(asm.R2, frLoad),
		asm.Mov.Reg(asm.R3, asm.RFP),
		asm.Add.Imm(asm.R3, stBuf),
		asm.Mov.Imm(asm.R4, loadLen),
		asm.FnSkbLoadBytes.Call(),
		asm.JNE.Imm(asm.R0, 0, lPunt),
		asm.LoadMem(asm.R0, asm.RFP, stEther, asm.Half),
		asm.JNE.Imm(asm.R0, 0x0008, lV6), // 08 00 read little-endian
		asm.LoadMem(asm.R0, asm.RFP, stVIHL, asm.Byte),
		asm.JNE.Imm(asm.R0, 0x45, lPunt), // IPv4 without options
		asm.LoadMem(asm.R0, asm.RFP, stFrag, asm.Half),
		asm.And.Imm(asm.R0, 0xff3f), // MF and the offset, read little-endian
		asm.JNE.Imm(asm.R0, 0, lPunt),
		asm.LoadMem(asm.R0, asm.RFP, stTTL, asm.Byte),
		asm.JLE.Imm(asm.R0, 1, lPunt), // the Go path answers time exceeded
		asm.Mov.Imm(asm.R9, 0),        // the TCP flags (none for UDP)
		asm.LoadMem(asm.R8, asm.RFP, stProto, asm.Byte),
		asm.JEq.Imm(asm.R8, protoTCP, lTCP),
		asm.JNE.Imm(asm.R8, protoUDP, lPunt),
		asm.Ja.Label(lKey),
	}
	insns = append(insns, tcpFlags(lTCP, frTCPFlag, 0)...) // a FIN or RST is taken and reported (close.go)
	insns = append(insns,
		// The key: addresses, ports, protocol.
		asm.LoadMem(asm.R0, asm.RFP, stSrc, asm.Word).WithSymbol(lKey),
		asm.StoreMem(asm.RFP, stKey, asm.R0, asm.Word),
		asm.LoadMem(asm.R0, asm.RFP, stDst, asm.Word),
		asm.StoreMem(asm.RFP, stKey+4, asm.R0, asm.Word),
		asm.LoadMem(asm.R0, asm.RFP, stPorts, asm.Word),
		asm.StoreMem(asm.RFP, stKey+8, asm.R0, asm.Word),
		asm.StoreMem(asm.RFP, stKey+12, asm.R8, asm.Word),
		asm.LoadMapPtr(asm.R1, flows),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, stKey),
	)
	return append(insns, lookup(miss, "", reuse)...)
}

// tcpFlags, at label, loads the TCP flags at frame offset off into R9 and
// punts those of punt (none now: a FIN or RST is reported, close.go). A
// SYN goes to Go too, but for a SYN-ACK to an entry installed to take it,
// or a flow the fast path scheduled (lookup).
func tcpFlags(label string, off, punt int32) asm.Instructions {
	insns := asm.Instructions{
		asm.Mov.Reg(asm.R1, asm.R6).WithSymbol(label),
		asm.Mov.Imm(asm.R2, off),
		asm.Mov.Reg(asm.R3, asm.RFP),
		asm.Add.Imm(asm.R3, stTmp),
		asm.Mov.Imm(asm.R4, 1),
		asm.FnSkbLoadBytes.Call(),
		asm.JNE.Imm(asm.R0, 0, lPunt),
		asm.LoadMem(asm.R9, asm.RFP, stTmp, asm.Byte),
	}
	if punt == 0 {
		return insns
	}
	return append(insns,
		asm.Mov.Reg(asm.R0, asm.R9),
		asm.And.Imm(asm.R0, punt),
		asm.JNE.Imm(asm.R0, 0, lPunt),
	)
}

// lookup looks the key (R1 = the map, R2 = the key) up and checks the
// flow's entry, for both families (sfx tells their labels apart): with the
// registers as classify leaves them, it falls through when the fast path
// takes the frame. reuse is the switch map of reuseSYN (reuse.go).
func lookup(miss, sfx string, reuse int) asm.Instructions {
	insns := asm.Instructions{
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, miss),
		asm.Mov.Reg(asm.R7, asm.R0),
		// The flow must arrive where lvsd saw it, and not be withdrawn.
		asm.LoadMem(asm.R1, asm.R7, valIn, asm.Word),
		asm.LoadMem(asm.R2, asm.R6, skbIfindex, asm.Word),
		asm.JNE.Reg(asm.R1, asm.R2, lPunt),
		asm.LoadMem(asm.R1, asm.R7, valFlags, asm.Word),
		asm.Mov.Reg(asm.R2, asm.R1),
		asm.And.Imm(asm.R2, flagWithdraw),
		asm.JNE.Imm(asm.R2, 0, lPunt),
		asm.Mov.Reg(asm.R2, asm.R9),
		asm.And.Imm(asm.R2, tcpSYN),
		asm.JEq.Imm(asm.R2, 0, lFlags+sfx),
		// A SYN with FIN or RST is no segment of a connection: Go's.
		asm.Mov.Reg(asm.R2, asm.R9),
		asm.And.Imm(asm.R2, tcpFIN|tcpRST),
		asm.JNE.Imm(asm.R2, 0, lPunt),
		// A SYN: a SYN-ACK where installed to take it (flagSynAck), a
		// client's SYN where the fast path scheduled the flow (flagSyn:
		// a retransmission goes to the same real server) or one that
		// reuses a half-closed direct-routing flow (reuseSYN).
		asm.Mov.Reg(asm.R2, asm.R9),
		asm.And.Imm(asm.R2, tcpSYNACK),
		asm.JNE.Imm(asm.R2, tcpSYNACK, lPureSYN+sfx),
		asm.And.Imm(asm.R1, flagSynAck),
		asm.JEq.Imm(asm.R1, 0, lPunt),
		asm.Ja.Label(lFlags + sfx),
	}
	insns = append(insns, reuseSYN(lPureSYN+sfx, lFlags+sfx, reuse)...)
	return append(insns,
		// Over the egress MTU and not a GSO super-frame: Go answers it.
		asm.LoadMem(asm.R1, asm.R6, skbLen, asm.Word).WithSymbol(lFlags+sfx),
		asm.LoadMem(asm.R2, asm.R7, valMaxLen, asm.Word),
		asm.JLE.Reg(asm.R1, asm.R2, lFits+sfx),
		asm.LoadMem(asm.R1, asm.R6, skbGSOSize, asm.Word),
		asm.JEq.Imm(asm.R1, 0, lPunt),
		asm.Mov.Imm(asm.R0, 0).WithSymbol(lFits+sfx), // a no-op to carry the label
	)
}

// progMaps are the file descriptors of the maps the programs use.
type progMaps struct {
	flows, flows6, counters, services, seq, targets, events, reuse int
}

// tcxProgram is the tcx ingress program, the first program to see an
// IPv4 or IPv6 frame on lvsd's interfaces: it schedules a frame that
// opens a flow of a service it holds (newflow.go), reports an IPv4 flow's
// FIN or RST (close.go), rewrites and redirects a frame the fast path
// takes, and passes every other frame on unchanged (TCX_NEXT) to lvsd's
// packet sockets, which are bound per protocol and so are delivered only
// the frames this program passes, after it.
func tcxProgram(m progMaps) asm.Instructions {
	insns := classify(m.flows, m.reuse, lNew)
	insns = append(insns, closeReport(m.events, "")...) // close.go
	acc := account(m.counters, m.events, "")
	acc[0] = acc[0].WithSymbol(lTaken)
	insns = append(insns, acc...)
	insns = append(insns, rewrite(frAddrs, valAddrs, 12, stTTL, frTTL, lNoTTL)...)
	insns = append(insns,
		// The IPv4 header checksum: bpf_l3_csum_replace(skb, 24, 0, diff, 0).
		asm.Mov.Reg(asm.R1, asm.R6).WithSymbol(lNoTTL),
		asm.Mov.Imm(asm.R2, frIPCsum),
		asm.Mov.Imm(asm.R3, 0),
		asm.LoadMem(asm.R4, asm.R7, valIPDiff, asm.Word),
		asm.Mov.Imm(asm.R5, 0),
		asm.FnL3CsumReplace.Call(),
		asm.JNE.Imm(asm.R0, 0, lShot),
	)
	insns = append(insns, l4Csum(frTCPCsum, frUDPCsum, "")...)
	insns = append(insns, redirect(lRedirect, m.flows, stKey)...)
	insns = append(insns,
		asm.Mov.Imm(asm.R0, tcxNext).WithSymbol(lPunt),
		asm.Return(),
		// A helper refused a frame already partly rewritten: the kernel
		// cannot have it back.
		asm.Mov.Imm(asm.R0, tcxDrop).WithSymbol(lShot),
		asm.Return(),
	)
	insns = append(insns, classify6(m.flows6, m.reuse)...)
	insns = append(insns, closeReport(m.events, sfx6)...)
	acc = account(m.counters, m.events, sfx6)
	acc[0] = acc[0].WithSymbol(lTaken + sfx6)
	insns = append(insns, acc...)
	insns = append(insns, rewrite6(m.flows6)...)
	return append(insns, newFlow(m)...) // newflow.go
}

// account is the part of the tcx program both families share once a frame
// is taken: the handshake mark, the time seen, the counters and the MAC
// addresses; a direct-routing entry jumps to the redirect from here.
func account(counters, events int, sfx string) asm.Instructions {
	insns := asm.Instructions{
		// The first segment after the SYN of a flow whose entry forwards
		// SYNs completes the handshake (unless it is an RST, which leaves
		// SYN_RECV as it is in IPVS's table): the connection table learns
		// it from the report (ackReport, close.go), or, when the ring had
		// no room, from flagAcked (FastPath.Idle), and steps the entry to
		// ESTABLISHED.
		asm.LoadMem(asm.R1, asm.R7, valFlags, asm.Word),
		asm.Mov.Reg(asm.R2, asm.R1),
		asm.And.Imm(asm.R2, flagSyn),
		asm.JEq.Imm(asm.R2, 0, lNoAck+sfx),
		asm.Mov.Reg(asm.R2, asm.R9),
		asm.And.Imm(asm.R2, tcpSYN|tcpRST),
		asm.JNE.Imm(asm.R2, 0, lNoAck+sfx),
		asm.And.Imm(asm.R1, ^flagSyn),
		asm.Or.Imm(asm.R1, flagAcked),
		asm.StoreMem(asm.R7, valFlags, asm.R1, asm.Word),
	}
	insns = append(insns, ackReport(events, sfx)...) // close.go
	return append(insns, asm.Instructions{
		// The flow was seen now.
		asm.FnKtimeGetCoarseNs.Call().WithSymbol(lNoAck + sfx),
		asm.StoreMem(asm.R7, valSeen, asm.R0, asm.DWord),
		// Per-destination counters (a per-CPU array: no atomics).
		asm.LoadMem(asm.R1, asm.R7, valSlot, asm.Word),
		asm.StoreMem(asm.RFP, stTmp, asm.R1, asm.Word),
		asm.LoadMapPtr(asm.R1, counters),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, stTmp),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, lCounted+sfx),
		asm.LoadMem(asm.R1, asm.R0, 0, asm.DWord),
		asm.Add.Imm(asm.R1, 1),
		asm.StoreMem(asm.R0, 0, asm.R1, asm.DWord),
		asm.LoadMem(asm.R1, asm.R6, skbLen, asm.Word),
		asm.Add.Imm(asm.R1, -14), // bytes of the IP packet, as the Go path counts
		asm.LoadMem(asm.R2, asm.R0, 8, asm.DWord),
		asm.Add.Reg(asm.R2, asm.R1),
		asm.StoreMem(asm.R0, 8, asm.R2, asm.DWord),
		// MAC addresses, then addresses and ports.
		asm.Mov.Reg(asm.R1, asm.R6).WithSymbol(lCounted + sfx),
		asm.Mov.Imm(asm.R2, 0),
		asm.Mov.Reg(asm.R3, asm.R7),
		asm.Mov.Imm(asm.R4, 12),
		asm.Mov.Imm(asm.R5, 0),
		asm.FnSkbStoreBytes.Call(),
		asm.JNE.Imm(asm.R0, 0, lShot),
		// Direct routing changes nothing else: straight to the redirect.
		asm.LoadMem(asm.R1, asm.R7, valFlags, asm.Word),
		asm.And.Imm(asm.R1, flagMACOnly),
		asm.JNE.Imm(asm.R1, 0, lRedirect+sfx),
	}...)
}

// rewrite writes the addresses and ports, n bytes from the entry's offset
// val to the frame's offset addrs (they are contiguous in both), and the
// TTL or hop limit, read from the stack at st, less one to the frame's
// offset ttl unless the entry says not to (then it jumps to skip).
func rewrite(addrs, val, n int32, st int16, ttl int32, skip string) asm.Instructions {
	return asm.Instructions{
		asm.Mov.Reg(asm.R1, asm.R6),
		asm.Mov.Imm(asm.R2, addrs),
		asm.Mov.Reg(asm.R3, asm.R7),
		asm.Add.Imm(asm.R3, val),
		asm.Mov.Imm(asm.R4, n),
		asm.Mov.Imm(asm.R5, 0),
		asm.FnSkbStoreBytes.Call(),
		asm.JNE.Imm(asm.R0, 0, lShot),
		asm.LoadMem(asm.R1, asm.R7, valFlags, asm.Word),
		asm.And.Imm(asm.R1, flagDecTTL),
		asm.JEq.Imm(asm.R1, 0, skip),
		asm.LoadMem(asm.R1, asm.RFP, st, asm.Byte),
		asm.Add.Imm(asm.R1, -1),
		asm.StoreMem(asm.RFP, stTmp, asm.R1, asm.Byte),
		asm.Mov.Reg(asm.R1, asm.R6),
		asm.Mov.Imm(asm.R2, ttl),
		asm.Mov.Reg(asm.R3, asm.RFP),
		asm.Add.Imm(asm.R3, stTmp),
		asm.Mov.Imm(asm.R4, 1),
		asm.Mov.Imm(asm.R5, 0),
		asm.FnSkbStoreBytes.Call(),
		asm.JNE.Imm(asm.R0, 0, lShot),
	}
}

// l4Csum updates the TCP (at frame offset tcp) or UDP (udp) checksum by
// the entry's differences; R8 is the protocol.
func l4Csum(tcp, udp int32, sfx string) asm.Instructions {
	return asm.Instructions{
		// R8 = the checksum's offset, R9 = the mangled-zero flag.
		asm.Mov.Imm(asm.R9, 0),
		asm.JEq.Imm(asm.R8, protoUDP, lUDPCsum+sfx),
		asm.Mov.Imm(asm.R8, tcp),
		asm.Ja.Label(lCsum + sfx),
		asm.Mov.Imm(asm.R8, udp).WithSymbol(lUDPCsum + sfx),
		asm.Mov.Imm(asm.R9, fMarkMangled),
		// Addresses are in the pseudo-header (also of a partial checksum)...
		asm.Mov.Reg(asm.R1, asm.R6).WithSymbol(lCsum + sfx),
		asm.Mov.Reg(asm.R2, asm.R8),
		asm.Mov.Imm(asm.R3, 0),
		asm.LoadMem(asm.R4, asm.R7, valAddrDiff, asm.Word),
		asm.Mov.Reg(asm.R5, asm.R9),
		asm.Or.Imm(asm.R5, fPseudoHdr),
		asm.FnL4CsumReplace.Call(),
		asm.JNE.Imm(asm.R0, 0, lShot),
		// ...ports are not (a partial checksum sums them later itself).
		asm.Mov.Reg(asm.R1, asm.R6),
		asm.Mov.Reg(asm.R2, asm.R8),
		asm.Mov.Imm(asm.R3, 0),
		asm.LoadMem(asm.R4, asm.R7, valPortDiff, asm.Word),
		asm.Mov.Reg(asm.R5, asm.R9),
		asm.FnL4CsumReplace.Call(),
		asm.JNE.Imm(asm.R0, 0, lShot),
	}
}

// redirect is bpf_redirect(out, 0): TC_ACT_REDIRECT. A reported RST
// (stGone is goneRST) first deletes its flow's entry, keyed at the stack's key in
// flows (close.go), after every read of the entry but the egress, which
// it keeps: a deleted entry may be reused by another CPU at once.
func redirect(label string, flows int, key int16) asm.Instructions {
	return asm.Instructions{
		asm.LoadMem(asm.R1, asm.R7, valOut, asm.Word).WithSymbol(label),
		asm.LoadMem(asm.R0, asm.RFP, stGone, asm.Word),
		asm.JNE.Imm(asm.R0, goneRST, label+"go"),
		asm.StoreMem(asm.RFP, stTmp, asm.R1, asm.Word),
		asm.LoadMapPtr(asm.R1, flows),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, int32(key)),
		asm.FnMapDeleteElem.Call(),
		asm.LoadMem(asm.R1, asm.RFP, stTmp, asm.Word),
		asm.Mov.Imm(asm.R2, 0).WithSymbol(label + "go"),
		asm.FnRedirect.Call(),
		asm.Return(),
	}
}
