package fastpath

import "github.com/cilium/ebpf/asm"

// A TCP connection's FIN and RST segments (of a flow the fast path holds,
// IPv4 or IPv6) are forwarded by the fast path like any other segment of it and
// reported to lvsd through the new-flow ring as closing records carrying
// the segment's flags, so a connection costs the Go path nothing from its
// SYN to its end: lvsd steps the entry as IPVS steps one on that segment
// (an RST to CLOSE, a FIN to CLOSE_WAIT, FIN_WAIT or TIME_WAIT) when it
// drains the ring. Segments without FIN or RST need no report: in IPVS's
// state table an ACK after the first FIN leaves the state as it is, and
// the entry's last-seen time (the sweep's Idle) renews its timeout as a
// segment does in IPVS.
//
// After an RST the program deletes the flow's entry itself, once the
// segment is rewritten (its redirect: the entry's bucket is in the cache
// then, where lvsd's withdrawal, a fifth of a second later, found it cold
// and cost lvsd's process 15 % of its time in the DR connection window),
// and lvsd, taking the report, withdraws only the connection's other
// direction (NAT). After the FIN that closes the second half (TIME_WAIT)
// lvsd withdraws the flow's directions; after the first FIN the
// half-closed flow stays in the fast path (a direct-routing one may be
// reused by a SYN from its client's port: reuse.go). The tcx program
// reserves the record before it forwards the segment; without room for
// it, it marks the flow withdrawn and punts the segment, so the Go path
// gets it, and the flow's later frames, as before. Once an RST's entry is
// gone, the flow's later frames are the new-flow path's: a SYN from the
// reused client port is scheduled afresh and reported after the RST (the
// ring keeps their order), or punted to the Go path, whose workers drain
// the ring before each batch; any other segment is punted.

const (
	tcpFIN = 0x01
	tcpRST = 0x04
	// evKind is the record's kind byte (the high byte of evProto's half
	// word, zero in a new flow's record): evClosed for a FIN or RST.
	evKind   = evProto + 1
	evClosed = 1
	// evAcked is the kind of the report of a handshake's completion
	// (ackReport), with the same fields as a closing record.
	evAcked = 2
	// A closing record has, where a new flow's has its real server, the
	// flags of the entry the segment hit (evFlags: with flagAcked, lvsd
	// learns the handshake completed without asking) and the segment's
	// TCP flags (evTCPFlags).
	evFlags    = evReal
	evTCPFlags = evRPort
	lClose     = "close"
	lNoRoom    = "noroom"

	// An IPv6 segment's closing record: the same fields, with 16-byte
	// addresses. Records are told apart by their length: evLen (IPv4,
	// either kind by evKind), ev6Len (this one) and ev6NewLen (an IPv6
	// new flow's, newflow6.go).
	ev6Client   = 0
	ev6VIP      = 16
	ev6Ports    = 32 // source port, destination port
	ev6Flags    = 36
	ev6TCPFlags = 40
	ev6Proto    = 42 // with the kind in its high byte, as evProto
	ev6In       = 44
	ev6Len      = 48
)

// tcpRecord is the size and the fill (for record or record6) of a TCP
// segment's report of kind (evClosed, evAcked), with R7 = the flow's map
// value and R9 = the segment's TCP flags: the entry's flags and the
// segment's.
func tcpRecord(kind int32, sfx string) (int32, asm.Instructions) {
	if sfx == sfx6 {
		return ev6Len, record6("", asm.Instructions{
			asm.LoadMem(asm.R0, asm.R7, valFlags, asm.Word),
			asm.StoreMem(asm.R8, ev6Flags, asm.R0, asm.Word),
			asm.StoreMem(asm.R8, ev6TCPFlags, asm.R9, asm.Half),
			asm.Mov.Imm(asm.R0, protoTCP|kind<<8),
			asm.StoreMem(asm.R8, ev6Proto, asm.R0, asm.Half),
		})
	}
	return evLen, record("", asm.Instructions{ // newflow.go
		asm.LoadMem(asm.R0, asm.R7, valFlags, asm.Word),
		asm.StoreMem(asm.R8, evFlags, asm.R0, asm.Word),
		asm.StoreMem(asm.R8, evTCPFlags, asm.R9, asm.Half),
		asm.Mov.Imm(asm.R0, protoTCP|kind<<8),
		asm.StoreMem(asm.R8, evProto, asm.R0, asm.Half),
	})
}

