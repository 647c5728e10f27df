package fastpath

import (
	"encoding/binary"
	"net/netip"

	"github.com/cilium/ebpf/asm"
)

// New flows in the kernel. A TCP SYN that opens a connection, or a UDP
// datagram of no flow, to a virtual service of that protocol lvsd has
// handed to the fast path (SetServices) is scheduled by
// the tcx program itself, the first program to see the frame: it takes
// the next destination of the service's cycle (the scheduler's own
// sequence, ipvs.Sequencer, read with one atomic add per new flow), or for
// an mh service the client's slot of mh's lookup table (mh.go), writes the
// flow's entries — the client direction, and for NAT the reply direction,
// from per-destination templates the client's address and port are filled
// into — and reports the flow to lvsd in a ring buffer without waking it,
// then finds the entry and forwards the frame like any other. A
// connection through such a service costs the Go path nothing until its
// FIN or RST; lvsd adopts the flow into its connection table from the ring
// (Dataplane.AdoptNewFlows) before it looks at any punted frame, so the
// table knows every flow whose frames it sees.
//
// Anything the program cannot do — the ring is full, an entry cannot be
// written, the service is not there — punts the frame to the Go path
// unchanged, which schedules it as before.

// A Target is one real server of a service the fast path schedules.
type Target struct {
	// Real is the real server's address and port, as the connection table
	// records it.
	Real netip.AddrPort
	// Fwd is the client direction. Its Src is ignored: every flow keeps
	// its client's address and port.
	Fwd Action
	// Rev, with HasRev (NAT), is the reply direction. Its Dst, DstMAC and
	// Out are ignored: the reply goes back to the client through the port
	// and previous hop the SYN came from.
	Rev    Action
	HasRev bool
}

// A Service is a virtual service whose new flows the fast path
// schedules: TCP connections from their SYN, UDP flows from their first
// datagram.
type Service struct {
	VIP   netip.AddrPort
	Proto uint8 // frame.ProtoTCP or frame.ProtoUDP
	In    int   // ifindex the VIP's frames arrive on
	// Seq is the scheduling cycle: indexes into Targets, taken in order
	// and again from the start; or, with Hash, mh's lookup table (mh.go).
	Seq     []int
	Hash    Hash
	Targets []Target
}

// A NewFlow is a connection the fast path scheduled, as it reports it.
//
// A record with Closed set reports instead a FIN or RST the fast path
// forwarded (close.go): Client and Virtual are then the segment's source
// and destination as it arrived (the client and the VIP, or for a NAT
// reply the real server and the client), Real is zero and In the
// interface it came in on.
//
// A record with Established set reports the client's first segment after
// the SYN of a TCP flow whose client direction forwards SYNs (one the
// fast path scheduled, or one lvsd installed with its SYN): the
// handshake completed (close.go's ackReport). Its fields are a closing
// record's, the client's direction.
type NewFlow struct {
	Client, Virtual, Real netip.AddrPort
	Proto                 uint8 // frame.ProtoTCP or frame.ProtoUDP
	In                    int   // ifindex the flow's first frame arrived on
	Closed                bool  // a FIN or RST of a flow the fast path holds
	Established           bool  // the handshake of a flow the fast path holds completed
	// TCPFlags, for Closed and Established, are the segment's TCP flags
	// (frame.FIN, frame.RST, ...).
	TCPFlags uint8
	// Acked, for Closed and Established, is whether the entry the segment hit had seen
	// its client's segment after the SYN (flagAcked): only a client
	// direction the fast path scheduled can have it.
	Acked bool
}

