package fastpath

import "github.com/cilium/ebpf/asm"

// A TCP connection's RST (the usual close of a client that sets
// SO_LINGER to 0, of a server refusing, of a reset after a timeout) is
// forwarded by the fast path like any segment of the flow, and reported
// to lvsd through the new-flow ring as a closing record, so the
// connection costs the Go path nothing from its SYN to its end: lvsd
// steps the entry to CLOSE (as IPVS does on an RST) and withdraws the
// flow's directions when it drains the ring. The socket filter, which
// runs first, reserves the record; without room for it the filter marks
// the flow withdrawn and punts the RST, and tcx, seeing the mark, punts
// it too, so the Go path gets it as before. With the report the filter
// marks the flow closing (flagClosing), which keeps its other frames on
// the Go path until the report is taken. FIN, which opens a longer
// exchange of states, still goes to the Go path. IPv4 only.

const (
	tcpFIN = 0x01
	tcpRST = 0x04
	// evKind is the record's kind byte (the high byte of evProto's half
	// word, zero in a new flow's record): evClosed for an RST.
	evKind   = evProto + 1
	evClosed = 1
	// evFlags is, in a closing record, the flags of the entry the RST
	// hit (where a new flow's record has its real server): with
	// flagAcked, lvsd learns the handshake completed without asking.
	evFlags  = evReal
	lRST     = "rst"
	lRSTFull = "rstfull"
)

// closeReport follows classify in the socket filter when the fast path
// takes the frame, with R7 = the flow's map value and R9 = the TCP flags:
// a frame without RST goes on to lTaken; an RST is reported (its source
// and destination as the frame has them) and taken, or, without room in
// the ring, its flow marked withdrawn and the RST punted.
func closeReport(events int) asm.Instructions {
	insns := asm.Instructions{
		asm.Mov.Reg(asm.R0, asm.R9).WithSymbol(lRST),
		asm.And.Imm(asm.R0, tcpRST),
		asm.JEq.Imm(asm.R0, 0, lTaken),
		asm.LoadMapPtr(asm.R1, events),
		asm.Mov.Imm(asm.R2, evLen),
		asm.Mov.Imm(asm.R3, 0),
		asm.FnRingbufReserve.Call(),
		asm.JEq.Imm(asm.R0, 0, lRSTFull),
		asm.Mov.Reg(asm.R8, asm.R0),
	}
	insns = append(insns, record("", asm.Instructions{ // newflow.go
		asm.LoadMem(asm.R0, asm.R7, valFlags, asm.Word),
		asm.StoreMem(asm.R8, evFlags, asm.R0, asm.Word),
		asm.Mov.Imm(asm.R0, 0),
		asm.StoreMem(asm.R8, evRPort, asm.R0, asm.Half),
		asm.Mov.Imm(asm.R0, protoTCP|evClosed<<8),
		asm.StoreMem(asm.R8, evProto, asm.R0, asm.Half),
	})...)
	return append(insns,
		asm.LoadMem(asm.R1, asm.R7, valFlags, asm.Word),
		asm.Or.Imm(asm.R1, flagClosing),
		asm.StoreMem(asm.R7, valFlags, asm.R1, asm.Word),
		asm.Ja.Label(lTaken),
		// No room: tcx must leave the RST to the Go path too.
		asm.LoadMem(asm.R1, asm.R7, valFlags, asm.Word).WithSymbol(lRSTFull),
		asm.Or.Imm(asm.R1, flagWithdraw),
		asm.StoreMem(asm.R7, valFlags, asm.R1, asm.Word),
		asm.Ja.Label(lPunt),
	)
}
