package netlab

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// NS is one namespace of a lab with a netlink handle into it.
type NS struct {
	Name string // the namespace's name under /run/netns
	ns   netns.NsHandle
	h    *netlink.Handle
}

// Do runs fn on a fresh OS thread switched into the namespace. The thread
// is never switched back: its goroutine exits locked, so the runtime
// discards the thread and no other goroutine can run in the wrong
// namespace. Sockets and devices fn creates stay in the namespace. A
// process fn starts with Pdeathsig dies with that thread: use Lab.Start.
func (n *NS) Do(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		if err := netns.Set(n.ns); err != nil {
			errc <- fmt.Errorf("entering namespace %s: %w", n.Name, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// Netlink returns the netlink handle into the namespace, for what the
// methods below do not cover.
func (n *NS) Netlink() *netlink.Handle { return n.h }

// openNS creates the namespace /run/netns/name without touching the calling
// thread, with a netlink handle into it and lo up.
func openNS(name string) (*NS, error) {
	var h netns.NsHandle
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // NewNamed switches this thread; it dies with the goroutine
		var err error
		h, err = netns.NewNamed(name)
		errc <- err
	}()
	if err := <-errc; err != nil {
		return nil, fmt.Errorf("creating namespace %s: %w", name, err)
	}
	nh, err := netlink.NewHandleAt(h)
	if err != nil {
		h.Close()
		return nil, fmt.Errorf("netlink handle in %s: %w", name, err)
	}
	n := &NS{Name: name, ns: h, h: nh}
	if err := n.Up("lo"); err != nil {
		n.close()
		return nil, err
	}
	return n, nil
}

func (n *NS) close() {
	if n.h != nil {
		n.h.Close()
	}
	n.ns.Close()
}

// Sysctl writes a net.* sysctl inside the namespace: /proc/sys/net shows
// the namespace of the thread that opens it.
func (n *NS) Sysctl(key, val string) error {
	path := filepath.Join("/proc/sys", strings.ReplaceAll(key, ".", "/"))
	return n.Do(func() error {
		if err := os.WriteFile(path, []byte(val), 0o644); err != nil {
			return fmt.Errorf("sysctl %s=%s in %s: %w", key, val, n.Name, err)
		}
		return nil
	})
}

// Command returns cmd prepared to run argv inside the namespace (`ip netns
// exec`, which also gives it the namespace's own /sys).
func (n *NS) Command(ctx context.Context, argv ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", n.Name}, argv...)...)
}

// Run runs a short command inside the namespace, feeding it stdin, and
// returns its combined output; it is bounded to 30 s. The error names the
// command and carries its output.
func (n *NS) Run(ctx context.Context, stdin string, argv ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := n.Command(ctx, argv...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s in %s: %w: %s", strings.Join(argv, " "), n.Name, err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}
