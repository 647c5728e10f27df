package sim

import (
	"bufio"
	"cmp"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// ResponderOptions configure the built-in responder that runs on real and
// shared servers (`lvssim responder`, started inside a namespace).
type ResponderOptions struct {
	Name    string        // answers name themselves with this
	HTTP    int           // HTTP port, 0 for none
	HTTPS   int           // HTTPS port with a fresh self-signed certificate
	TCP     int           // TCP echo port
	UDP     int           // UDP echo port
	Delay   time.Duration // delay before each HTTP answer
	Backend string        // third tier: /shared/ requests fetch this URL
}

// The responder's protocol, which the built-in client reads:
//
//	HTTP  GET /            → "NAME\n", header X-Real-Server: NAME
//	      GET /bytes/N     → N bytes of the deterministic pattern (newPattern)
//	      GET /shared/...  → "NAME via BACKEND-BODY" (fetched from Backend)
//	TCP   on connect the server writes "NAME\n", then echoes every byte
//	UDP   each datagram P is answered with "NAME\n" + P
const maxBytes = 1 << 30

// listenUDP binds one socket of the UDP echo port (a variable so a test
// can see what is bound when it runs).
var listenUDP = listenUDPEcho

// The UDP echo port is provisioned as a UDP service behind a director is
// for floods (a DNS server: a multi-MiB receive buffer, a reader per
// core), so that a flood through the director is measured at the director
// and not at the test peer's socket.
//
// udpRcvBuf is each echo socket's receive buffer. In the flood site each
// real server takes a third of a UDP flood of 25-35k datagrams/s that
// shares this VM's two cores with the generator, the gateway, lvsd and the
// other real servers, so a reader is off the CPU for tens of milliseconds
// at a time. With the kernel's default (rmem_default, 208 KiB) the three
// echo sockets dropped 205,286 of 1,029,504 flood datagrams in 30 s and
// 18 of 1,200 legitimate requests were lost with them (09:49; 30 of 2,400
// in the 60 s step at 08:02). 16 MiB (the kernel doubles it for its
// bookkeeping and counts each datagram's truesize against it) leaves room:
// the fullest socket held 7.8 MiB with one reader, 0.8 MiB with two, and
// none dropped a datagram (09:53-09:56, 30 s floods). It is set with
// SO_RCVBUFFORCE, past net.core.rmem_max (4 MiB on this host), which the
// responder may do as root in its namespace; memory is taken only for
// what is queued, and the socket is closed with the responder.
//
// udpReaders is how many sockets serve the port, each with its own reader
// (SO_REUSEPORT: the kernel spreads datagrams over them by their addresses
// and ports): one per core of this VM. Goroutines reading one socket would
// take turns on it.
const (
	udpRcvBuf  = 16 << 20
	udpReaders = 2
)

// listenUDPEcho binds one socket of a SO_REUSEPORT group on addr with the
// receive buffer udpRcvBuf (SO_RCVBUF, capped at net.core.rmem_max, when
// the caller may not force it).
func listenUDPEcho(network, addr string) (net.PacketConn, error) {
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			if serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); serr != nil {
				serr = fmt.Errorf("setting SO_REUSEPORT: %w", serr)
				return
			}
			if unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, udpRcvBuf) != nil {
				if err := unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, udpRcvBuf); err != nil {
					serr = fmt.Errorf("setting SO_RCVBUF: %w", err)
				}
			}
		})
		return cmp.Or(err, serr)
	}}
	return lc.ListenPacket(context.Background(), network, addr)
}

