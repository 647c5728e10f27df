package fastpath

import "github.com/cilium/ebpf/asm"

// The socket filter verifies the checksum of a UDP datagram before it
// schedules a flow for it: a datagram with a wrong checksum opens no flow
// in the kernel and goes to the Go path, which drops it (bad_checksum), as
// it did before the kernel scheduled UDP. A datagram whose checksum the
// sender left to offload (CHECKSUM_PARTIAL, a local socket's on a veth:
// the field holds only the pseudo-header's sum) fails the check too and
// is scheduled by the Go path, which knows the difference from the ring's
// metadata. The sum is taken over little-endian words, which is the same
// one's complement sum byte-swapped: a right sum is 0xffff either way.

// Offsets of the UDP header in a frame (IPv4 without options: classify).
const (
	frUDP    = 34
	frUDPLen = 38
	maxUDP   = 1480 // longer datagrams opening a flow are the Go path's
)

// Stack of the check: the rev key's slot is free until the flow is made.
const (
	stULen  = stRKey     // u64: the UDP length
	stUWord = stRKey + 8 // u64: the word being added
)

// Labels of the check.
const (
	lUDPCheck = "udpcheck"
	lUDPLoop  = "udploop"
	lUDPTail  = "udptail"
	lUDPFold  = "udpfold"
)

// udpChecksum is entered at lUDPCheck with R6 = context and the frame's
// addresses at stSrc, stDst; it goes on at next when the datagram's
// checksum is right or absent, and to lPunt otherwise. R7 and R9 are
// its own; R8 (the protocol) is kept.
func udpChecksum(next string) asm.Instructions {
	load := func(off asm.Register, dst int16, n int32) asm.Instructions {
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
	insns := asm.Instructions{
		// The length and the checksum.
		asm.Mov.Imm(asm.R0, 0).WithSymbol(lUDPCheck),
		asm.StoreMem(asm.RFP, stUWord, asm.R0, asm.DWord),
		asm.Mov.Imm(asm.R9, frUDPLen),
	}
	insns = append(insns, load(asm.R9, stUWord, 4)...)
	insns = append(insns,
		asm.LoadMem(asm.R0, asm.RFP, stUWord+2, asm.Half),
		asm.JEq.Imm(asm.R0, 0, next),                    // no checksum
		asm.LoadMem(asm.R7, asm.RFP, stUWord, asm.Half), // the length as it is on the wire
		asm.LoadMem(asm.R9, asm.RFP, stUWord, asm.Half),
		asm.HostTo(asm.BE, asm.R9, asm.Half),
		asm.JLT.Imm(asm.R9, 8, lPunt),
		asm.JGT.Imm(asm.R9, maxUDP, lPunt),
		asm.StoreMem(asm.RFP, stULen, asm.R9, asm.DWord),
		// The pseudo-header: addresses, protocol, length (R7 already).
		asm.Add.Imm(asm.R7, 0x1100), // 0, 17 read little-endian
		asm.LoadMem(asm.R0, asm.RFP, stSrc, asm.Word),
		asm.Add.Reg(asm.R7, asm.R0),
		asm.LoadMem(asm.R0, asm.RFP, stDst, asm.Word),
		asm.Add.Reg(asm.R7, asm.R0),
		asm.Mov.Imm(asm.R9, 0),
		// Four bytes at a time.
		asm.LoadMem(asm.R0, asm.RFP, stULen, asm.DWord).WithSymbol(lUDPLoop),
		asm.Mov.Reg(asm.R1, asm.R9),
		asm.Add.Imm(asm.R1, 4),
		asm.JGT.Reg(asm.R1, asm.R0, lUDPTail),
		asm.Mov.Reg(asm.R2, asm.R9),
		asm.Add.Imm(asm.R2, frUDP),
	)
	insns = append(insns, load(asm.R2, stUWord, 4)...)
	insns = append(insns,
		asm.LoadMem(asm.R0, asm.RFP, stUWord, asm.Word),
		asm.Add.Reg(asm.R7, asm.R0),
		asm.Add.Imm(asm.R9, 4),
		asm.Ja.Label(lUDPLoop),
		// The last one to three bytes, zero-padded.
		asm.Mov.Imm(asm.R0, 0).WithSymbol(lUDPTail),
		asm.StoreMem(asm.RFP, stUWord, asm.R0, asm.DWord),
		asm.LoadMem(asm.R4, asm.RFP, stULen, asm.DWord),
		asm.Sub.Reg(asm.R4, asm.R9),
		asm.JEq.Imm(asm.R4, 0, lUDPFold),
		asm.JGT.Imm(asm.R4, 3, lPunt), // cannot be: keeps the verifier's bound
		asm.Mov.Reg(asm.R1, asm.R6),
		asm.Mov.Reg(asm.R2, asm.R9),
		asm.Add.Imm(asm.R2, frUDP),
		asm.Mov.Reg(asm.R3, asm.RFP),
		asm.Add.Imm(asm.R3, stUWord),
		asm.FnSkbLoadBytes.Call(),
		asm.JNE.Imm(asm.R0, 0, lPunt),
		asm.LoadMem(asm.R0, asm.RFP, stUWord, asm.Word),
		asm.Add.Reg(asm.R7, asm.R0),
	)
	// Fold 64 bits to 16 and compare.
	fold := func(shift int32, mask int32) asm.Instructions {
		return asm.Instructions{
			asm.Mov.Reg(asm.R0, asm.R7),
			asm.RSh.Imm(asm.R0, shift),
			asm.And.Imm(asm.R7, mask),
			asm.Add.Reg(asm.R7, asm.R0),
		}
	}
	f := fold(32, -1)
	f[0] = f[0].WithSymbol(lUDPFold)
	// The low 32 bits: a 32-bit move clears the high ones (And.Imm would
	// sign-extend its immediate).
	f[2] = asm.Mov.Reg32(asm.R7, asm.R7)
	insns = append(insns, f...)
	f2 := fold(32, -1)
	f2[2] = asm.Mov.Reg32(asm.R7, asm.R7)
	insns = append(insns, f2...)
	for range 3 {
		insns = append(insns, fold(16, 0xffff)...)
	}
	return append(insns,
		asm.JNE.Imm(asm.R7, 0xffff, lPunt),
		asm.Ja.Label(next),
	)
}
