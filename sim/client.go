package sim

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// source is one client address traffic is sent from.
type source struct {
	node string
	addr netip.Addr
}

// outcome is what one request returned.
type outcome struct {
	server  string
	bytes   int64
	corrupt bool
}

// op performs request i from src.
type op func(ctx context.Context, src source) (outcome, error)

// runTraffic sends tr's requests: Count jobs over Concurrency workers, paced
// to Rate, cut when Duration has passed. Each job uses the next source
// address of the client nodes in turn.
func (s *Site) runTraffic(ctx context.Context, tr *Traffic, t0 time.Time) *TrafficResult {
	res := &TrafficResult{Kind: tr.Kind, Target: tr.To.String(), PerServer: map[string]int{}, Failures: map[string]int{}}
	srcs := s.sources(tr.From, tr.To)
	do := s.opFor(tr)
	ctx, cancel := context.WithTimeout(ctx, tr.Duration)
	defer cancel()
	jobs := make(chan int)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range tr.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				src := srcs[j%len(srcs)]
				rctx, rcancel := context.WithTimeout(ctx, tr.Timeout)
				out, err := do(rctx, src)
				rcancel()
				ev := Event{T: time.Since(t0), Source: src.addr.String(), Server: out.server}
				mu.Lock()
				res.Requests++
				res.Bytes += out.bytes
				if out.corrupt {
					res.Corrupt++
				}
				if err != nil {
					s.failed.Add(1)
					res.Failed++
					ev.Server, ev.Err = "", reason(err)
					res.Failures[ev.Err]++
				} else {
					s.answered.Add(1)
					res.OK++
					res.PerServer[out.server]++
				}
				res.Events = append(res.Events, ev)
				mu.Unlock()
			}
		}()
	}
	start := time.Now()
	sent := 0
feed:
	for ; sent < tr.Count; sent++ {
		if tr.Rate > 0 {
			due := start.Add(time.Duration(float64(sent) / tr.Rate * float64(time.Second)))
			select {
			case <-ctx.Done():
				break feed
			case <-time.After(time.Until(due)):
			}
		}
		select {
		case jobs <- sent:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	res.NotRun = tr.Count - sent
	return res
}

// sources lists every address of the named client nodes of the family of
// to (a dual-stack client sends IPv4 traffic from its IPv4 addresses only).
func (s *Site) sources(nodes []string, to netip.AddrPort) []source {
	var out []source
	for _, name := range nodes {
		for _, ifc := range s.Topo.Node(name).Interfaces {
			for _, a := range ifc.Addresses {
				if a.Addr().Is4() != to.Addr().Is4() {
					continue
				}
				out = append(out, source{node: name, addr: a.Addr()})
			}
		}
	}
	return out
}

// reason turns an error into a short failure reason for the report.
func reason(err error) string {
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return "no route to host"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		return "timeout"
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "timeout"
	}
	msg := err.Error()
	if i := strings.LastIndex(msg, ": "); i >= 0 && len(msg)-i < 60 {
		msg = msg[i+2:]
	}
	return msg
}

// dial opens a connection from src inside its node's namespace.
//
// A TCP connection's port is chosen by connect(), as for a client that
// binds no address (bindNoPort): each new connection to a target gets a
// new port. Bound first, a socket got a random free port, and one of 60
// connections from four addresses reused an earlier connection's port in
// about 1 run in 40. The director still held that connection (FIN_WAIT
// for 120 s after a client's FIN on a tunnel or DR service), and with
// conn_reuse_mode 1, as in IPVS, the new SYN went to the old real server
// without being scheduled: rr's exact share failed by one (21/20/19).
func (s *Site) dial(ctx context.Context, src source, network, to string) (net.Conn, error) {
	n := s.nodes[src.node]
	if n == nil {
		return nil, fmt.Errorf("unknown node %s", src.node)
	}
	var c net.Conn
	err := n.Do(func() error {
		d := net.Dialer{}
		if network == "udp" {
			d.LocalAddr = &net.UDPAddr{IP: src.addr.AsSlice()}
		} else {
			d.LocalAddr = &net.TCPAddr{IP: src.addr.AsSlice()}
			d.Control = bindNoPort
		}
		var err error
		c, err = d.DialContext(ctx, network, to)
		return err
	})
	return c, err
}

// bindNoPort sets IP_BIND_ADDRESS_NO_PORT on a socket about to be bound to
// a source address (IPv4 or IPv6): bind then takes the address alone, and
// connect picks the port as it does for an unbound socket, walking the
// ports of the destination in turn and skipping every 4-tuple in use.
func bindNoPort(_, _ string, rc syscall.RawConn) error {
	var serr error
	err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1)
	})
	if err == nil && serr != nil {
		err = fmt.Errorf("setting IP_BIND_ADDRESS_NO_PORT: %w", serr)
	}
	return err
}

