package conntrack

import (
	"fmt"
	"strings"
	"testing"
)

// The transition tables as text, the way the reference (§3.3) and the
// kernel's comments print them; the test parses them, so the expected
// values are a second transcription, not the implementation's arrays.
var (
	refColumns = "NO ES SS SR FW TW CL CW LA LI SA"
	refNormal  = map[Dir][4]string{ // syn, fin, ack, rst
		DirInput: {"SR ES ES SR SR SR SR SR SR SR SR", "CL CW SS TW TW TW CL CW LA LI TW",
			"ES ES SS ES FW TW CL CW CL LI ES", "CL CL CL SR CL CL CL CL LA LI SR"},
		DirOutput: {"SS ES SS SR SS SS SS SS SS LI SR", "TW FW SS TW FW TW CL TW LA LI TW",
			"ES ES SS ES FW TW CL CW LA ES ES", "CL CL SS CL CL TW CL CL CL CL CL"},
		DirInputOnly: {"SR ES ES SR SR SR SR SR SR SR SR", "CL FW SS TW FW TW CL CW LA LI TW",
			"ES ES SS ES FW TW CL CW CL LI ES", "CL CL CL SR CL CL CL CL LA LI CL"},
	}
	refDos = map[Dir][4]string{ // tcp_states_dos of ip_vs_proto_tcp.c
		DirInput: {"SR ES ES SR SR SR SR SR SR SR SA", "CL CW SS TW TW TW CL CW LA LI SA",
			"ES ES SS SR FW TW CL CW CL LI SA", "CL CL CL SR CL CL CL CL LA LI CL"},
		DirOutput: {"SS ES SS SA SS SS SS SS SS LI SA", "TW FW SS TW FW TW CL TW LA LI TW",
			"ES ES SS ES FW TW CL CW LA ES ES", "CL CL SS CL CL TW CL CL CL CL CL"},
		DirInputOnly: {"SA ES ES SR SA SA SA SA SA SA SA", "CL FW SS TW FW TW CL CW LA LI TW",
			"ES ES SS ES FW TW CL CW CL LI ES", "CL CL CL SR CL CL CL CL LA LI CL"},
	}
)

func parseState(t *testing.T, s string) State {
	t.Helper()
	for i, c := range strings.Fields(refColumns) {
		if c == s {
			return State(i)
		}
	}
	t.Fatalf("bad state %q", s)
	return 0
}

func TestTransitionTables(t *testing.T) {
	flags := [4]TCPFlags{SYN, FIN, ACK, RST}
	names := [4]string{"syn", "fin", "ack", "rst"}
	dirs := map[Dir]string{DirInput: "INPUT", DirOutput: "OUTPUT", DirInputOnly: "INPUT_ONLY"}
	for _, tt := range []struct {
		name   string
		secure bool
		table  map[Dir][4]string
	}{{"normal", false, refNormal}, {"secure_tcp", true, refDos}} {
		for dir, rows := range tt.table {
			for row, line := range rows {
				want := strings.Fields(line)
				if len(want) != int(numStates) {
					t.Fatalf("%s %s %s: %d columns", tt.name, dirs[dir], names[row], len(want))
				}
				for cur := StateNone; cur < numStates; cur++ {
					name := fmt.Sprintf("%s/%s/%s/%v", tt.name, dirs[dir], names[row], cur)
					t.Run(name, func(t *testing.T) {
						got, noOut := NextTCP(cur, false, dir, flags[row], tt.secure)
						if w := parseState(t, want[cur]); got != w || noOut {
							t.Errorf("NextTCP(%v, %s, %s) = %v (nooutput %v), want %v", cur, dirs[dir], names[row], got, noOut, w)
						}
					})
				}
			}
		}
	}
}

func TestFlagPriorityAndNoFlags(t *testing.T) {
	tests := []struct {
		name string
		cur  State
		f    TCPFlags
		want State
	}{
		{"rst beats syn", StateEstablished, RST | SYN, StateClose},
		{"syn beats fin", StateTimeWait, SYN | FIN, StateSynRecv},
		{"syn+ack is syn", StateNone, SYN | ACK, StateSynRecv},
		{"fin beats ack", StateEstablished, FIN | ACK, StateCloseWait},
		{"ack alone", StateSynRecv, ACK, StateEstablished},
		{"no flags closes (kernel: new_state = CLOSE)", StateEstablished, 0, StateClose},
		{"psh alone closes", StateEstablished, 0x08, StateClose},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, _ := NextTCP(tt.cur, false, DirInput, tt.f, false); got != tt.want {
				t.Errorf("NextTCP(%v, INPUT, %#x) = %v, want %v", tt.cur, tt.f, got, tt.want)
			}
		})
	}
}

func TestNoOutputSwitch(t *testing.T) {
	// With NOOUTPUT an INPUT packet uses INPUT_ONLY: FIN from ES goes to
	// FIN_WAIT, not CLOSE_WAIT as in INPUT.
	if got, noOut := NextTCP(StateEstablished, true, DirInput, FIN, false); got != StateFinWait || !noOut {
		t.Errorf("NOOUTPUT INPUT FIN = %v nooutput=%v, want FIN_WAIT true", got, noOut)
	}
	// The first OUTPUT packet clears NOOUTPUT and uses the OUTPUT table.
	if got, noOut := NextTCP(StateEstablished, true, DirOutput, FIN, false); got != StateFinWait || noOut {
		t.Errorf("NOOUTPUT OUTPUT FIN = %v nooutput=%v, want FIN_WAIT false", got, noOut)
	}
	if got, _ := NextTCP(StateEstablished, false, DirInput, FIN, false); got != StateCloseWait {
		t.Errorf("INPUT FIN from ES = %v, want CLOSE_WAIT", got)
	}
	if got, _ := NextTCP(StateSynAck, true, DirInput, RST, false); got != StateClose {
		t.Errorf("NOOUTPUT RST from SA = %v, want CLOSE (INPUT_ONLY), not SYN_RECV (INPUT)", got)
	}
}

func TestActiveStates(t *testing.T) {
	for s := StateNone; s < numStates; s++ {
		want := s == StateEstablished || s == StateSynSent || s == StateSynRecv || s == StateSynAck
		if s.active() != want {
			t.Errorf("%v.active() = %v, want %v", s, s.active(), want)
		}
	}
}
