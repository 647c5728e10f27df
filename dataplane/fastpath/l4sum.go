package fastpath

import (
	"strconv"

	"github.com/cilium/ebpf/asm"
)

// The tcx program verifies the checksum of a TCP SYN or a UDP datagram
// before it schedules a flow for it: one with a wrong checksum opens no
// flow in the kernel and goes to the Go path, which drops it
// (bad_l4_checksum). The program cannot see whether the sender left the
// checksum to offload (__sk_buff has no ip_summed; CHECKSUM_PARTIAL is
// every segment a local socket sends through a veth, so every connection
// of a container or a namespace behind lvsd). A field holding exactly the
// pseudo-header's sum, as a partial checksum does, is probed
// (partialProbe) to tell a partial checksum from a wrong one. The sum is
// taken over little-endian words, which is the same one's complement sum
// byte-swapped: a right sum is 0xffff either way.

// Offsets in a frame (IPv4 without options: classify).
const (
	frIPLen  = 16 // the IPv4 total length
	frL4     = 34
	frUDPLen = 38
	maxL4    = 1480 // longer segments opening a flow are the Go path's
)

// Stack of the check: the rev key's and the index's slots are free until
// the flow is made; the service's key (stSvc) is kept across the check,
// and so is the pointer to the service's value (stSvcPtr).
const (
	stL4Len  = stRKey      // u64: the L4 length
	stWord   = stRKey + 8  // u64: the word being added
	stField  = stIdx       // u64: the checksum field
	stPseudo = stSave - 8  // u64: the pseudo-header's sum
	stSvcPtr = stSave - 16 // the service's value, spilled across the check
	stChunk  = stSvcPtr - chunkLen
)

// chunkLen is the most of a segment the check copies to the stack with one
// helper call: a 40-byte SYN takes two calls (32 + 8), not ten.
const chunkLen = 64

// sumLayout is where the check of one family finds what it sums: the
// L4 header's frame offset, the stack words of the pseudo-header's
// addresses, its own stack slots (u64 each: the L4 length, the word being
// added, the pseudo-header's sum, the checksum field, the service's value
// pointer; chunkLen bytes of the segment) and the suffix of its labels.
type sumLayout struct {
	sfx                                       string
	l4                                        int32
	addrs                                     []int16
	l4Len, word, pseudo, field, svcPtr, chunk int16
}

// sum4 is IPv4's layout (newflow6.go has IPv6's).
var sum4 = sumLayout{l4: frL4, addrs: []int16{stSrc, stDst}, l4Len: stL4Len, word: stWord, pseudo: stPseudo,
	field: stField, svcPtr: stSvcPtr, chunk: stChunk}

// Labels of the check.
const (
	lL4Check = "l4check"
	lUDPLen  = "udplen"
	lL4Sum   = "l4sum"
	lL4Loop  = "l4loop"
	lL4Tail  = "l4tail"
	lL4Fold  = "l4fold"
	lL4Field = "l4field"
	lL4Probe = "l4probe"
	lChecked = "checked"
)

// checked is the hook schedule runs once the frame's service is found
// (R0 = its value): the checksum is verified only for a frame that would
// open a flow, so a frame of no service costs the lookup and no sum. The
// service's value survives the check spilled to the stack.
func checked(g sumLayout) asm.Instructions {
	return asm.Instructions{
		asm.StoreMem(asm.RFP, g.svcPtr, asm.R0, asm.DWord),
		asm.Ja.Label(lL4Check + g.sfx),
		asm.LoadMem(asm.R0, asm.RFP, g.svcPtr, asm.DWord).WithSymbol(lChecked + g.sfx),
	}
}

// loadBytes copies n bytes at the frame offset in register off to the
// stack at dst, punting when the frame is shorter.
func loadBytes(off asm.Register, dst int16, n int32) asm.Instructions {
	return asm.Instructions{
		asm.Mov.Reg(asm.R1, asm.R6),
		asm.Mov.Reg(asm.R2, off),
		asm.Mov.Reg(asm.R3, asm.RFP),
		asm.Add.Imm(asm.R3, int32(dst)),
		asm.Mov.Imm(asm.R4, n),
		asm.FnSkbLoadBytes.Call(),
		asm.JNE.Imm(asm.R0, 0, lPunt),
	}
}

