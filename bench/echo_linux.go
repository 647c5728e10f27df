//go:build linux

package bench

import (
	"fmt"
	"net/netip"
	"sync/atomic"
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
// "NAME\n" + the request, on a thread of the harness inside the real
// server's namespace, pinned like the responders.
type drEcho struct {
	stop atomic.Bool
	done chan struct{}
}

// startDREcho starts the echo of real server n (named name) on cpu.
func startDREcho(n *nsNode, name string, cpu int) (*drEcho, error) {
	e := &drEcho{done: make(chan struct{})}
	ready := make(chan error, 1)
	go func() {
		defer close(e.done)
		inNS(n.ns, cpu, func() error {
			fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				ready <- err
				return nil
			}
			defer unix.Close(fd)
			tv := unix.NsecToTimeval((100 * time.Millisecond).Nanoseconds())
			unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
			unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_PKTINFO, 1)
			if err := unix.Bind(fd, &unix.SockaddrInet4{Port: udpPortDR}); err != nil {
				ready <- fmt.Errorf("binding UDP port %d in %s: %w", udpPortDR, n.name, err)
				return nil
			}
			ready <- nil
			buf, oob := make([]byte, 2048), make([]byte, 256)
			prefix := copy(buf, name+"\n")
			for !e.stop.Load() {
				k, oobn, _, from, err := unix.Recvmsg(fd, buf[prefix:], oob, 0)
				if err != nil || from == nil {
					continue // the receive timeout: look at stop again
				}
				var reply []byte
				if dst, ok := pktinfoDst(oob[:oobn]); ok {
					reply = unix.PktInfo4(&unix.Inet4Pktinfo{Spec_dst: dst.As4()})
				}
				unix.SendmsgN(fd, buf[:prefix+k], reply, from, 0)
			}
			return nil
		})
	}()
	if err := <-ready; err != nil {
		<-e.done
		return nil, err
	}
	return e, nil
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

// close stops the echo and waits for it (at most one receive timeout).
func (e *drEcho) close() {
	e.stop.Store(true)
	<-e.done
}
