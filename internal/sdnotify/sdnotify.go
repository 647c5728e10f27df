// Package sdnotify tells systemd how lvsd is doing, with the sd_notify
// protocol and without libsystemd: one datagram of newline-separated
// VAR=value assignments to the unix socket named by $NOTIFY_SOCKET.
//
// lvsd.service is Type=notify, so systemd considers lvsd started only when
// it sends READY=1: the daemon sends it once the dataplane forwards and the
// router has settled its role (active with the VIPs owned, or standby).
// Around a SIGHUP reload it sends RELOADING=1 then READY=1, and STOPPING=1
// when SIGTERM starts the shutdown. STATUS= lines show in `systemctl status`.
package sdnotify

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
)

// States, as sd_notify(3) defines them.
const (
	Ready     = "READY=1"
	Reloading = "RELOADING=1"
	Stopping  = "STOPPING=1"
	Watchdog  = "WATCHDOG=1"
)

// Status returns the STATUS= assignment for text, shown by systemctl status.
// Line breaks become spaces: each assignment is one line.
func Status(text string) string {
	return "STATUS=" + strings.NewReplacer("\r", " ", "\n", " ").Replace(text)
}

// ErrUnsupportedSocket is returned for a $NOTIFY_SOCKET that is neither a
// path nor an abstract socket name (systemd's vsock: form, for VMs).
var ErrUnsupportedSocket = errors.New("sdnotify: unsupported NOTIFY_SOCKET address")

// Notify sends state (one or more assignments joined by newlines) to the
// service manager. Outside systemd, where $NOTIFY_SOCKET is unset, it does
// nothing and returns nil, so callers need not check how they were started.
func Notify(state string) error {
	return NotifySocket(os.Getenv("NOTIFY_SOCKET"), state)
}

// NotifySocket sends state to the notification socket addr: an absolute
// path, or an abstract name starting with '@'. An empty addr does nothing.
func NotifySocket(addr, state string) error {
	switch {
	case addr == "":
		return nil
	case addr[0] == '@':
		addr = "\x00" + addr[1:] // abstract namespace, as sd_notify does
	case addr[0] != '/':
		return fmt.Errorf("%w: %q", ErrUnsupportedSocket, addr)
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("connecting to the systemd notification socket: %w", err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(state)); err != nil {
		return fmt.Errorf("notifying systemd: %w", err)
	}
	return nil
}