// l4Checksum is entered at lL4Check with R6 = context, R8 = the protocol
// (TCP or UDP) and the frame's addresses at stSrc, stDst; it goes on at
// next when the checksum is right (or partial, or for UDP absent) and to lPunt
// otherwise. R7 and R9 are its own; R8 is kept.
func l4Checksum(next string) asm.Instructions {
	insns := asm.Instructions{
		asm.Mov.Imm(asm.R0, 0).WithSymbol(lL4Check),
		asm.StoreMem(asm.RFP, stWord, asm.R0, asm.DWord),
		asm.JEq.Imm(asm.R8, protoUDP, lUDPLen),
		// TCP: the length is the datagram's less its 20-byte header.
		asm.Mov.Imm(asm.R9, frIPLen),
	}
	insns = append(insns, loadBytes(asm.R9, stWord, 2)...)
	insns = append(insns,
		asm.LoadMem(asm.R9, asm.RFP, stWord, asm.Half),
		asm.HostTo(asm.BE, asm.R9, asm.Half),
		asm.Sub.Imm(asm.R9, 20),
		asm.JLT.Imm(asm.R9, 20, lPunt), // shorter than a TCP header (or than 20)
		asm.JGT.Imm(asm.R9, maxL4, lPunt),
		asm.Mov.Reg(asm.R7, asm.R9),
		asm.HostTo(asm.BE, asm.R7, asm.Half), // as it reads from the wire
		asm.Add.Imm(asm.R7, 0x0600),          // 0, 6 read little-endian
		asm.Ja.Label(lL4Sum),
		// UDP: the length and the checksum from its header.
		asm.Mov.Imm(asm.R9, frUDPLen).WithSymbol(lUDPLen),
	)
	insns = append(insns, loadBytes(asm.R9, stWord, 4)...)
	insns = append(insns,
		asm.LoadMem(asm.R0, asm.RFP, stWord+2, asm.Half),
		asm.JEq.Imm(asm.R0, 0, next),                   // no checksum
		asm.LoadMem(asm.R7, asm.RFP, stWord, asm.Half), // the length as it is on the wire
		asm.LoadMem(asm.R9, asm.RFP, stWord, asm.Half),
		asm.HostTo(asm.BE, asm.R9, asm.Half),
		asm.JLT.Imm(asm.R9, 8, lPunt),
		asm.JGT.Imm(asm.R9, maxL4, lPunt),
		asm.Add.Imm(asm.R7, 0x1100), // 0, 17 read little-endian
	)
	return append(insns, l4Sum(next, sum4)...)
}