// ackReport follows the handshake mark in account: the first segment
// after the SYN of a flow whose entry forwards SYNs (flagSyn) is reported
// as a record of kind evAcked, so lvsd steps the connection to
// ESTABLISHED when it drains the ring, as IPVS does on that segment,
// instead of when the sweep next asks (conntrack's synRecvLook). A FIN
// is not: its closing report carries the entry's flags. Without room in
// the ring nothing is reported; the sweep catches up.
func ackReport(events int, sfx string) asm.Instructions {
	size, fill := tcpRecord(evAcked, sfx)
	insns := asm.Instructions{
		asm.Mov.Reg(asm.R2, asm.R9),
		asm.And.Imm(asm.R2, tcpFIN),
		asm.JNE.Imm(asm.R2, 0, lNoAck+sfx),
	}
	insns = append(insns, reserve(events, size, lNoAck+sfx)...)
	insns = append(insns, fill...)
	return append(insns, asm.Mov.Imm(asm.R8, protoTCP)) // the record's pointer was in R8
}

// reserve reserves a record of size bytes in the ring events and leaves
// its pointer in R8, or jumps to noRoom when the ring is full.
func reserve(events int, size int32, noRoom string) asm.Instructions {
	return asm.Instructions{
		asm.LoadMapPtr(asm.R1, events),
		asm.Mov.Imm(asm.R2, size),
		asm.Mov.Imm(asm.R3, 0),
		asm.FnRingbufReserve.Call(),
		asm.JEq.Imm(asm.R0, 0, noRoom),
		asm.Mov.Reg(asm.R8, asm.R0),
	}
}

// closeReport follows classify (for IPv6, with sfx6: classify6) in the tcx
// program when the fast path takes the frame, with R7 = the flow's map
// value, R8 = the protocol and R9 = the TCP flags: a frame without FIN or
// RST goes on to lTaken; a FIN or RST is reported (its source and
// destination as the frame has them) and taken, or, without room in the
// ring, its flow marked withdrawn and the segment punted. R8 is the
// protocol again at lTaken.
func closeReport(events int, sfx string) asm.Instructions {
	size, fill := tcpRecord(evClosed, sfx)
	insns := asm.Instructions{
		asm.Mov.Reg(asm.R0, asm.R9).WithSymbol(lClose + sfx),
		asm.And.Imm(asm.R0, tcpRST|tcpFIN),
		asm.JNE.Imm(asm.R0, 0, lReport+sfx),
		asm.LoadMem(asm.R0, asm.RFP, stGone, asm.Word),
		asm.JNE.Imm(asm.R0, goneReuse, lTaken+sfx), // not a reusing SYN (reuse.go)
	}
	res := reserve(events, size, lNoRoom+sfx)
	res[0] = res[0].WithSymbol(lReport + sfx)
	insns = append(insns, res...)
	insns = append(insns, fill...)
	insns = append(insns, asm.Mov.Imm(asm.R8, protoTCP)) // the record's pointer was in R8
	insns = append(insns, markClosing(sfx)...)           // reuse.go
	return append(insns,
		// No room: the Go path takes the segment, and for a FIN or RST
		// the flow after it.
		asm.LoadMem(asm.R0, asm.RFP, stGone, asm.Word).WithSymbol(lNoRoom+sfx),
		asm.JEq.Imm(asm.R0, goneReuse, lPunt),
		asm.LoadMem(asm.R1, asm.R7, valFlags, asm.Word),
		asm.Or.Imm(asm.R1, flagWithdraw),
		asm.StoreMem(asm.R7, valFlags, asm.R1, asm.Word),
		asm.Ja.Label(lPunt),
	)
}

// record6 is record for an IPv6 frame: the reserved record R8 holds gets
// the frame's ends (the addresses and ports classify6 loaded to st6Key),
// what fill writes and the interface, and is submitted without waking
// lvsd. Its first instruction carries label, unless that is "".
func record6(label string, fill asm.Instructions) asm.Instructions {
	var insns asm.Instructions
	for off := int16(0); off < 32; off += 8 {
		insns = append(insns,
			asm.LoadMem(asm.R0, asm.RFP, st6Key+off, asm.DWord),
			asm.StoreMem(asm.R8, ev6Client+off, asm.R0, asm.DWord))
	}
	if label != "" {
		insns[0] = insns[0].WithSymbol(label)
	}
	insns = append(insns,
		asm.LoadMem(asm.R0, asm.RFP, st6Key+32, asm.Word),
		asm.StoreMem(asm.R8, ev6Ports, asm.R0, asm.Word),
	)
	insns = append(insns, fill...)
	return append(insns,
		asm.LoadMem(asm.R0, asm.R6, skbIfindex, asm.Word),
		asm.StoreMem(asm.R8, ev6In, asm.R0, asm.Word),
		asm.Mov.Reg(asm.R1, asm.R8),
		asm.Mov.Imm(asm.R2, rbNoWakeup),
		asm.FnRingbufSubmit.Call(),
	)
}