// Map sizes and record layouts of the new-flow path. seq and targets are
// double-buffered: SetServices writes the half the services do not point
// at, then points them at it.
const (
	maxServices  = 4096
	seqHalf      = 1 << 15 // scheduling-cycle slots per half
	targetHalf   = 1 << 13 // destination templates per half
	eventRingLen = 1 << 22 // bytes: ~170k flows between two drains

	svcKeyLen = 8 // VIP, port, protocol
	// The service value.
	svcIn      = 0
	svcSeqBase = 4
	svcSeqLen  = 8
	svcCounter = 16 // u64, atomically incremented per SYN
	svcValLen  = 40 // with an IPv6 service's VIP after it (svcVIP6)

	// The target value: two flow values, then the real server.
	tgtRev    = valueLen
	tgtFlags  = 2 * valueLen // tgtHasRev
	tgtReal   = tgtFlags + 4
	tgtRPort  = tgtFlags + 8
	tgtLen    = tgtFlags + 16
	tgtHasRev = 1
	// tgtSize is a slot of the targets array: IPv6's templates
	// (tgt6Len) are the larger.
	tgtSize = tgt6Len

	// The event record.
	evClient = 0
	evVIP    = 4
	evPorts  = 8 // client port, virtual port
	evReal   = 12
	evRPort  = 16
	evProto  = 18
	evIn     = 20
	evLen    = 24

	rbNoWakeup = 1 // BPF_RB_NO_WAKEUP
	noExist    = 1 // BPF_NOEXIST
)

// Stack of the new-flow path, below classify's.
const (
	stVal  = -128 // valueLen bytes
	stRKey = stVal - keyLen
	stSvc  = stRKey - svcKeyLen
	stIdx  = stSvc - 8
	stSave = stIdx - 8 // the TCP flags, kept across the path
)

// Labels of the new-flow path.
const (
	lNew     = "new"
	lSvc     = "svc"
	lUndo    = "undo"
	lDiscard = "discard"
	lEvent   = "event"
)

// fetchAdd emits `src = atomic_fetch_add((u64 *)(dst + off), src)`.
// cilium/ebpf v0.22.0's encoder takes the immediate of an atomic
// instruction from its Constant, not from the opcode FetchAdd.Mem sets, and
// would emit a plain add (no fetch): the immediate is set here, BPF_ADD |
// BPF_FETCH. TestNewFlowSchedulesInKernel fails without it.
func fetchAdd(dst, src asm.Register, off int16) asm.Instruction {
	ins := asm.FetchAdd.Mem(dst, src, asm.DWord, off)
	ins.Constant = 0x01
	return ins
}

// copyValue copies valueLen bytes at off in the target (R7) to stVal.
func copyValue(off int16) asm.Instructions { return copyFrom(asm.R7, off, stVal, valueLen) }

// copyFrom copies n bytes (a multiple of 8) at off from the pointer in
// register src to the stack at dst.
func copyFrom(src asm.Register, off, dst, n int16) asm.Instructions {
	var insns asm.Instructions
	for i := int16(0); i < n; i += 8 {
		insns = append(insns,
			asm.LoadMem(asm.R0, src, off+i, asm.DWord),
			asm.StoreMem(asm.RFP, dst+i, asm.R0, asm.DWord))
	}
	return insns
}

// newFlow is the tcx program's new-flow path, entered from classify on
// a miss with R6 = context, R8 = protocol, R9 = TCP flags and the flow's
// key at stKey. It makes the flow and goes on to forward the frame through
// the entry it made (report), or jumps to lPunt.
// Its parts: the checks (here and l4sum.go), the pick of a real server
// (pickTarget), the flow's two directions (writeFlow) and the report
// (report).
//
// IPv6's new-flow path (newflow6.go) follows it in the program.
func newFlow(m progMaps) asm.Instructions {
	insns := opens(lNew, stSave, lSvc)
	insns = append(insns, pickTarget(m)...)
	insns = append(insns, writeFlow(m)...)
	insns = append(insns, report(m)...)
	insns = append(insns, unwind(m.flows, stKey, "")...)
	insns = append(insns, l4Checksum(lChecked)...) // l4sum.go
	return append(insns, newFlow6(m)...)
}

