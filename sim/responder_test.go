package sim

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"lvs/internal/testutil"
)

// TestResponderBindsUDPFirst: the simulator waits for a responder's HTTP
// port (its TCP echo port when it has none) and then starts lvsd, whose
// health checks probe the UDP echo port at once; a probe that meets no
// socket gets ICMP port unreachable, and lvsd takes the server out until
// reentry (issue 17: "a UDP health probe is sometimes lost right after
// start"). So when the responder binds its UDP port, neither TCP port may
// accept yet: the test looks from inside that bind.
func TestResponderBindsUDPFirst(t *testing.T) {
	// The ports are free when picked, but another test's connection may
	// take one as its ephemeral port before the responder binds it: a
	// bind that fails so is tried again with new ports.
	for attempt := 1; ; attempt++ {
		accepting, err := respondBindsUDPFirst(t)
		if errors.Is(err, unix.EADDRINUSE) && attempt < 3 {
			t.Logf("attempt %d: %v; again with other ports", attempt, err)
			continue
		}
		if err != nil {
			t.Fatalf("responder: %v", err)
		}
		for name := range accepting {
			t.Errorf("the %s port accepted before the UDP echo port was bound: a health probe sent once the simulator saw it could be refused", name)
		}
		return
	}
}

// respondBindsUDPFirst runs a responder on free ports and returns which
// of its TCP ports accepted a connection when it bound its UDP port.
func respondBindsUDPFirst(t *testing.T) (map[string]bool, error) {
	http, tcp, udp := freePort(t, "tcp"), freePort(t, "tcp"), freePort(t, "udp")
	accepting := map[string]bool{}
	bound := make(chan struct{})
	var once sync.Once
	listenUDP = func(network, addr string) (net.PacketConn, error) {
		for name, p := range map[string]int{"http": http, "tcp echo": tcp} {
			if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", p)); err == nil {
				// A dial to a port nothing listens on can connect to
				// itself (TCP simultaneous open) when the kernel picks
				// that port as its own: not an accept.
				if c.LocalAddr().(*net.TCPAddr).Port != p {
					accepting[name] = true
				}
				c.Close()
			}
		}
		defer once.Do(func() { close(bound) })
		return listenUDPEcho(network, addr)
	}
	defer func() { listenUDP = listenUDPEcho }()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- RunResponder(ctx, ResponderOptions{Name: "rs", HTTP: http, TCP: tcp, UDP: udp}) }()
	select {
	case <-bound:
	case err := <-done:
		return nil, fmt.Errorf("ended before binding UDP: %w", err)
	}
	cancel()
	return accepting, <-done
}

// TestResponderUDPProvisioned: the UDP echo port is served as a UDP
// service is for floods, by udpReaders sockets with a udpRcvBuf receive
// buffer each (forced past net.core.rmem_max), and every socket echoes.
func TestResponderUDPProvisioned(t *testing.T) {
	testutil.RequireRoot(t) // SO_RCVBUFFORCE needs CAP_NET_ADMIN
	port := freePort(t, "udp")
	var mu sync.Mutex
	var conns []net.PacketConn
	bound := make(chan struct{}, udpReaders)
	listenUDP = func(network, addr string) (net.PacketConn, error) {
		c, err := listenUDPEcho(network, addr)
		if err == nil {
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			bound <- struct{}{}
		}
		return c, err
	}
	defer func() { listenUDP = listenUDPEcho }()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- RunResponder(ctx, ResponderOptions{Name: "rs", UDP: port}) }()
	for range udpReaders {
		select {
		case <-bound:
		case err := <-done:
			t.Fatalf("responder ended before binding UDP: %v", err)
		}
	}
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("responder: %v", err)
		}
	}()
	// Every datagram is echoed, from whichever socket of the group the
	// kernel gives its source port to.
	answered := 0
	for i := range 64 {
		c, err := net.Dial("udp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(2 * time.Second))
		msg := fmt.Sprintf("ping %d", i)
		buf := make([]byte, 64)
		if _, err := c.Write([]byte(msg)); err == nil {
			if n, err := c.Read(buf); err == nil && string(buf[:n]) == "rs\n"+msg {
				answered++
			}
		}
		c.Close()
	}
	if answered != 64 {
		t.Errorf("%d of 64 datagrams echoed", answered)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(conns) != udpReaders {
		t.Fatalf("%d UDP sockets bound, want %d", len(conns), udpReaders)
	}
	for i, c := range conns {
		rc, err := c.(*net.UDPConn).SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		var got int
		var gerr error
		rc.Control(func(fd uintptr) { got, gerr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF) })
		if gerr != nil {
			t.Fatal(gerr)
		}
		if got < 2*udpRcvBuf { // the kernel reports twice what was set
			t.Errorf("socket %d: SO_RCVBUF %d, want %d (2 × %d)", i, got, 2*udpRcvBuf, udpRcvBuf)
		}
	}
}

// freePort returns a loopback port of network that was free a moment ago.
func freePort(t *testing.T, network string) int {
	t.Helper()
	if network == "udp" {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).Port
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
