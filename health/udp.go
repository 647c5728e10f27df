package health

import (
	"context"
	"errors"
	"io"
	"net/netip"
	"syscall"
)

// udpChecker is nanny's UDP test (nanny -u, pinger with use_udp): a
// connected UDP socket, send if set, then always wait for one datagram —
// UDP needs a request to get a reply — and judge it with expect as TCP
// does (a datagram longer than the read is truncated, as recvfrom does).
// Without expect any reply passes. An ICMP port unreachable comes back on
// the connected socket as ECONNREFUSED and fails the check at once; a
// server that stays silent fails at the timeout.
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
	if c.hasSend {
		if _, err := io.WriteString(conn, c.send); err != nil {
			return udpFailure("write", err)
		}
	}
	buf := make([]byte, c.match.readLen())
	n, err := conn.Read(buf)
	if err != nil && !errors.Is(err, io.EOF) {
		return udpFailure("read", err)
	}
	return c.match.judge(buf[:n], nil)
}

func udpFailure(stage string, err error) Result {
	if errors.Is(err, syscall.ECONNREFUSED) {
		return Result{Reason: "connection failure (ICMP port unreachable)"}
	}
	return failure(stage, err)
}