// opens, at label, keeps the TCP flags (R9) at the stack's save and goes
// on to svc, the service's lookup, with a frame that opens a flow: any UDP
// datagram of no flow (classify let only TCP and UDP through); of TCP, a
// SYN without ACK. Either must carry a right checksum, verified once its
// service is found (checked, l4sum.go). A SYN with FIN or RST opens
// nothing: the Go path's.
func opens(label string, save int16, svc string) asm.Instructions {
	return asm.Instructions{
		asm.StoreMem(asm.RFP, save, asm.R9, asm.DWord).WithSymbol(label),
		asm.JEq.Imm(asm.R8, protoUDP, svc),
		asm.Mov.Reg(asm.R0, asm.R9),
		asm.And.Imm(asm.R0, tcpSYNACK|tcpFIN|tcpRST),
		asm.JNE.Imm(asm.R0, tcpSYN, lPunt),
		asm.Ja.Label(svc),
	}
}

// unwind is where a flow that could not be made is taken back: at lUndo
// (with sfx) the reply direction failed, so the client direction, keyed
// at the stack's key in flows, goes; at lDiscard the reserved record R8
// holds is given back; then the frame is punted.
func unwind(flows int, key int16, sfx string) asm.Instructions {
	return asm.Instructions{
		asm.LoadMapPtr(asm.R1, flows).WithSymbol(lUndo + sfx),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, int32(key)),
		asm.FnMapDeleteElem.Call(),
		asm.Mov.Reg(asm.R1, asm.R8).WithSymbol(lDiscard + sfx),
		asm.Mov.Imm(asm.R2, 0),
		asm.FnRingbufDiscard.Call(),
		asm.Ja.Label(lPunt),
	}
}

// pickTarget, at lSvc, finds the frame's service (its key kept at stSvc
// for the reply direction's key and the report), takes the next slot of
// its scheduling cycle with one atomic add and leaves R7 = that slot's
// target and R8 = a reserved report record: without room for the report
// the flow is not made.
func pickTarget(m progMaps) asm.Instructions {
	insns := asm.Instructions{
		// The service: VIP, port, protocol.
		asm.LoadMem(asm.R0, asm.RFP, stDst, asm.Word).WithSymbol(lSvc),
		asm.StoreMem(asm.RFP, stSvc, asm.R0, asm.Word),
		asm.LoadMem(asm.R0, asm.RFP, stPorts+2, asm.Half),
		asm.StoreMem(asm.RFP, stSvc+4, asm.R0, asm.Half),
		asm.StoreMem(asm.RFP, stSvc+6, asm.R8, asm.Half),
	}
	return append(insns, schedule(m, stSvc, stIdx, evLen, checked(sum4), mh4)...)
}

// schedule looks up the service keyed at the stack's svc, which must be
// there for the interface the frame came in on and pass check (entered
// with R0 = the service's value; it may use R1 to R5 and jump to lPunt),
// takes the next slot of its cycle with one atomic add, or for an mh
// service the client's slot of its table (mhPick: src is where the frame
// has the client), its index kept at idx, and leaves R7 = that slot's
// target and R8 = a reserved record of recLen bytes: without room for the
// report the flow is not made.
func schedule(m progMaps, svc, idx int16, recLen int32, check asm.Instructions, src mhSource) asm.Instructions {
	insns := asm.Instructions{
		asm.LoadMapPtr(asm.R1, m.services),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, int32(svc)),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, lPunt),
		asm.LoadMem(asm.R1, asm.R0, svcIn, asm.Word),
		asm.LoadMem(asm.R2, asm.R6, skbIfindex, asm.Word),
		asm.JNE.Reg(asm.R1, asm.R2, lPunt),
	}
	insns = append(insns, check...)
	insns = append(insns,
		asm.LoadMem(asm.R3, asm.R0, svcSeqLen, asm.Word),
		asm.JEq.Imm(asm.R3, 0, lPunt),
		asm.LoadMem(asm.R4, asm.R0, svcSeqBase, asm.Word),
		asm.LoadMem(asm.R1, asm.R0, svcHash, asm.Word),
		asm.JNE.Imm(asm.R1, int32(HashNone), lMH+src.sfx), // mh: the client's slot (mh.go)
		// The next slot of the cycle: counter++ mod length.
		asm.Mov.Imm(asm.R1, 1),
		fetchAdd(asm.R0, asm.R1, svcCounter),
		asm.Mod.Reg(asm.R1, asm.R3),
		asm.Add.Reg(asm.R1, asm.R4),
		asm.Ja.Label(lPick+src.sfx),
	)
	insns = append(insns, mhPick(src)...)
	insns = append(insns,
		asm.StoreMem(asm.RFP, idx, asm.R1, asm.Word).WithSymbol(lPick+src.sfx),
		asm.LoadMapPtr(asm.R1, m.seq),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, int32(idx)),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, lPunt),
		asm.LoadMem(asm.R1, asm.R0, 0, asm.Word),
		asm.StoreMem(asm.RFP, idx, asm.R1, asm.Word),
		asm.LoadMapPtr(asm.R1, m.targets),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, int32(idx)),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, lPunt),
		asm.Mov.Reg(asm.R7, asm.R0),
	)
	return append(insns, reserve(m.events, recLen, lPunt)...) // room for the report (close.go)
}

