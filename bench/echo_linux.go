//go:build linux

package bench

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// drEcho is the UDP echo of the direct-routing service (udpPortDR) on one
// real server. The simulator's responder answers from a wildcard socket,
// so its answer to a request for the VIP held on lo would leave from the
// real server's first address, which the client's connected socket
// rejects. This echo answers from the address each request was sent to
// (IP_PKTINFO), so it serves requests to the VIP and lvsd's health checks
// to the real server's address alike (and the scaling run's real servers,
// which are extra addresses of the real-server namespaces). It answers like the responder:
// "NAME\n" + the request.
//
// It runs as a process of its own (`lvsbench dr-echo`, ServeDREcho) in the
// real server's namespace, pinned and niced like the responders, not as a
// thread of the harness. The harness's Go runtime also runs the generator
// and the latency prober on locked threads, and an echo thread there must
// get one of its Ps back after every blocking read. In a traced
// fixed-load window (perf sched on the director's core, lvsd-dr), such an
// echo thread, woken by its request, ran for 10 µs, found no P, slept
// again and read the request 1.2 ms after it had arrived: the real server
// answered late because of the harness, not the director.
type drEcho struct{ p *proc }

// startDREcho starts the echo of real server n (named name) on cpu and
// waits until it answers.
func startDREcho(ctx context.Context, tb *testbed, n *nsNode, name string, cpu int) (*drEcho, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("finding lvsbench for the DR echo: %w", err)
	}
	p, err := startIn(tb.st, n.name, strconv.Itoa(cpu), trafficNice, filepath.Join(tb.dir, name+"-dr-echo.log"), name+" DR echo",
		exe, DREchoCommand, "--name", name, "--port", strconv.Itoa(udpPortDR))
	if err != nil {
		return nil, err
	}
	e := &drEcho{p: p}
	local := netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), udpPortDR)
	if err := waitFor(ctx, 10*time.Second, p, func() error { return askOnce(n, local) }); err != nil {
		e.close()
		return nil, fmt.Errorf("DR echo on %s: %w", name, err)
	}
	return e, nil
}

// askOnce sends one request to dst from inside n and waits for its echo.
func askOnce(n *nsNode, dst netip.AddrPort) error {
	return inNS(n.ns, -1, func() error {
		fd, err := udpSocket(0, dst)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		req := []byte("ready?\n")
		if _, err := unix.Write(fd, req); err != nil {
			return err
		}
		if !awaitAnswer(fd, make([]byte, 256), req[:6], time.Now()) {
			return errors.New("no answer")
		}
		return nil
	})
}

// close stops the echo (SIGTERM, then SIGKILL after a second).
func (e *drEcho) close() { e.p.stop(time.Second) }

// DREcho is `lvsbench dr-echo --name NAME --port N` (args after the
// subcommand): ServeDREcho until ctx ends. The harness starts it on each
// real server; it is not meant to be run by hand.
func DREcho(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("lvsbench "+DREchoCommand, flag.ContinueOnError)
	fs.SetOutput(stderr)
	name := fs.String("name", "", "")
	port := fs.Int("port", 0, "")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *name == "" || *port <= 0 || *port > 65535 || fs.NArg() > 0 {
		return errors.New("usage: lvsbench dr-echo --name NAME --port N")
	}
	if err := ServeDREcho(ctx, *name, *port); err != nil {
		return fmt.Errorf("%s: %w", DREchoCommand, err)
	}
	return nil
}

// ServeDREcho answers UDP requests to port on every address of the
// current namespace with "NAME\n" + the request, from the address each
// was sent to, until ctx ends (looked at every 100 ms). It is the body of
// `lvsbench dr-echo`, which the harness starts on each real server.
func ServeDREcho(ctx context.Context, name string, port int) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("UDP socket: %w", err)
	}
	defer unix.Close(fd)
	tv := unix.NsecToTimeval((100 * time.Millisecond).Nanoseconds())
	unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_PKTINFO, 1)
	if err := unix.Bind(fd, &unix.SockaddrInet4{Port: port}); err != nil {
		return fmt.Errorf("binding UDP port %d: %w", port, err)
	}
	buf, oob := make([]byte, 2048), make([]byte, 256)
	prefix := copy(buf, name+"\n")
	for ctx.Err() == nil {
		k, oobn, _, from, err := unix.Recvmsg(fd, buf[prefix:], oob, 0)
		if err != nil || from == nil {
			continue // the receive timeout: look at ctx again
		}
		var reply []byte
		if dst, ok := pktinfoDst(oob[:oobn]); ok {
			reply = unix.PktInfo4(&unix.Inet4Pktinfo{Spec_dst: dst.As4()})
		}
		unix.SendmsgN(fd, buf[:prefix+k], reply, from, 0)
	}
	return nil
}

// pktinfoDst returns the destination address of a datagram from its
// IP_PKTINFO control message.
func pktinfoDst(oob []byte) (netip.Addr, bool) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return netip.Addr{}, false
	}
	for _, m := range msgs {
		if m.Header.Level == unix.IPPROTO_IP && m.Header.Type == unix.IP_PKTINFO && len(m.Data) >= unix.SizeofInet4Pktinfo {
			info := (*unix.Inet4Pktinfo)(unsafe.Pointer(&m.Data[0]))
			return netip.AddrFrom4(info.Addr), true
		}
	}
	return netip.Addr{}, false
}
