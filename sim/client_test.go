package sim

import (
	"io"
	"net"
	"testing"
)

// TestBindNoPortNewPorts: the client's TCP connections from a bound source
// address (dial's bindNoPort) each get a port no earlier connection of the
// run used, even when the server closes first and the client's sockets are
// gone at once, as the responder's HTTP answers do. Bound with port 0, a
// socket gets a random free port instead: 600 such connections reuse one
// in nearly every run (of about 14,000 candidate ports), and a director
// still holding the old connection sends the new one to its old real
// server unscheduled (conn_reuse_mode), which broke rr's exact share.
func TestBindNoPortNewPorts(t *testing.T) {
	for _, tc := range []struct{ name, addr string }{
		{"IPv4", "127.0.0.1"},
		{"IPv6", "::1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", net.JoinHostPort(tc.addr, "0"))
			if err != nil {
				t.Skipf("no %s loopback: %v", tc.name, err)
			}
			defer ln.Close()
			go func() {
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					c.Write([]byte("name\n"))
					c.Close() // the server closes first: no TIME_WAIT on the client
				}
			}()
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(tc.addr)}, Control: bindNoPort}
			seen := map[int]int{}
			for i := range 600 {
				c, err := d.Dial("tcp", ln.Addr().String())
				if err != nil {
					t.Fatalf("dial %d: %v", i, err)
				}
				port := c.LocalAddr().(*net.TCPAddr).Port
				if j, ok := seen[port]; ok {
					t.Fatalf("connection %d reused port %d of connection %d", i, port, j)
				}
				seen[port] = i
				io.ReadAll(c)
				c.Close()
			}
		})
	}
}