// insertNew emits bpf_map_update_elem(m, fp+key, fp+val, BPF_NOEXIST),
// going to fail when the entry is there already or cannot be written.
func insertNew(m int, key, val int32, fail string) asm.Instructions {
	return asm.Instructions{
		asm.LoadMapPtr(asm.R1, m),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, key),
		asm.Mov.Reg(asm.R3, asm.RFP),
		asm.Add.Imm(asm.R3, val),
		asm.Mov.Imm(asm.R4, noExist),
		asm.FnMapUpdateElem.Call(),
		asm.JNE.Imm(asm.R0, 0, fail),
	}
}

// writeFlow writes the flow's client direction from the target R7 holds,
// then its reply direction if the target has one, each only where no
// entry is (a flow another program or a worker made meanwhile wins); it
// goes on at lEvent, or to lDiscard or lUndo.
func writeFlow(m progMaps) asm.Instructions {
	// The client direction: the template with the client's address and
	// port as the (unchanged) source.
	insns := copyValue(0)
	insns = append(insns,
		asm.LoadMem(asm.R0, asm.RFP, stSrc, asm.Word),
		asm.StoreMem(asm.RFP, stVal+valAddrs, asm.R0, asm.Word),
		asm.LoadMem(asm.R0, asm.RFP, stPorts, asm.Half),
		asm.StoreMem(asm.RFP, stVal+valPorts, asm.R0, asm.Half),
	)
	insns = append(insns, insertNew(m.flows, stKey, stVal, lDiscard)...)
	insns = append(insns,
		asm.LoadMem(asm.R0, asm.R7, tgtFlags, asm.Word),
		asm.And.Imm(asm.R0, tgtHasRev),
		asm.JEq.Imm(asm.R0, 0, lEvent),
	)
	// The reply direction: back to the client's address and port, to the
	// MAC the SYN came from, through the port it came in.
	insns = append(insns, copyValue(tgtRev)...)
	insns = append(insns,
		asm.LoadMem(asm.R0, asm.RFP, stSrc, asm.Word),
		asm.StoreMem(asm.RFP, stVal+valAddrs+4, asm.R0, asm.Word),
		asm.LoadMem(asm.R0, asm.RFP, stPorts, asm.Half),
		asm.StoreMem(asm.RFP, stVal+valPorts+2, asm.R0, asm.Half),
		asm.LoadMem(asm.R0, asm.R6, skbIfindex, asm.Word),
		asm.StoreMem(asm.RFP, stVal+valOut, asm.R0, asm.Word),
		asm.Mov.Reg(asm.R1, asm.R6),
		asm.Mov.Imm(asm.R2, 6), // the frame's source MAC
		asm.Mov.Reg(asm.R3, asm.RFP),
		asm.Add.Imm(asm.R3, stVal+valDstMAC),
		asm.Mov.Imm(asm.R4, 6),
		asm.FnSkbLoadBytes.Call(),
		asm.JNE.Imm(asm.R0, 0, lUndo),
		// Its key: real server → client.
		asm.LoadMem(asm.R0, asm.R7, tgtReal, asm.Word),
		asm.StoreMem(asm.RFP, stRKey, asm.R0, asm.Word),
		asm.LoadMem(asm.R0, asm.RFP, stSrc, asm.Word),
		asm.StoreMem(asm.RFP, stRKey+4, asm.R0, asm.Word),
		asm.LoadMem(asm.R0, asm.R7, tgtRPort, asm.Half),
		asm.StoreMem(asm.RFP, stRKey+8, asm.R0, asm.Half),
		asm.LoadMem(asm.R0, asm.RFP, stPorts, asm.Half),
		asm.StoreMem(asm.RFP, stRKey+10, asm.R0, asm.Half),
		asm.LoadMem(asm.R0, asm.RFP, stSvc+6, asm.Half),
		asm.StoreMem(asm.RFP, stRKey+12, asm.R0, asm.Word),
	)
	return append(insns, insertNew(m.flows, stRKey, stVal, lUndo)...)
}

