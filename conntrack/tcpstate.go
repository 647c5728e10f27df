package conntrack

import (
	"fmt"

	"lvs/ipvs"
)

// State is the IPVS state of an entry. TCP entries use all of them; UDP and
// ICMP entries and templates stay in StateNone.
type State uint8

// The IPVS TCP states, numbered as IP_VS_TCP_S_* (ip_vs_proto_tcp.c).
const (
	StateNone State = iota
	StateEstablished
	StateSynSent
	StateSynRecv
	StateFinWait
	StateTimeWait
	StateClose
	StateCloseWait
	StateLastAck
	StateListen
	StateSynAck
	numStates
)

var stateNames = [numStates]string{"NONE", "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT",
	"TIME_WAIT", "CLOSE", "CLOSE_WAIT", "LAST_ACK", "LISTEN", "SYNACK"}

// String returns the state as ipvsadm -L -c prints it for TCP.
func (s State) String() string {
	if s < numStates {
		return stateNames[s]
	}
	return fmt.Sprintf("state-%d", uint8(s))
}

// StateName returns the state column of ipvsadm -L -c for protocol p: the
// TCP state name, "UDP" or "ICMP" (udp_state_name_table has one state).
func StateName(p ipvs.Proto, s State) string {
	switch p {
	case ipvs.UDP:
		return "UDP"
	case ICMP:
		return "ICMP"
	}
	return s.String()
}

// active reports whether a TCP state counts as an active connection: the
// established and pre-established states, as tcp_state_active_table (since
// "ipvs: count pre-established TCP states as active").
func (s State) active() bool {
	return s == StateEstablished || s == StateSynSent || s == StateSynRecv || s == StateSynAck
}

// halfOpen reports the states a SYN flood leaves behind: the first to go
// under pressure.
func (s State) halfOpen() bool { return s == StateSynRecv || s == StateSynAck }

// HalfOpen is how many TCP connections of the table are half-open (in
// SYN_RECV or SYNACK): a handful at any connection rate (rate × round
// trip), hundreds of thousands under a SYN flood.
func (t *Table) HalfOpen() int { return int(t.halfOpen.Load()) }

// Dir is the direction of a packet relative to the director.
type Dir uint8

// The directions of IP_VS_DIR_*.
const (
	DirInput     Dir = iota // client → director
	DirOutput               // real server → director (NAT replies)
	DirInputOnly            // client → director when replies bypass it (DR, TUN)
)

// TCPFlags are the flag bits of a TCP header (byte 13), so the dataplane can
// pass the header byte unchanged.
type TCPFlags uint8

// The TCP flags the state machine looks at.
const (
	FIN TCPFlags = 0x01
	SYN TCPFlags = 0x02
	RST TCPFlags = 0x04
	ACK TCPFlags = 0x10
)

// Row indices of a transition table, in the kernel's order.
const (
	rowSyn = iota
	rowFin
	rowAck
	rowRst
)

// flagRow picks the table row by the kernel's priority RST > SYN > FIN > ACK
// (tcp_state_idx); -1 when none is set.
func flagRow(f TCPFlags) int {
	switch {
	case f&RST != 0:
		return rowRst
	case f&SYN != 0:
		return rowSyn
	case f&FIN != 0:
		return rowFin
	case f&ACK != 0:
		return rowAck
	}
	return -1
}

// isNewConn reports whether a packet may create a TCP connection: a SYN
// without RST, ACK or FIN (tcp_conn_schedule).
func isNewConn(p ipvs.Proto, f TCPFlags) bool {
	return p != ipvs.TCP || f&(SYN|RST|ACK|FIN) == SYN
}

const (
	sNO = StateNone
	sES = StateEstablished
	sSS = StateSynSent
	sSR = StateSynRecv
	sFW = StateFinWait
	sTW = StateTimeWait
	sCL = StateClose
	sCW = StateCloseWait
	sLA = StateLastAck
	sLI = StateListen
	sSA = StateSynAck
)

type transitions [3][4][numStates]State // [Dir][row][current state]