// l4Sum, at lL4Sum (with g's suffix) with R9 = the L4 length and R7 =
// the pseudo-header's length and protocol words, adds the pseudo-header's
// addresses and the segment, four bytes at a time in a loop the verifier
// bounds by maxL4, and decides as l4Checksum says. g says where the
// family's frame and stack have what it sums.
func l4Sum(next string, g sumLayout) asm.Instructions {
	insns := asm.Instructions{
		asm.StoreMem(asm.RFP, g.l4Len, asm.R9, asm.DWord).WithSymbol(lL4Sum + g.sfx),
	}
	// The pseudo-header's addresses.
	for _, a := range g.addrs {
		insns = append(insns,
			asm.LoadMem(asm.R0, asm.RFP, a, asm.Word),
			asm.Add.Reg(asm.R7, asm.R0))
	}
	insns = append(insns,
		asm.StoreMem(asm.RFP, g.pseudo, asm.R7, asm.DWord),
		// The checksum field, for the partial-checksum test.
		asm.Mov.Imm(asm.R0, 0),
		asm.StoreMem(asm.RFP, g.field, asm.R0, asm.DWord),
		asm.Mov.Imm(asm.R2, g.l4+16), // TCP's
		asm.JNE.Imm(asm.R8, protoUDP, lL4Field+g.sfx),
		asm.Mov.Imm(asm.R2, g.l4+6), // UDP's
	)
	f := loadBytes(asm.R2, g.field, 2)
	f[0] = f[0].WithSymbol(lL4Field + g.sfx)
	insns = append(insns, f...)
	insns = append(insns, asm.Mov.Imm(asm.R9, 0))
	// chunkLen bytes at a time, then 32, 16, 8 and 4 of what is left.
	insns = append(insns, sumChunk(g, chunkLen, chunkLabel(g, chunkLen), chunkLabel(g, chunkLen/2))...)
	for n := int16(chunkLen / 2); n >= 4; n /= 2 {
		next := chunkLabel(g, n/2)
		if n == 4 {
			next = lL4Tail + g.sfx
		}
		insns = append(insns, sumChunk(g, n, "", next)...)
	}
	insns = append(insns,
		// The last one to three bytes, zero-padded.
		asm.Mov.Imm(asm.R0, 0).WithSymbol(lL4Tail+g.sfx),
		asm.StoreMem(asm.RFP, g.word, asm.R0, asm.DWord),
		asm.LoadMem(asm.R4, asm.RFP, g.l4Len, asm.DWord),
		asm.Sub.Reg(asm.R4, asm.R9),
		asm.JEq.Imm(asm.R4, 0, lL4Fold+g.sfx),
		asm.JGT.Imm(asm.R4, 3, lPunt), // cannot be: keeps the verifier's bound
		asm.Mov.Reg(asm.R1, asm.R6),
		asm.Mov.Reg(asm.R2, asm.R9),
		asm.Add.Imm(asm.R2, g.l4),
		asm.Mov.Reg(asm.R3, asm.RFP),
		asm.Add.Imm(asm.R3, int32(g.word)),
		asm.FnSkbLoadBytes.Call(),
		asm.JNE.Imm(asm.R0, 0, lPunt),
		asm.LoadMem(asm.R0, asm.RFP, g.word, asm.Word),
		asm.Add.Reg(asm.R7, asm.R0),
	)
	// The sum must fold to 0xffff; else the field must be what a partial
	// checksum holds, the pseudo-header's sum folded.
	fold := foldR7()
	fold[0] = fold[0].WithSymbol(lL4Fold + g.sfx)
	insns = append(insns, fold...)
	insns = append(insns,
		asm.JEq.Imm(asm.R7, 0xffff, next),
		asm.LoadMem(asm.R7, asm.RFP, g.pseudo, asm.DWord),
	)
	insns = append(insns, foldR7()...)
	insns = append(insns,
		asm.LoadMem(asm.R0, asm.RFP, g.field, asm.Half),
		asm.JNE.Reg(asm.R7, asm.R0, lPunt),
	)
	return append(insns, partialProbe(next, g)...)
}

// chunkLabel is the label of sumChunk's n-byte step in g's check.
func chunkLabel(g sumLayout, n int16) string { return lL4Loop + g.sfx + "-" + strconv.Itoa(int(n)) }

// sumChunk, at chunkLabel(g, n), adds
// the n bytes at the segment's offset R9 to R7, a word at a time from one
// copy on the stack, and advances R9, when that many are left; then it
// goes on at next, or with again set, back to again for another chunk.
func sumChunk(g sumLayout, n int16, again, next string) asm.Instructions {
	insns := asm.Instructions{
		asm.LoadMem(asm.R0, asm.RFP, g.l4Len, asm.DWord).WithSymbol(chunkLabel(g, n)),
		asm.Mov.Reg(asm.R1, asm.R9),
		asm.Add.Imm(asm.R1, int32(n)),
		asm.JGT.Reg(asm.R1, asm.R0, next),
		asm.Mov.Reg(asm.R2, asm.R9),
		asm.Add.Imm(asm.R2, g.l4),
	}
	insns = append(insns, loadBytes(asm.R2, g.chunk, int32(n))...)
	for off := int16(0); off < n; off += 4 {
		insns = append(insns,
			asm.LoadMem(asm.R0, asm.RFP, g.chunk+off, asm.Word),
			asm.Add.Reg(asm.R7, asm.R0))
	}
	insns = append(insns, asm.Add.Imm(asm.R9, int32(n)))
	if again != "" {
		insns = append(insns, asm.Ja.Label(again))
	}
	return insns
}