// report, at lEvent, fills and submits the reserved record R8 holds (the
// flow's ends, its real server, protocol and interface) without waking
// lvsd, then looks the flow up again and joins the established-flow path
// with the entry it made, at its size check (lookup's lFlags), with R7,
// R8 and R9 as classify leaves them.
func report(m progMaps) asm.Instructions {
	insns := record(lEvent, asm.Instructions{
		asm.LoadMem(asm.R0, asm.R7, tgtReal, asm.Word),
		asm.StoreMem(asm.R8, evReal, asm.R0, asm.Word),
		asm.LoadMem(asm.R0, asm.R7, tgtRPort, asm.Half),
		asm.StoreMem(asm.R8, evRPort, asm.R0, asm.Half),
		asm.LoadMem(asm.R0, asm.RFP, stSvc+6, asm.Half),
		asm.StoreMem(asm.R8, evProto, asm.R0, asm.Half),
	})
	return append(insns, rejoin(m.flows, stKey, stProto, stSave, "")...)
}

// rejoin looks the flow keyed at the stack's key up in flows again and
// joins the established-flow path with the entry (R7), the protocol (R8,
// a byte at proto) and the TCP flags (R9, kept at save), at lookup's size
// check (lFlags, with sfx).
func rejoin(flows int, key, proto, save int16, sfx string) asm.Instructions {
	return asm.Instructions{
		asm.LoadMapPtr(asm.R1, flows),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, int32(key)),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, lPunt),
		asm.Mov.Reg(asm.R7, asm.R0),
		asm.LoadMem(asm.R8, asm.RFP, proto, asm.Byte),
		asm.LoadMem(asm.R9, asm.RFP, save, asm.DWord),
		asm.Ja.Label(lFlags + sfx),
	}
}

// record fills the reserved record R8 holds with the frame's ends (its
// source and destination addresses and ports), what fill writes, and the
// interface, then submits it without waking lvsd. Its first instruction
// carries label, unless that is "".
func record(label string, fill asm.Instructions) asm.Instructions {
	insns := asm.Instructions{
		asm.LoadMem(asm.R0, asm.RFP, stSrc, asm.Word),
		asm.StoreMem(asm.R8, evClient, asm.R0, asm.Word),
		asm.LoadMem(asm.R0, asm.RFP, stDst, asm.Word),
		asm.StoreMem(asm.R8, evVIP, asm.R0, asm.Word),
		asm.LoadMem(asm.R0, asm.RFP, stPorts, asm.Word),
		asm.StoreMem(asm.R8, evPorts, asm.R0, asm.Word),
	}
	if label != "" {
		insns[0] = insns[0].WithSymbol(label)
	}
	insns = append(insns, fill...)
	return append(insns,
		asm.LoadMem(asm.R0, asm.R6, skbIfindex, asm.Word),
		asm.StoreMem(asm.R8, evIn, asm.R0, asm.Word),
		asm.Mov.Reg(asm.R1, asm.R8),
		asm.Mov.Imm(asm.R2, rbNoWakeup),
		asm.FnRingbufSubmit.Call(),
	)
}

