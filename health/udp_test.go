package health

import (
	"net/netip"
	"strings"
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
