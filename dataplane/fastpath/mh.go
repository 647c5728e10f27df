package fastpath

import (
	"github.com/cilium/ebpf/asm"

	"lvs/ipvs"
)

// Hashing schedulers in the kernel. A service whose scheduler is mh (the
// ECMP mode's, where every director must pick the same real server for a
// client) or sh hands the fast path its lookup table as its Seq, with
// Hash saying that the program indexes it by the client rather than
// walking it: for mh, slot = hsiphash(port + address) mod the table's
// length, as sched.MH.Pick computes it (ip_vs_mh_hashkey with the
// kernel's fixed key; SipHash-1-3, which is what hsiphash is on 64-bit
// builds); for sh, bucket = hash_32(port + address, 8), as sched.SH.Pick.
// The address is folded to 32 bits in host order (an IPv6 one by XOR of
// its words), the port is the source port in host order when the service
// hashes it (mh-port, sh-port), else 0. TestNewFlowHashed checks the
// program's picks against sched.MH's and sched.SH's for many clients of
// both families.

// Hash says how the program picks a new flow's slot of a Service's Seq.
type Hash uint8

const (
	// HashNone walks Seq as a cycle, one slot per new flow (rr, wrr).
	HashNone Hash = iota
	// HashMH indexes Seq, mh's lookup table, by the client's address.
	HashMH
	// HashMHPort indexes it by the client's address and port (mh-port).
	HashMHPort
	// HashSH indexes Seq, sh's 256 buckets, by hash_32 of the client's
	// address into 8 bits; HashSHPort by its address and port (sh-port).
	HashSH
	HashSHPort
)

// svcHash is where a service's value keeps its Hash (u32).
const svcHash = 12

// SipHash's initial state for mh's hash: the key in both halves
// (ipvs.HashMH).
const (
	sipV0   = ipvs.SipC0 ^ ipvs.MHKey
	sipV1   = ipvs.SipC1 ^ ipvs.MHKey
	sipV2   = ipvs.SipC2 ^ ipvs.MHKey
	sipV3   = ipvs.SipC3 ^ ipvs.MHKey
	lMH     = "mh"
	lMHAdr  = "mhaddr"
	lMHPort = "mhport"
	lMHSip  = "mhsip"
	lMHMod  = "mhmod"
	lPick   = "picked"
)

// mhSource is where one family's frame has its client's address (32-bit
// words on the stack) and port, and the suffix of its labels.
type mhSource struct {
	addr []int16
	port int16
	sfx  string
}

var (
	mh4 = mhSource{addr: []int16{stSrc}, port: stPorts}
	mh6 = mhSource{addr: []int16{st6Key, st6Key + 4, st6Key + 8, st6Key + 12}, port: st6Key + 32, sfx: sfx6}
)

// mhPick, at lMH+sfx with R0 = the service's value and R1 its Hash (mh's
// or sh's),
// leaves R1 = the index of the client's slot of the service's table in the
// seq map, and goes on at lPick+sfx. It uses R1 to R5 and R7.
func mhPick(src mhSource) asm.Instructions {
	insns := asm.Instructions{asm.LoadMem(asm.R7, asm.RFP, src.addr[0], asm.Word).WithSymbol(lMH + src.sfx)}
	for _, w := range src.addr[1:] {
		insns = append(insns,
			asm.LoadMem(asm.R5, asm.RFP, w, asm.Word),
			asm.Xor.Reg(asm.R7, asm.R5))
	}
	insns = append(insns,
		asm.HostTo(asm.BE, asm.R7, asm.Word), // the fold in host order
		asm.JEq.Imm(asm.R1, int32(HashMHPort), lMHPort+src.sfx),
		asm.JNE.Imm(asm.R1, int32(HashSHPort), lMHAdr+src.sfx),
		asm.LoadMem(asm.R5, asm.RFP, src.port, asm.Half).WithSymbol(lMHPort+src.sfx),
		asm.HostTo(asm.BE, asm.R5, asm.Half),
		asm.Add.Reg(asm.R7, asm.R5),
		asm.Mov.Reg32(asm.R7, asm.R7).WithSymbol(lMHAdr+src.sfx),
		asm.JLT.Imm(asm.R1, int32(HashSH), lMHSip+src.sfx),
		// sh: hash_32(key, 8), the bucket.
		asm.Mul.Imm(asm.R7, ipvs.GoldenRatio32),
		asm.Mov.Reg32(asm.R7, asm.R7),
		asm.RSh.Imm(asm.R7, 24),
		asm.Mov.Reg(asm.R1, asm.R7),
		asm.Ja.Label(lMHMod+src.sfx),
		// mh: R7 = b, the 4-byte message and its length in the top byte.
		asm.LoadImm(asm.R5, 4<<56, asm.DWord).WithSymbol(lMHSip+src.sfx),
		asm.Or.Reg(asm.R7, asm.R5),
		asm.LoadImm(asm.R1, sipV0, asm.DWord),
		asm.LoadImm(asm.R2, sipV1, asm.DWord),
		asm.LoadImm(asm.R3, sipV2, asm.DWord),
		asm.LoadImm(asm.R4, sipV3, asm.DWord),
		asm.Xor.Reg(asm.R4, asm.R7),
	)
	insns = append(insns, sipRound()...)
	insns = append(insns,
		asm.Xor.Reg(asm.R1, asm.R7),
		asm.Xor.Imm(asm.R3, 0xff),
	)
	for range 3 {
		insns = append(insns, sipRound()...)
	}
	return append(insns,
		asm.Xor.Reg(asm.R1, asm.R2),
		asm.Xor.Reg(asm.R1, asm.R3),
		asm.Xor.Reg(asm.R1, asm.R4),
		asm.Mov.Reg32(asm.R1, asm.R1),
		asm.LoadMem(asm.R3, asm.R0, svcSeqLen, asm.Word).WithSymbol(lMHMod+src.sfx),
		asm.Mod.Reg(asm.R1, asm.R3),
		asm.LoadMem(asm.R4, asm.R0, svcSeqBase, asm.Word),
		asm.Add.Reg(asm.R1, asm.R4),
		asm.Ja.Label(lPick+src.sfx),
	)
}

// sipRound is SipHash's round on v0..v3 in R1..R4, with R5 as scratch.
func sipRound() asm.Instructions {
	rotl := func(r asm.Register, n int32) asm.Instructions {
		return asm.Instructions{
			asm.Mov.Reg(asm.R5, r),
			asm.LSh.Imm(r, n),
			asm.RSh.Imm(asm.R5, 64-n),
			asm.Or.Reg(r, asm.R5),
		}
	}
	var insns asm.Instructions
	add := func(x ...asm.Instructions) {
		for _, i := range x {
			insns = append(insns, i...)
		}
	}
	add(asm.Instructions{asm.Add.Reg(asm.R1, asm.R2)}, rotl(asm.R2, 13), asm.Instructions{asm.Xor.Reg(asm.R2, asm.R1)}, rotl(asm.R1, 32))
	add(asm.Instructions{asm.Add.Reg(asm.R3, asm.R4)}, rotl(asm.R4, 16), asm.Instructions{asm.Xor.Reg(asm.R4, asm.R3)})
	add(asm.Instructions{asm.Add.Reg(asm.R1, asm.R4)}, rotl(asm.R4, 21), asm.Instructions{asm.Xor.Reg(asm.R4, asm.R1)})
	add(asm.Instructions{asm.Add.Reg(asm.R3, asm.R2)}, rotl(asm.R2, 17), asm.Instructions{asm.Xor.Reg(asm.R2, asm.R3)}, rotl(asm.R3, 32))
	return insns
}