// marshalTarget encodes t as the program copies it: the two flow values
// with the unspecified client address and port 0 (the program writes the
// client's in; the checksum differences do not depend on them, since the
// client's words are both removed and added), then the real server, in
// the layout of the VIP's family (IPv6's: newflow6.go).
func marshalTarget(t Target, vip netip.AddrPort, proto uint8, b *[tgtSize]byte) {
	*b = [tgtSize]byte{}
	v4 := vip.Addr().Is4()
	client := netip.AddrPortFrom(netip.IPv6Unspecified(), 0)
	revOff, flagsOff, realOff, rportOff := tgt6Rev, tgt6Flags, tgt6Real, tgt6RPort
	if v4 {
		client = netip.AddrPortFrom(netip.IPv4Unspecified(), 0)
		revOff, flagsOff, realOff, rportOff = tgtRev, tgtFlags, tgtReal, tgtRPort
	}
	// value writes a's flow value for key k at b[off:].
	value := func(a Action, k Key, off int) {
		var v [value6Len]byte
		n := value6Len
		if v4 {
			n = valueLen
			a.marshal(k, (*[valueLen]byte)(v[:valueLen]))
		} else {
			a.marshal6(k, &v)
		}
		copy(b[off:off+n], v[:n])
	}
	fwd := t.Fwd
	fwd.Src, fwd.SynAck = client, false
	value(fwd, Key{Src: client, Dst: vip, Proto: proto}, 0)
	if proto == protoTCP {
		binary.LittleEndian.PutUint32(b[valFlags:], binary.LittleEndian.Uint32(b[valFlags:])|flagSyn)
	}
	if t.HasRev {
		rev := t.Rev
		rev.Dst, rev.SynAck = client, proto == protoTCP
		value(rev, Key{Src: t.Real, Dst: client, Proto: proto}, revOff)
		binary.LittleEndian.PutUint32(b[flagsOff:], tgtHasRev)
	}
	copy(b[realOff:], t.Real.Addr().AsSlice())
	binary.BigEndian.PutUint16(b[rportOff:], t.Real.Port())
}

// parseNewFlow decodes an event record.
func parseNewFlow(b []byte) (NewFlow, bool) {
	switch len(b) {
	case ev6Len:
		return parseClosed6(b), true
	case ev6NewLen:
		return parseNewFlow6(b), true
	}
	if len(b) < evLen {
		return NewFlow{}, false
	}
	ap := func(a, p int) netip.AddrPort {
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[a:a+4])), binary.BigEndian.Uint16(b[p:]))
	}
	f := NewFlow{Client: ap(evClient, evPorts), Virtual: ap(evVIP, evPorts+2),
		Proto: b[evProto], In: int(binary.LittleEndian.Uint32(b[evIn:])),
		Closed: b[evKind] == evClosed, Established: b[evKind] == evAcked}
	if f.Closed || f.Established {
		f.Acked = binary.LittleEndian.Uint32(b[evFlags:])&flagAcked != 0
		f.TCPFlags = b[evTCPFlags]
	} else {
		f.Real = ap(evReal, evRPort)
	}
	return f, true
}

// parseClosed6 decodes an IPv6 segment's closing or handshake record
// (close.go).
func parseClosed6(b []byte) NewFlow {
	ap := func(a, p int) netip.AddrPort {
		return netip.AddrPortFrom(netip.AddrFrom16([16]byte(b[a:a+16])), binary.BigEndian.Uint16(b[p:]))
	}
	kind := b[ev6Proto+1]
	return NewFlow{Client: ap(ev6Client, ev6Ports), Virtual: ap(ev6VIP, ev6Ports+2), Proto: b[ev6Proto],
		In: int(binary.LittleEndian.Uint32(b[ev6In:])), Closed: kind == evClosed, Established: kind == evAcked,
		TCPFlags: b[ev6TCPFlags], Acked: binary.LittleEndian.Uint32(b[ev6Flags:])&flagAcked != 0}
}
