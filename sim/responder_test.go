package sim

import (
	"context"
	"fmt"
	"net"
	"testing"
)

// TestResponderBindsUDPFirst: the simulator waits for a responder's HTTP
// port (its TCP echo port when it has none) and then starts lvsd, whose
// health checks probe the UDP echo port at once; a probe that meets no
// socket gets ICMP port unreachable, and lvsd takes the server out until
// reentry (issue 17: "a UDP health probe is sometimes lost right after
// start"). So when the responder binds its UDP port, neither TCP port may
// accept yet: the test looks from inside that bind.
func TestResponderBindsUDPFirst(t *testing.T) {
	http, tcp, udp := freePort(t, "tcp"), freePort(t, "tcp"), freePort(t, "udp")
	accepting := map[string]bool{}
	bound := make(chan struct{})
	listenUDP = func(network, addr string) (net.PacketConn, error) {
		for name, p := range map[string]int{"http": http, "tcp echo": tcp} {
			if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", p)); err == nil {
				c.Close()
				accepting[name] = true
			}
		}
		defer close(bound)
		return net.ListenPacket(network, addr)
	}
	defer func() { listenUDP = net.ListenPacket }()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- RunResponder(ctx, ResponderOptions{Name: "rs", HTTP: http, TCP: tcp, UDP: udp}) }()
	select {
	case <-bound:
	case err := <-done:
		t.Fatalf("responder ended before binding UDP: %v", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("responder: %v", err)
	}
	for name := range accepting {
		t.Errorf("the %s port accepted before the UDP echo port was bound: a health probe sent once the simulator saw it could be refused", name)
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
