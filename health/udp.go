package health

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"syscall"
	"time"
)

// udpChecker is nanny's UDP test (nanny -u, pinger with use_udp): a
// connected UDP socket, send if set, then always wait for one datagram —
// UDP needs a request to get a reply — and judge it with expect as TCP
// does (a datagram longer than the read is truncated, as recvfrom does).
// Without expect any reply passes. An ICMP port unreachable comes back on
// the connected socket as ECONNREFUSED and fails the check at once; a
// server that stays silent fails at the timeout.
//
// Unlike nanny, which sent once, the datagram is sent again every
// udpTries-th of the timeout while no reply came (any reply, to any of
// them, is judged): a probe or its answer lost once — a full receive
// buffer on a flooded server, a frame dropped on the way — is not a
// server down, as a resolver retries a query. With nanny's one-failure
// rule a single lost datagram took the server out (issue 17: a UDP
// flood overflowed the real servers' echo sockets and every server left
// the service).
type udpChecker struct {
	addr    netip.AddrPort
	send    string
	hasSend bool
	match   *matcher
}

func (c *udpChecker) Check(ctx context.Context) Result {
	conn, res, ok := dial(ctx, "udp", c.addr)
	if !ok {
		return res
	}
	defer conn.Close()
	end, hasEnd := ctx.Deadline()
	every := time.Until(end) / udpTries
	buf := make([]byte, c.match.readLen())
	for {
		if c.hasSend {
			if _, err := io.WriteString(conn, c.send); err != nil {
				return udpFailure("write", err)
			}
			if next := time.Now().Add(every); hasEnd && every > 0 && next.Before(end) && ctx.Err() == nil {
				conn.SetReadDeadline(next)
			}
		}
		n, err := conn.Read(buf)
		var ne net.Error
		if err != nil && errors.As(err, &ne) && ne.Timeout() && ctx.Err() == nil && time.Now().Before(end) {
			conn.SetReadDeadline(end)
			continue // no reply yet: send again
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return udpFailure("read", err)
		}
		return c.match.judge(buf[:n], nil)
	}
}

// udpTries is how many times a UDP check sends its datagram at most, spread
// over its timeout.
const udpTries = 5

func udpFailure(stage string, err error) Result {
	if errors.Is(err, syscall.ECONNREFUSED) {
		return Result{Reason: "connection failure (ICMP port unreachable)"}
	}
	return failure(stage, err)
}
