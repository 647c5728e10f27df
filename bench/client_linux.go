//go:build linux

package bench

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// window is the part of a traffic run that counts: what happens before
// From (warm-up) or after To is not measured.
type window struct{ From, To time.Time }

func (w window) has(t time.Time) bool { return !t.Before(w.From) && !t.After(w.To) }

// probeTimeout is how long a latency probe waits for its answer.
const probeTimeout = 100 * time.Millisecond

// probeSockets is how many client sockets (source ports) the probes rotate
// over, so a load balancer spreads them over the real servers.
const probeSockets = 8

// probeResult is what the latency prober measured inside its window.
type probeResult struct {
	sent    int
	samples []time.Duration
}

// probeLatency sends rate UDP requests per second to dst from
// probeSockets blocking sockets until w.To, one outstanding at a time, and
// times each answer. It runs on the calling thread (in the client's
// namespace, pinned). Only requests sent inside w count.
func probeLatency(dst netip.AddrPort, rate int, w window) (probeResult, error) {
	var res probeResult
	fds := make([]int, 0, probeSockets)
	defer func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}()
	for i := range probeSockets {
		fd, err := udpSocket(probePortLo+i, dst)
		if err != nil {
			return res, err
		}
		fds = append(fds, fd)
	}
	interval := time.Second / time.Duration(max(rate, 1))
	req, buf := make([]byte, 16), make([]byte, 256)
	next := time.Now()
	for seq := uint64(0); !next.After(w.To); seq++ {
		if d := time.Until(next); d > 0 {
			time.Sleep(d)
		}
		next = next.Add(interval)
		t0 := time.Now()
		fd := fds[seq%probeSockets]
		binary.BigEndian.PutUint64(req, seq)
		if _, err := unix.Write(fd, req); err != nil {
			continue // counted as lost below when inside the window
		}
		ok := awaitAnswer(fd, buf, req[:8], t0)
		if w.has(t0) {
			res.sent++
			if ok {
				res.samples = append(res.samples, time.Since(t0))
			}
		}
	}
	return res, nil
}

// awaitAnswer reads from fd until an answer carrying tag arrives or the
// probe times out. The responder answers "NAME\n" + the request.
func awaitAnswer(fd int, buf, tag []byte, t0 time.Time) bool {
	for time.Since(t0) < probeTimeout {
		n, err := unix.Read(fd, buf)
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return false // SO_RCVTIMEO expired, or an ICMP error
		}
		if i := bytes.IndexByte(buf[:n], '\n'); i >= 0 && bytes.HasPrefix(buf[i+1:n], tag) {
			return true
		}
	}
	return false
}

// udpSocket opens a blocking UDP socket of dst's family bound to port,
// connected to dst, with a receive timeout of probeTimeout.
func udpSocket(port int, dst netip.AddrPort) (int, error) {
	fd, err := unix.Socket(domain(dst), unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("UDP socket: %w", err)
	}
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
	tv := unix.NsecToTimeval(probeTimeout.Nanoseconds())
	unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	if err := unix.Bind(fd, anyPort(dst, port)); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("binding UDP port %d: %w", port, err)
	}
	if err := unix.Connect(fd, sockaddr(dst)); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("connecting UDP to %v: %w", dst, err)
	}
	return fd, nil
}

func sockaddr(a netip.AddrPort) unix.Sockaddr {
	if a.Addr().Is6() {
		return &unix.SockaddrInet6{Port: int(a.Port()), Addr: a.Addr().As16()}
	}
	return &unix.SockaddrInet4{Port: int(a.Port()), Addr: a.Addr().As4()}
}

// domain is the socket domain of a's family.
func domain(a netip.AddrPort) int {
	if a.Addr().Is6() {
		return unix.AF_INET6
	}
	return unix.AF_INET
}

// anyPort is the wildcard address of dst's family with port.
func anyPort(dst netip.AddrPort, port int) unix.Sockaddr {
	if dst.Addr().Is6() {
		return &unix.SockaddrInet6{Port: port}
	}
	return &unix.SockaddrInet4{Port: port}
}

// tcpResult is what the connection workers measured inside the window.
type tcpResult struct {
	mu       sync.Mutex // guards the fields below when workers merge
	conns    uint64
	failures uint64
	times    []time.Duration
}

func (r *tcpResult) merge(conns, failures uint64, times []time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.conns += conns
	r.failures += failures
	r.times = append(r.times, times...)
}

// connectLoop is one connection worker: connect, read the greeting, send a
// 5-byte request, read its echo, close with an RST (with fin, a FIN), again
// until w.To. It runs on the calling thread (client namespace, pinned);
// every call is a blocking syscall bounded by a 1 s socket timeout.
func connectLoop(dst netip.AddrPort, w window, fin bool, out *tcpResult) {
	var conns, failures uint64
	var times []time.Duration
	buf := make([]byte, 64)
	for {
		t0 := time.Now()
		if t0.After(w.To) {
			break
		}
		err := oneConnection(dst, buf, fin)
		t1 := time.Now()
		if !w.has(t1) {
			continue
		}
		if err != nil {
			failures++
			continue
		}
		conns++
		times = append(times, t1.Sub(t0))
	}
	out.merge(conns, failures, times)
}

var (
	tcpRequest = []byte("ping\n")
	rstLinger  = &unix.Linger{Onoff: 1, Linger: 0}
)

func oneConnection(dst netip.AddrPort, buf []byte, fin bool) error {
	fd, err := unix.Socket(domain(dst), unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	tv := unix.NsecToTimeval(time.Second.Nanoseconds())
	unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_SNDTIMEO, &tv) // bounds connect too
	if !fin {
		unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, rstLinger)
	}
	if err := unix.Connect(fd, sockaddr(dst)); err != nil {
		return err
	}
	if err := readUntil(fd, buf, func(b []byte) bool { return bytes.IndexByte(b, '\n') >= 0 }); err != nil {
		return fmt.Errorf("greeting: %w", err)
	}
	if _, err := unix.Write(fd, tcpRequest); err != nil {
		return err
	}
	return readUntil(fd, buf, func(b []byte) bool { return len(b) >= len(tcpRequest) })
}

// readUntil reads into buf until done(what was read) or an error; EOF
// before done is an error.
func readUntil(fd int, buf []byte, done func([]byte) bool) error {
	n := 0
	for n < len(buf) {
		k, err := unix.Read(fd, buf[n:])
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return err
		}
		if k == 0 {
			return errors.New("connection closed early")
		}
		n += k
		if done(buf[:n]) {
			return nil
		}
	}
	return errors.New("answer too long")
}
