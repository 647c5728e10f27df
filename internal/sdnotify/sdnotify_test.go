package sdnotify

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// listen opens a unixgram socket as systemd does for NOTIFY_SOCKET.
func listen(t *testing.T, name string) *net.UnixConn {
	t.Helper()
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func receive(t *testing.T, c *net.UnixConn) string {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 4096)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatalf("reading the notification: %v", err)
	}
	return string(buf[:n])
}

func TestNotify(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notify")
	c := listen(t, path)
	t.Setenv("NOTIFY_SOCKET", path)
	tests := []struct {
		name, state string
	}{
		{"ready", Ready},
		{"reload", Reloading},
		{"ready with status", Ready + "\n" + Status("active: 2 virtual servers\nowning 192.168.26.10")},
		{"stopping", Stopping},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := Notify(tt.state); err != nil {
				t.Fatalf("Notify(%q) = %v", tt.state, err)
			}
			if got := receive(t, c); got != tt.state {
				t.Errorf("socket received %q, want %q", got, tt.state)
			}
		})
	}
	if got := Status("a\nb"); got != "STATUS=a b" {
		t.Errorf("Status(%q) = %q, want one line", "a\nb", got)
	}
}

func TestNotifyAbstract(t *testing.T) {
	name := fmt.Sprintf("lvs-sdnotify-test-%d-%d", os.Getpid(), time.Now().UnixNano())
	c := listen(t, "@"+name) // Go maps a leading '@' to the abstract namespace
	if err := NotifySocket("@"+name, Ready); err != nil {
		t.Fatalf("NotifySocket(@%s) = %v", name, err)
	}
	if got := receive(t, c); got != Ready {
		t.Errorf("received %q, want %q", got, Ready)
	}
}

func TestNotifyOutsideSystemd(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	if err := Notify(Ready); err != nil {
		t.Errorf("Notify without NOTIFY_SOCKET = %v, want nil", err)
	}
}

func TestNotifyErrors(t *testing.T) {
	if err := NotifySocket("vsock:2:1234", Ready); !errors.Is(err, ErrUnsupportedSocket) {
		t.Errorf("vsock address: %v, want ErrUnsupportedSocket", err)
	}
	if err := NotifySocket(filepath.Join(t.TempDir(), "absent"), Ready); err == nil {
		t.Error("a socket nobody listens on: nil error")
	}
}
