//go:build linux

package bench

import (
	"bytes"
	"context"
	"io"
	"net/netip"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestServeDREcho: the DR echo answers "NAME\n" + the request from the
// address the request was sent to (a connected client socket takes
// nothing else), for two loopback addresses, and returns once its context
// ends.
func TestServeDREcho(t *testing.T) {
	port := freeUDPPort(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ServeDREcho(ctx, "rs9", port) }()
	for _, a := range []string{"127.0.0.1", "127.0.0.2"} {
		dst := netip.AddrPortFrom(netip.MustParseAddr(a), uint16(port))
		got, err := askUntilAnswered(dst, []byte("probe-0123456789"))
		if err != nil {
			t.Errorf("asking %v: %v", dst, err)
			continue
		}
		if want := "rs9\nprobe-0123456789"; got != want {
			t.Errorf("answer from %v = %q, want %q", dst, got, want)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("ServeDREcho = %v after its context ended", err)
	}
}

func TestDREchoArgs(t *testing.T) {
	for _, args := range []string{"", "--name rs1", "--port 9001", "--name rs1 --port 0", "--name rs1 --port 70000", "--name rs1 --port 9001 extra", "--bogus"} {
		err := DREcho(context.Background(), strings.Fields(args), io.Discard)
		if err == nil {
			t.Errorf("DREcho(%q) accepted it", args)
		}
	}
}

// freeUDPPort returns a UDP port nothing on loopback holds just now.
func freeUDPPort(t *testing.T) int {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	return sa.(*unix.SockaddrInet4).Port
}

// askUntilAnswered sends req to dst from a connected socket until an
// answer carrying it comes back (the echo may not be bound yet), at most
// 300 times, and returns the answer.
func askUntilAnswered(dst netip.AddrPort, req []byte) (string, error) {
	fd, err := udpSocket(0, dst)
	if err != nil {
		return "", err
	}
	defer unix.Close(fd)
	buf := make([]byte, 256)
	for range 300 {
		if _, err := unix.Write(fd, req); err == nil {
			n, err := unix.Read(fd, buf)
			if err == nil && bytes.Contains(buf[:n], req) {
				return string(buf[:n]), nil
			}
		}
		time.Sleep(10 * time.Millisecond) // ECONNREFUSED until the echo is bound
	}
	return "", io.ErrNoProgress
}
