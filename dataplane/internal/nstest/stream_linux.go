package nstest

import (
	"bytes"
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"net"
	"testing"
	"time"
)

// TCPStream sends size pseudo-random bytes over one TCP connection from a
// client in from to a server listening on addr (ip:port) in to, and fails t
// unless the server received exactly those bytes within timeout. Both
// stacks keep their default offloads, so the sender's TSO makes super-frames.
func TCPStream(t testing.TB, from, to *NS, addr string, size int, timeout time.Duration) {
	t.Helper()
	var ln net.Listener
	if err := to.Do(func() (err error) { ln, err = net.Listen("tcp4", addr); return err }); err != nil {
		t.Fatalf("listening on %s in %s: %v", addr, to.Name, err)
	}
	defer ln.Close()
	deadline := time.Now().Add(timeout)
	ln.(*net.TCPListener).SetDeadline(deadline)

	type result struct {
		n   int64
		sum [sha256.Size]byte
		err error
	}
	done := make(chan result, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- result{err: err}
			return
		}
		defer c.Close()
		c.SetDeadline(deadline)
		h := sha256.New()
		n, err := io.Copy(h, c)
		var r result
		r.n, r.err = n, err
		copy(r.sum[:], h.Sum(nil))
		done <- r
	}()

	data := make([]byte, size)
	rng := rand.NewChaCha8([32]byte{1})
	rng.Read(data)
	var c net.Conn
	err := from.Do(func() (err error) {
		c, err = (&net.Dialer{Deadline: deadline}).Dial("tcp4", addr)
		return err
	})
	if err != nil {
		t.Fatalf("dialing %s from %s: %v", addr, from.Name, err)
	}
	c.SetDeadline(deadline)
	_, werr := io.Copy(c, bytes.NewReader(data))
	c.Close()
	r := <-done
	if werr != nil || r.err != nil {
		t.Fatalf("TCP stream of %d bytes: client: %v; server: %d bytes, %v", size, werr, r.n, r.err)
	}
	if r.n != int64(size) || r.sum != sha256.Sum256(data) {
		t.Fatalf("TCP stream: server got %d bytes (sha256 %x), want %d (sha256 %x)", r.n, r.sum[:8], size, sha256.Sum256(data))
	}
}
