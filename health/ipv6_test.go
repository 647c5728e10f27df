package health

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"
)

// TestIPv6Checks runs every kind of check against real servers on ::1: the
// address reaches the socket as [::1]:port, and scripts get it bare, as the
// guide's `dig ... @$1` wants.
func TestIPv6Checks(t *testing.T) {
	need6(t)
	dir := t.TempDir()
	args := script(t, dir, "args", `echo "$1 $2 $#"`)
	up := listenTCPOn(t, loop6, nil)
	http6, _ := replyServer6(t, "HTTP/1.0 200 OK\r\n\r\n")
	echo := udpServerOn(t, loop6, func(b []byte) []byte { return append([]byte(nil), b...) })
	refusedTCP, refusedUDP := closedTCPOn(t, loop6), closedUDPOn(t, loop6)
	tests := []struct {
		name   string
		spec   Spec
		kind   Checker
		ok     bool
		reason string
	}{
		{"tcp connect", Spec{Addr: up.addr, VPort: 8080}, &tcpChecker{}, true, ""},
		{"tcp refused", Spec{Addr: refusedTCP, VPort: 8080}, &tcpChecker{}, false, "connection failure (connection refused)"},
		{"default http probe", Spec{Addr: http6.addr, VPort: 80}, &sendExpectChecker{}, true, ""},
		{"send expect mismatch", Spec{Addr: http6.addr, VPort: 80, Send: `GET / HTTP/1.0\r\n\r\n`, Expect: "HTTP/1.0 500"},
			&sendExpectChecker{}, false, `expect mismatch: got "HTTP/1.0 200"`},
		{"udp echo", Spec{Addr: echo, VPort: 53, Protocol: UDP, Send: "ping", Expect: "ping"}, &udpChecker{}, true, ""},
		{"udp port unreachable", Spec{Addr: refusedUDP, VPort: 53, Protocol: UDP, Send: "q"}, &udpChecker{}, false, "ICMP port unreachable"},
		{"send_program gets the bare address", Spec{Addr: netip.AddrPortFrom(netip.MustParseAddr("2001:db8::10"), 443), VPort: 443,
			SendProgram: args + " %h %p", Expect: "2001:db8::10 443 2"}, &programChecker{}, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := NewChecker(tt.spec)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := kindOf(c), kindOf(tt.kind); got != want {
				t.Fatalf("NewChecker(%+v) = %s, want %s", tt.spec, got, want)
			}
			wantResult(t, tt.name, runCheck(t, tt.spec, 5*time.Second), tt.ok, tt.reason)
		})
	}
}

func kindOf(c Checker) string { return fmt.Sprintf("%T", c) }

// replyServer6 is replyServer on ::1.
func replyServer6(t *testing.T, reply string) (*tcpServer, chan string) {
	got := make(chan string, 16)
	srv := listenTCPOn(t, loop6, func(c net.Conn) {
		got <- readUntil(c, "\r\n\r\n")
		c.Write([]byte(reply))
	})
	return srv, got
}

// TestIPv6LoadMonitors checks that load monitors reach an IPv6 server: an
// agent URL gets the address bracketed (once, also when the template
// brackets %h itself), and uptime over rsh gets it bare.
func TestIPv6LoadMonitors(t *testing.T) {
	need6(t)
	var mu sync.Mutex
	var hosts []string
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hosts = append(hosts, r.Host)
		mu.Unlock()
		w.Write([]byte("up 50%\n"))
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	addr := ln.Addr().(*net.TCPAddr).AddrPort()
	port := strconv.Itoa(int(addr.Port()))

	dir := t.TempDir()
	script(t, dir, "rsh", `[ "$1 $2" = "::1 uptime" ] && echo " 10:00:00 up 1 day,  2 users,  load average: 0.42, 0.30, 0.25"`)
	t.Setenv("PATH", dir+":"+os.Getenv("PATH"))

	tests := []struct {
		monitor string
		want    Load
	}{
		{"http://%h:%p/agent", Load{State: AgentUp, Kind: LoadPercent, Value: 50}},
		{"http://[%h]:%p/agent", Load{State: AgentUp, Kind: LoadPercent, Value: 50}},
		{"uptime", Load{Kind: LoadAverage, Value: float64(float32(0.42))}},
	}
	for _, tt := range tests {
		lc, err := NewLoadChecker(Spec{Addr: addr, LoadMonitor: tt.monitor})
		if err != nil {
			t.Fatalf("NewLoadChecker(%q): %v", tt.monitor, err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		got := lc.Load(ctx)
		cancel()
		if got != tt.want {
			t.Errorf("load_monitor %q: Load() = %+v, want %+v", tt.monitor, got, tt.want)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	want := "[::1]:" + port
	if len(hosts) != 2 || hosts[0] != want || hosts[1] != want {
		t.Errorf("agent requests had Host %q, want two of %q", hosts, want)
	}
}
