package fastpath

import "github.com/cilium/ebpf/asm"

// A client port reused while its direct-routing flow is half-closed. In
// direct routing the director sees only the client's side: after the
// client's FIN (reported, close.go) the flow's entry stays in the fast
// path, FIN_WAIT in lvsd's table, until it times out. Clients that reuse
// ports within seconds send their next SYN into that entry. IPVS (and
// lvsd's Go path, conntrack's stale) reuses such an entry, the SYN going
// to the same real server and the entry stepping FIN_WAIT → SYN_RECV,
// unless conn_reuse_mode's bit 1 is set, or expire_nodest_conn is on and
// the real server's weight is 0, or the real server is gone: those
// reschedule (or drop) the SYN.
//
// The program takes such a SYN itself where lvsd allows it: the entry
// carries flagFinSeen (set as the program reports the client's FIN of a
// direct-routing entry past its handshake), and the switch lvsd writes
// for the entry's real server (FastPath.SetFinReuse, at the entry's
// counter slot) is on. The SYN is reported
// like a FIN, as a closing record with its flags, so lvsd steps its entry
// as the Go path would, in ring order after the FIN; the entry's
// flagFinSeen and flagAcked are swapped for flagSyn, so the handshake's
// ACK marks it flagAcked again as after a SYN the program scheduled. A
// SYN that finds no room in the ring is punted, as before.

const (
	// stGone's values (prog.go).
	goneRST   = 1
	goneReuse = 2
	lReport   = "report"
	lReused   = "reused"
	lGoneRST  = "gonerst"
)

// reuseSYN, at label, is lookup's test of a pure SYN (R1 = the entry's
// flags): one of a flow the program scheduled goes on to next; one that
// may reuse a half-closed direct-routing entry (flagFinSeen, the switch
// in map reuse at the entry's counter slot on) marks stGone goneReuse for closeReport and goes on to
// next too; any other is punted.
func reuseSYN(label, next string, reuse int) asm.Instructions {
	return asm.Instructions{
		asm.Mov.Reg(asm.R2, asm.R1).WithSymbol(label),
		asm.And.Imm(asm.R2, flagSyn),
		asm.JNE.Imm(asm.R2, 0, next),
		asm.And.Imm(asm.R1, flagFinSeen),
		asm.JEq.Imm(asm.R1, 0, lPunt),
		asm.LoadMem(asm.R1, asm.R7, valSlot, asm.Word),
		asm.StoreMem(asm.RFP, stTmp, asm.R1, asm.Word),
		asm.LoadMapPtr(asm.R1, reuse),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, stTmp),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, lPunt),
		asm.LoadMem(asm.R1, asm.R0, 0, asm.Word),
		asm.JEq.Imm(asm.R1, 0, lPunt),
		asm.StoreImm(asm.RFP, stGone, goneReuse, asm.Word),
		asm.Ja.Label(next),
	}
}

// markClosing follows a closing record's submission in closeReport (R9 =
// the TCP flags, R8 free): an RST has the redirect delete the entry; the
// client's FIN of a direct-routing entry past its handshake marks it
// flagFinSeen; a reusing SYN swaps flagFinSeen and flagAcked for
// flagSyn. Each goes on to lTaken.
func markClosing(sfx string) asm.Instructions {
	return asm.Instructions{
		asm.Mov.Reg(asm.R0, asm.R9),
		asm.And.Imm(asm.R0, tcpRST),
		asm.JNE.Imm(asm.R0, 0, lGoneRST+sfx),
		asm.LoadMem(asm.R1, asm.R7, valFlags, asm.Word),
		asm.Mov.Reg(asm.R0, asm.R9),
		asm.And.Imm(asm.R0, tcpFIN),
		asm.JEq.Imm(asm.R0, 0, lReused+sfx),
		// Past its handshake: a FIN on a SYN_RECV entry takes lvsd's
		// to TIME_WAIT, which a SYN must not reuse.
		asm.Mov.Reg(asm.R0, asm.R1),
		asm.And.Imm(asm.R0, flagMACOnly|flagSyn),
		asm.JNE.Imm(asm.R0, flagMACOnly, lTaken+sfx),
		asm.Or.Imm(asm.R1, flagFinSeen),
		asm.StoreMem(asm.R7, valFlags, asm.R1, asm.Word),
		asm.Ja.Label(lTaken + sfx),
		asm.And.Imm(asm.R1, ^(flagFinSeen | flagAcked)).WithSymbol(lReused + sfx),
		asm.Or.Imm(asm.R1, flagSyn),
		asm.StoreMem(asm.R7, valFlags, asm.R1, asm.Word),
		asm.Ja.Label(lTaken + sfx),
		asm.StoreImm(asm.RFP, stGone, goneRST, asm.Word).WithSymbol(lGoneRST + sfx), // the redirect deletes the entry
		asm.Ja.Label(lTaken + sfx),
	}
}
