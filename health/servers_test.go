package health

import (
	"context"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Test servers: every one listens on 127.0.0.1 (or the loopback address
// given to the ...On forms, ::1 for IPv6) and is closed by t.Cleanup.

// loop4 and loop6 are the loopback addresses test servers listen on.
var (
	loop4 = netip.MustParseAddr("127.0.0.1")
	loop6 = netip.IPv6Loopback()
)

// need6 skips t when this host cannot listen on ::1.
func need6(t *testing.T) {
	t.Helper()
	ln, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback here: %v", err)
	}
	ln.Close()
}

// tcpServer accepts connections on a loopback address and runs handle for each.
type tcpServer struct {
	addr    netip.AddrPort
	accepts atomic.Int32
}

func listenTCP(t *testing.T, handle func(net.Conn)) *tcpServer {
	t.Helper()
	return listenTCPOn(t, loop4, handle)
}

func listenTCPOn(t *testing.T, host netip.Addr, handle func(net.Conn)) *tcpServer {
	t.Helper()
	ln, err := net.Listen("tcp", netip.AddrPortFrom(host, 0).String())
	if err != nil {
		t.Fatal(err)
	}
	s := &tcpServer{addr: ln.Addr().(*net.TCPAddr).AddrPort()}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.accepts.Add(1)
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				c.SetDeadline(time.Now().Add(5 * time.Second))
				if handle != nil {
					handle(c)
				}
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	return s
}

// closedTCP returns a 127.0.0.1 port nothing listens on.
func closedTCP(t *testing.T) netip.AddrPort {
	t.Helper()
	return closedTCPOn(t, loop4)
}

func closedTCPOn(t *testing.T, host netip.Addr) netip.AddrPort {
	t.Helper()
	ln, err := net.Listen("tcp", netip.AddrPortFrom(host, 0).String())
	if err != nil {
		t.Fatal(err)
	}
	a := ln.Addr().(*net.TCPAddr).AddrPort()
	ln.Close()
	return a
}

// udpServer answers each datagram with reply(datagram); nil means silence.
func udpServer(t *testing.T, reply func([]byte) []byte) netip.AddrPort {
	t.Helper()
	return udpServerOn(t, loop4, reply)
}

func udpServerOn(t *testing.T, host netip.Addr, reply func([]byte) []byte) netip.AddrPort {
	t.Helper()
	pc, err := net.ListenPacket("udp", netip.AddrPortFrom(host, 0).String())
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 2048)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if out := reply(buf[:n]); out != nil {
				pc.WriteTo(out, from)
			}
		}
	}()
	t.Cleanup(func() { pc.Close(); <-done })
	return pc.LocalAddr().(*net.UDPAddr).AddrPort()
}

// closedUDP returns a 127.0.0.1 UDP port nothing listens on.
func closedUDP(t *testing.T) netip.AddrPort {
	t.Helper()
	return closedUDPOn(t, loop4)
}

func closedUDPOn(t *testing.T, host netip.Addr) netip.AddrPort {
	t.Helper()
	pc, err := net.ListenPacket("udp", netip.AddrPortFrom(host, 0).String())
	if err != nil {
		t.Fatal(err)
	}
	a := pc.LocalAddr().(*net.UDPAddr).AddrPort()
	pc.Close()
	return a
}

// readUntil reads from c until the bytes read end with suffix.
func readUntil(c net.Conn, suffix string) string {
	var b []byte
	buf := make([]byte, 256)
	for !strings.HasSuffix(string(b), suffix) {
		n, err := c.Read(buf)
		b = append(b, buf[:n]...)
		if err != nil {
			break
		}
	}
	return string(b)
}

// runCheck builds the checker of s and runs it once with timeout.
func runCheck(t *testing.T, s Spec, timeout time.Duration) Result {
	t.Helper()
	c, err := NewChecker(s)
	if err != nil {
		t.Fatalf("NewChecker(%+v): %v", s, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return c.Check(ctx)
}

// wantResult checks a Result's verdict and that its reason contains want.
func wantResult(t *testing.T, name string, got Result, ok bool, reason string) {
	t.Helper()
	if got.OK != ok || !strings.Contains(got.Reason, reason) {
		t.Errorf("%s: Check() = {OK:%v Reason:%q}, want OK=%v with reason containing %q", name, got.OK, got.Reason, ok, reason)
	}
}

// leakcheck fails the test if goroutines started during it outlive it.
func leakcheck(t *testing.T) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for runtime.NumGoroutine() > before {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<16)
				n := runtime.Stack(buf, true)
				t.Errorf("goroutines: %d before, %d after:\n%s", before, runtime.NumGoroutine(), buf[:n])
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
}

// eventually polls cond until it holds or a generous bound passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