// RunResponder serves until ctx is done.
//
// It binds the UDP echo port first and the HTTP port last: the simulator
// waits for the HTTP port (the TCP echo port when there is none) and then
// starts lvsd, whose health checks probe every port at once, so a port
// bound after the waited-for one could refuse a probe (ICMP port
// unreachable takes the server out until reentry). A listening TCP socket
// completes handshakes before anything accepts, so the order of the binds
// is what counts.
func RunResponder(ctx context.Context, o ResponderOptions) error {
	errc := make(chan error, 3+udpReaders)
	var closers []io.Closer
	fail := func(err error) error {
		for _, c := range closers {
			c.Close()
		}
		return err
	}
	var serve []func() error
	if o.UDP != 0 {
		for range udpReaders {
			c, err := listenUDP("udp", fmt.Sprintf(":%d", o.UDP))
			if err != nil {
				return fail(fmt.Errorf("listening on udp echo port: %w", err))
			}
			closers = append(closers, c)
			serve = append(serve, func() error { return udpEcho(c, o.Name) })
		}
	}
	if o.TCP != 0 {
		l, err := net.Listen("tcp", fmt.Sprintf(":%d", o.TCP))
		if err != nil {
			return fail(fmt.Errorf("listening on tcp echo port: %w", err))
		}
		closers = append(closers, l)
		serve = append(serve, func() error { return tcpEcho(l, o.Name) })
	}
	h := responderHandler(o)
	if o.HTTPS != 0 {
		cert, err := selfSigned(o.Name)
		if err != nil {
			return fail(err)
		}
		l, err := tls.Listen("tcp", fmt.Sprintf(":%d", o.HTTPS), &tls.Config{Certificates: []tls.Certificate{cert}})
		if err != nil {
			return fail(fmt.Errorf("listening on https port: %w", err))
		}
		srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
		closers = append(closers, l, srv) // l: Close before Serve leaves it open
		serve = append(serve, func() error { return srv.Serve(l) })
	}
	if o.HTTP != 0 {
		l, err := net.Listen("tcp", fmt.Sprintf(":%d", o.HTTP))
		if err != nil {
			return fail(fmt.Errorf("listening on http port: %w", err))
		}
		srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
		closers = append(closers, l, srv) // l: Close before Serve leaves it open
		serve = append(serve, func() error { return srv.Serve(l) })
	}
	for _, f := range serve {
		go func() { errc <- f() }()
	}
	select {
	case <-ctx.Done():
		for _, c := range closers {
			c.Close()
		}
		return nil
	case err := <-errc:
		return err
	}
}

func responderHandler(o ResponderOptions) http.Handler {
	mux := http.NewServeMux()
	backend := &http.Client{Timeout: 5 * time.Second}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(o.Delay)
		w.Header().Set("X-Real-Server", o.Name)
		switch {
		case strings.HasPrefix(r.URL.Path, "/bytes/"):
			n, err := strconv.ParseInt(strings.TrimPrefix(r.URL.Path, "/bytes/"), 10, 64)
			if err != nil || n < 0 || n > maxBytes {
				http.Error(w, "expected /bytes/N with 0 ≤ N ≤ 1GiB", http.StatusBadRequest)
				return
			}
			w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
			io.Copy(w, newPattern(n))
		case strings.HasPrefix(r.URL.Path, "/shared/") && o.Backend != "":
			resp, err := backend.Get(o.Backend)
			if err != nil {
				http.Error(w, o.Name+": backend: "+err.Error(), http.StatusBadGateway)
				return
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
			fmt.Fprintf(w, "%s via %s", o.Name, b)
		default:
			fmt.Fprintf(w, "%s\n", o.Name)
		}
	})
	return mux
}

func tcpEcho(l net.Listener, name string) error {
	for {
		c, err := l.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		go func() {
			defer c.Close()
			c.SetDeadline(time.Now().Add(time.Minute))
			fmt.Fprintf(c, "%s\n", name)
			io.Copy(c, bufio.NewReader(c))
		}()
	}
}

func udpEcho(c net.PacketConn, name string) error {
	buf := make([]byte, 65536)
	for {
		n, from, err := c.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		c.WriteTo(append([]byte(name+"\n"), buf[:n]...), from)
	}
}

func selfSigned(name string) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("creating certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

// pattern is the deterministic download content: byte i is
// (i + i>>8 + i>>16) mod 251, so shifted or repeated blocks change the sum.
type pattern struct{ off, n int64 }

func newPattern(n int64) io.Reader { return &pattern{n: n} }

func (p *pattern) Read(b []byte) (int, error) {
	if p.off >= p.n {
		return 0, io.EOF
	}
	if rem := p.n - p.off; int64(len(b)) > rem {
		b = b[:rem]
	}
	for i := range b {
		o := p.off + int64(i)
		b[i] = byte((o + o>>8 + o>>16) % 251)
	}
	p.off += int64(len(b))
	return len(b), nil
}