// partialProbe tells a partial checksum from a wrong one that holds the
// same value, which a hostile or corrupted frame does by chance about
// once in 65,536 (the flood site's hostile step met one). __sk_buff has
// no ip_summed, but bpf_l4_csum_replace treats the two differently: it
// adds a pseudo-header difference to a partial checksum's field (which
// holds a sum) and subtracts it from a full checksum's (which holds the
// sum's complement). So the probe adds 1 as a pseudo-header difference,
// reads the field, and takes 1 away again: a field that became the old
// one plus 1 is partial and goes on at next; any other is a wrong
// checksum and goes to lPunt, where the Go path, which reads ip_summed
// from the ring, drops it.
func partialProbe(next string, g sumLayout) asm.Instructions {
	replace := func(diff int32) asm.Instructions {
		return asm.Instructions{
			asm.Mov.Reg(asm.R1, asm.R6),
			asm.Mov.Reg(asm.R2, asm.R9),
			asm.Mov.Imm(asm.R3, 0),
			asm.Mov.Imm(asm.R4, diff), // as a 32-bit sum: -2 is 1's complement, -1
			asm.Mov.Imm(asm.R5, fPseudoHdr),
			asm.FnL4CsumReplace.Call(),
			asm.JNE.Imm(asm.R0, 0, lPunt),
		}
	}
	insns := asm.Instructions{
		// R9 = the checksum's frame offset.
		asm.Mov.Imm(asm.R9, g.l4+16),
		asm.JNE.Imm(asm.R8, protoUDP, lL4Probe+g.sfx),
		asm.Mov.Imm(asm.R9, g.l4+6),
	}
	r := replace(1)
	r[0] = r[0].WithSymbol(lL4Probe + g.sfx)
	insns = append(insns, r...)
	insns = append(insns, loadBytes(asm.R9, g.word, 2)...)
	insns = append(insns, asm.LoadMem(asm.R7, asm.RFP, g.word, asm.Half))
	insns = append(insns, replace(-2)...)
	return append(insns,
		// A partial field plus 1, folded as the kernel folds it.
		asm.LoadMem(asm.R0, asm.RFP, g.field, asm.Half),
		asm.Add.Imm(asm.R0, 1),
		asm.Mov.Reg(asm.R1, asm.R0),
		asm.RSh.Imm(asm.R1, 16),
		asm.And.Imm(asm.R0, 0xffff),
		asm.Add.Reg(asm.R0, asm.R1),
		asm.JNE.Reg(asm.R7, asm.R0, lPunt),
		asm.Ja.Label(next),
	)
}

// foldR7 folds the 64-bit one's complement sum in R7 to 16 bits, with R0
// as scratch. The low 32 bits are taken by a 32-bit move, which clears the
// high ones (And.Imm would sign-extend its immediate).
func foldR7() asm.Instructions {
	fold := func(shift int32, mask int32) asm.Instructions {
		return asm.Instructions{
			asm.Mov.Reg(asm.R0, asm.R7),
			asm.RSh.Imm(asm.R0, shift),
			asm.And.Imm(asm.R7, mask),
			asm.Add.Reg(asm.R7, asm.R0),
		}
	}
	var insns asm.Instructions
	for range 2 {
		f := fold(32, -1)
		f[2] = asm.Mov.Reg32(asm.R7, asm.R7)
		insns = append(insns, f...)
	}
	for range 3 {
		insns = append(insns, fold(16, 0xffff)...)
	}
	return insns
}
