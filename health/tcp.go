package health

import (
	"context"
	"net"
	"net/netip"
	"time"
)

// tcpChecker is nanny's plain connect test: with no send, no expect and a
// virtual port other than 80, a server is up when a TCP connection to
// RIP:rport completes within the timeout (pinger: non-blocking connect, poll
// for writable, connect again to read the result).
//
// nanny also sent one ICMP echo on a raw socket and never waited for the
// reply unless built with USE_PING; that packet decided nothing, so it is
// not sent.
type tcpChecker struct {
	addr netip.AddrPort
}

func (c *tcpChecker) Check(ctx context.Context) Result {
	conn, res, ok := dial(ctx, "tcp", c.addr)
	if !ok {
		return res
	}
	conn.Close()
	return Result{OK: true}
}

// dial connects to addr and arranges for the connection's I/O to end when
// ctx does: the deadline is ctx's, and cancelling ctx interrupts a blocked
// read. The caller closes the connection; ok is false when dialling failed,
// and res then says why.
func dial(ctx context.Context, network string, addr netip.AddrPort) (net.Conn, Result, bool) {
	var d net.Dialer
	c, err := d.DialContext(ctx, network, addr.String())
	if err != nil {
		return nil, failure("connect", err), false
	}
	if dl, has := ctx.Deadline(); has {
		c.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Unix(1, 0)) })
	return &stopConn{Conn: c, stop: stop}, Result{}, true
}

// stopConn releases the AfterFunc of dial when the connection is closed.
type stopConn struct {
	net.Conn
	stop func() bool
}

func (c *stopConn) Close() error {
	c.stop()
	return c.Conn.Close()
}