// greeted connects to the TCP echo service at to, with ctx's deadline on
// the connection, and reads the server's greeting (its name).
func (s *Site) greeted(ctx context.Context, src source, to netip.AddrPort) (net.Conn, string, error) {
	c, err := s.dial(ctx, src, "tcp", to.String())
	if err != nil {
		return nil, "", err
	}
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	name, err := readLine(c)
	if err != nil {
		c.Close()
		return nil, "", fmt.Errorf("reading greeting: %w", err)
	}
	return c, name, nil
}

// echo does one TCP echo exchange: read the server's name, send a payload,
// read it back.
func (s *Site) tcpEchoOp(to netip.AddrPort, size int64) op {
	if size > 0 {
		return s.tcpStreamOp(to, size)
	}
	return func(ctx context.Context, src source) (outcome, error) {
		c, name, err := s.greeted(ctx, src, to)
		if err != nil {
			return outcome{}, err
		}
		defer c.Close()
		payload := []byte(strings.Repeat("lvssim echo ", 100))
		if _, err := c.Write(payload); err != nil {
			return outcome{server: name}, err
		}
		back := make([]byte, len(payload))
		if _, err := io.ReadFull(c, back); err != nil {
			return outcome{server: name}, fmt.Errorf("reading echo: %w", err)
		}
		if string(back) != string(payload) {
			return outcome{server: name}, errors.New("echo differs from what was sent")
		}
		return outcome{server: name, bytes: int64(len(back))}, nil
	}
}

// tcpStreamOp sends size bytes of the download pattern to a TCP echo
// service while reading the echo back, and checks it by SHA-256: an upload
// through the router (for tunnelling, TSO/GSO super-frames that lvsd must
// segment and encapsulate), with the answer coming back the way replies do.
func (s *Site) tcpStreamOp(to netip.AddrPort, size int64) op {
	want := patternSum(size)
	return func(ctx context.Context, src source) (outcome, error) {
		c, name, err := s.greeted(ctx, src, to)
		if err != nil {
			return outcome{}, err
		}
		defer c.Close()
		out := outcome{server: name}
		sent := make(chan error, 1)
		go func() {
			_, err := io.Copy(c, newPattern(size))
			sent <- err
		}()
		h := sha256.New()
		out.bytes, err = io.CopyN(h, c, size)
		c.Close() // ends the sender if the echo stopped early
		if werr := <-sent; err == nil && werr != nil {
			err = fmt.Errorf("sending: %w", werr)
		}
		if err != nil {
			return out, fmt.Errorf("echo cut after %d of %d bytes: %w", out.bytes, size, err)
		}
		if out.corrupt = [32]byte(h.Sum(nil)) != want; out.corrupt {
			return out, fmt.Errorf("echo checksum mismatch (%d bytes)", out.bytes)
		}
		return out, nil
	}
}

// udpEchoOp sends one datagram and expects "NAME\n" + the datagram back.
func (s *Site) udpEchoOp(to netip.AddrPort) op {
	return func(ctx context.Context, src source) (outcome, error) {
		c, err := s.dial(ctx, src, "udp", to.String())
		if err != nil {
			return outcome{}, err
		}
		defer c.Close()
		if dl, ok := ctx.Deadline(); ok {
			c.SetDeadline(dl)
		}
		payload := fmt.Sprintf("lvssim udp %d", time.Now().UnixNano())
		if _, err := c.Write([]byte(payload)); err != nil {
			return outcome{}, err
		}
		buf := make([]byte, 2048)
		n, err := c.Read(buf)
		if err != nil {
			return outcome{}, fmt.Errorf("no answer: %w", err)
		}
		name, rest, ok := strings.Cut(string(buf[:n]), "\n")
		if !ok || rest != payload {
			return outcome{server: name}, errors.New("udp echo differs from what was sent")
		}
		return outcome{server: name, bytes: int64(n)}, nil
	}
}

func readLine(r io.Reader) (string, error) {
	var b []byte
	one := make([]byte, 1)
	for len(b) < 256 {
		if _, err := r.Read(one); err != nil {
			return "", err
		}
		if one[0] == '\n' {
			return string(b), nil
		}
		b = append(b, one[0])
	}
	return "", errors.New("line too long")
}

// patternSum is the SHA-256 of n bytes of the download pattern.
func patternSum(n int64) [32]byte {
	h := sha256.New()
	io.Copy(h, newPattern(n))
	return [32]byte(h.Sum(nil))
}
