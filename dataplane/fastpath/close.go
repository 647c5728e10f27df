package fastpath

import "github.com/cilium/ebpf/asm"

// A TCP connection's FIN and RST segments (of a flow the fast path holds,
// IPv4) are forwarded by the fast path like any other segment of it and
// reported to lvsd through the new-flow ring as closing records carrying
// the segment's flags, so a connection costs the Go path nothing from its
// SYN to its end: lvsd steps the entry as IPVS steps one on that segment
// (an RST to CLOSE, a FIN to CLOSE_WAIT, FIN_WAIT or TIME_WAIT) when it
// drains the ring. Segments without FIN or RST need no report: in IPVS's
// state table an ACK after the first FIN leaves the state as it is, and
// the entry's last-seen time (the sweep's Idle) renews its timeout as a
// segment does in IPVS.
//
// After an RST, or the FIN that closes the second half (TIME_WAIT), lvsd
// withdraws the flow's directions; after the first FIN the half-closed
// flow stays in the fast path. The tcx program reserves the record before
// it forwards the segment; without room for it, it marks the flow
// withdrawn and punts the segment, so the Go path gets it, and the
// flow's later frames, as before. With an RST's report it marks the flow
// closing (flagClosing), which keeps its other frames on the Go path
// until the report is taken: a SYN from the reused client port (an RST
// leaves no TIME_WAIT) reaches the Go path after it.

const (
	tcpFIN = 0x01
	tcpRST = 0x04
	// evKind is the record's kind byte (the high byte of evProto's half
	// word, zero in a new flow's record): evClosed for a FIN or RST.
	evKind   = evProto + 1
	evClosed = 1
	// A closing record has, where a new flow's has its real server, the
	// flags of the entry the segment hit (evFlags: with flagAcked, lvsd
	// learns the handshake completed without asking) and the segment's
	// TCP flags (evTCPFlags).
	evFlags    = evReal
	evTCPFlags = evRPort
	lClose     = "close"
	lNoRoom    = "noroom"
)

// closeReport follows classify in the tcx program when the fast path
// takes the frame, with R7 = the flow's map value, R8 = the protocol and
// R9 = the TCP flags: a frame without FIN or RST goes on to lTaken; a FIN
// or RST is reported (its source and destination as the frame has them)
// and taken, or, without room in the ring, its flow marked withdrawn and
// the segment punted. R8 is the protocol again at lTaken.
func closeReport(events int) asm.Instructions {
	insns := asm.Instructions{
		asm.Mov.Reg(asm.R0, asm.R9).WithSymbol(lClose),
		asm.And.Imm(asm.R0, tcpRST|tcpFIN),
		asm.JEq.Imm(asm.R0, 0, lTaken),
		asm.LoadMapPtr(asm.R1, events),
		asm.Mov.Imm(asm.R2, evLen),
		asm.Mov.Imm(asm.R3, 0),
		asm.FnRingbufReserve.Call(),
		asm.JEq.Imm(asm.R0, 0, lNoRoom),
		asm.Mov.Reg(asm.R8, asm.R0),
	}
	insns = append(insns, record("", asm.Instructions{ // newflow.go
		asm.LoadMem(asm.R0, asm.R7, valFlags, asm.Word),
		asm.StoreMem(asm.R8, evFlags, asm.R0, asm.Word),
		asm.StoreMem(asm.R8, evTCPFlags, asm.R9, asm.Half),
		asm.Mov.Imm(asm.R0, protoTCP|evClosed<<8),
		asm.StoreMem(asm.R8, evProto, asm.R0, asm.Half),
	})...)
	return append(insns,
		asm.Mov.Imm(asm.R8, protoTCP), // the record's pointer was in R8
		asm.Mov.Reg(asm.R0, asm.R9),
		asm.And.Imm(asm.R0, tcpRST),
		asm.JEq.Imm(asm.R0, 0, lTaken), // a FIN leaves the flow open
		asm.LoadMem(asm.R1, asm.R7, valFlags, asm.Word),
		asm.Or.Imm(asm.R1, flagClosing),
		asm.StoreMem(asm.R7, valFlags, asm.R1, asm.Word),
		asm.Ja.Label(lTaken),
		// No room: tcx must leave the segment to the Go path too.
		asm.LoadMem(asm.R1, asm.R7, valFlags, asm.Word).WithSymbol(lNoRoom),
		asm.Or.Imm(asm.R1, flagWithdraw),
		asm.StoreMem(asm.R7, valFlags, asm.R1, asm.Word),
		asm.Ja.Label(lPunt),
	)
}