// tcpStates is tcp_states of ip_vs_proto_tcp.c (current kernels; columns
// sNO sES sSS sSR sFW sTW sCL sCW sLA sLI sSA).
var tcpStates = transitions{
	DirInput: {
		rowSyn: {sSR, sES, sES, sSR, sSR, sSR, sSR, sSR, sSR, sSR, sSR},
		rowFin: {sCL, sCW, sSS, sTW, sTW, sTW, sCL, sCW, sLA, sLI, sTW},
		rowAck: {sES, sES, sSS, sES, sFW, sTW, sCL, sCW, sCL, sLI, sES},
		rowRst: {sCL, sCL, sCL, sSR, sCL, sCL, sCL, sCL, sLA, sLI, sSR},
	},
	DirOutput: {
		rowSyn: {sSS, sES, sSS, sSR, sSS, sSS, sSS, sSS, sSS, sLI, sSR},
		rowFin: {sTW, sFW, sSS, sTW, sFW, sTW, sCL, sTW, sLA, sLI, sTW},
		rowAck: {sES, sES, sSS, sES, sFW, sTW, sCL, sCW, sLA, sES, sES},
		rowRst: {sCL, sCL, sSS, sCL, sCL, sTW, sCL, sCL, sCL, sCL, sCL},
	},
	DirInputOnly: {
		rowSyn: {sSR, sES, sES, sSR, sSR, sSR, sSR, sSR, sSR, sSR, sSR},
		rowFin: {sCL, sFW, sSS, sTW, sFW, sTW, sCL, sCW, sLA, sLI, sTW},
		rowAck: {sES, sES, sSS, sES, sFW, sTW, sCL, sCW, sCL, sLI, sES},
		rowRst: {sCL, sCL, sCL, sSR, sCL, sCL, sCL, sCL, sLA, sLI, sCL},
	},
}

// tcpStatesDos is tcp_states_dos, the stricter table secure_tcp swaps in: a
// client ACK alone does not establish a SYN_RECV entry, DR SYNs go to SYNACK.
var tcpStatesDos = transitions{
	DirInput: {
		rowSyn: {sSR, sES, sES, sSR, sSR, sSR, sSR, sSR, sSR, sSR, sSA},
		rowFin: {sCL, sCW, sSS, sTW, sTW, sTW, sCL, sCW, sLA, sLI, sSA},
		rowAck: {sES, sES, sSS, sSR, sFW, sTW, sCL, sCW, sCL, sLI, sSA},
		rowRst: {sCL, sCL, sCL, sSR, sCL, sCL, sCL, sCL, sLA, sLI, sCL},
	},
	DirOutput: {
		rowSyn: {sSS, sES, sSS, sSA, sSS, sSS, sSS, sSS, sSS, sLI, sSA},
		rowFin: {sTW, sFW, sSS, sTW, sFW, sTW, sCL, sTW, sLA, sLI, sTW},
		rowAck: {sES, sES, sSS, sES, sFW, sTW, sCL, sCW, sLA, sES, sES},
		rowRst: {sCL, sCL, sSS, sCL, sCL, sTW, sCL, sCL, sCL, sCL, sCL},
	},
	DirInputOnly: {
		rowSyn: {sSA, sES, sES, sSR, sSA, sSA, sSA, sSA, sSA, sSA, sSA},
		rowFin: {sCL, sFW, sSS, sTW, sFW, sTW, sCL, sCW, sLA, sLI, sTW},
		rowAck: {sES, sES, sSS, sES, sFW, sTW, sCL, sCW, sCL, sLI, sES},
		rowRst: {sCL, sCL, sCL, sSR, sCL, sCL, sCL, sCL, sLA, sLI, sCL},
	},
}

// NextTCP is the TCP step function of set_tcp_state: given the current
// state, whether the entry still has NOOUTPUT, the packet's direction and
// flags, and whether secure_tcp is in force, it returns the next state and
// whether NOOUTPUT is still set. A packet with none of RST/SYN/FIN/ACK goes
// to CLOSE, as in the kernel.
func NextTCP(cur State, noOutput bool, dir Dir, f TCPFlags, secure bool) (State, bool) {
	if noOutput {
		if dir == DirOutput {
			noOutput = false // first reply seen: use the OUTPUT table from now on
		} else {
			dir = DirInputOnly
		}
	}
	row := flagRow(f)
	if row < 0 || cur >= numStates || dir > DirInputOnly {
		return StateClose, noOutput
	}
	tbl := &tcpStates
	if secure {
		tbl = &tcpStatesDos
	}
	return tbl[dir][row][cur], noOutput
}
