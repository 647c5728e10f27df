package health

import (
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestUDP(t *testing.T) {
	echo := udpServer(t, func(b []byte) []byte { return append([]byte(nil), b...) })
	fixed := udpServer(t, func([]byte) []byte { return []byte("SERVFAIL") })
	silent := udpServer(t, func([]byte) []byte { return nil })
	tests := []struct {
		name   string
		addr   netip.AddrPort
		send   string
		expect string
		ok     bool
		reason string
	}{
		{"echo with expect", echo, `ping\n`, "ping", true, ""},
		{"any reply without expect", fixed, "q", "", true, ""},
		{"reply mismatch", fixed, "q", "NOERROR", false, `expect mismatch: got "SERVFAI"`},
		{"port unreachable", closedUDP(t), "q", "", false, "ICMP port unreachable"},
		{"silence", silent, "q", "", false, "timeout (read)"},
		{"nothing sent, nothing back", echo, "", "", false, "timeout (read)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Spec{Addr: tt.addr, VPort: 53, Protocol: UDP, Send: tt.send, Expect: tt.expect}
			c, err := NewChecker(s)
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := c.(*udpChecker); !ok {
				t.Fatalf("NewChecker(%+v) = %T, want the UDP probe", s, c)
			}
			timeout := 3 * time.Second
			if !tt.ok && strings.HasPrefix(tt.reason, "timeout") {
				timeout = 300 * time.Millisecond
			}
			wantResult(t, tt.name, runCheck(t, s, timeout), tt.ok, tt.reason)
		})
	}
}

// TestUDPResends: a datagram or its answer lost (a flooded server's full
// socket buffer) is sent again within the timeout instead of failing the
// check, which with nanny's one-failure rule took the server out; a
// server that never answers still fails at the timeout, after udpTries
// datagrams at most.
func TestUDPResends(t *testing.T) {
	var got atomic.Int32
	lossy := udpServer(t, func(b []byte) []byte {
		if got.Add(1) <= 2 {
			return nil // the first two are lost
		}
		return append([]byte(nil), b...)
	})
	s := Spec{Addr: lossy, VPort: 53, Protocol: UDP, Send: "ping", Expect: "ping"}
	wantResult(t, "lossy", runCheck(t, s, 3*time.Second), true, "")
	if n := got.Load(); n != 3 {
		t.Errorf("the server got %d datagrams, want 3 (two lost, one answered)", n)
	}

	var silent atomic.Int32
	quiet := udpServer(t, func([]byte) []byte { silent.Add(1); return nil })
	s.Addr = quiet
	wantResult(t, "silent", runCheck(t, s, time.Second), false, "timeout (read)")
	if n := silent.Load(); n < 2 || n > udpTries {
		t.Errorf("a silent server got %d datagrams, want 2 to %d", n, udpTries)
	}
}
