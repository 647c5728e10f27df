package sim

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"lvs/internal/netlab"
)

// Real servers for IP tunnelling (LVS-TUN) decapsulate with an ipip device
// holding the VIP, as `ip link add tunl0 type ipip` (or the fallback
// device tunl0 that loading the ipip module creates) and
// `ip addr add VIP/32 dev tunl0`. A kernel built without IPIP
// (CONFIG_NET_IPIP unset, as on some VMs) cannot; there lvssim makes tunl0
// a TUN device and runs its own decapsulator on the real server (`lvssim
// ipip`, RunIPIP), which strips the outer header and hands the inner
// datagram to the kernel on tunl0 — what the ipip driver does — and says
// so in the report.

// tunDev is the name of the real servers' tunnel device.
const tunDev = "tunl0"

// setupIPIP gives node the device tunl0 with the node's ipip addresses, up.
// When tunl0 has to be a TUN device, startDecaps starts its decapsulator.
func (s *Site) setupIPIP(node *Node, n *netlab.NS) error {
	if len(node.IPIP) == 0 {
		return nil
	}
	l, err := n.Netlink().LinkByName(tunDev)
	if err != nil {
		// No fallback device: the ipip module is not loaded, or absent.
		addErr := n.Netlink().LinkAdd(&netlink.Iptun{LinkAttrs: netlink.LinkAttrs{Name: tunDev}})
		if l, err = n.Netlink().LinkByName(tunDev); err != nil {
			// The kernel has no IPIP: a TUN device stands in for it.
			if err := n.Do(func() error { return createTUN(tunDev) }); err != nil {
				return fmt.Errorf("no ipip device (%v), and no TUN device either: %w", addErr, err)
			}
			if l, err = n.Netlink().LinkByName(tunDev); err != nil {
				return fmt.Errorf("finding %s: %w", tunDev, err)
			}
			s.notes = append(s.notes, fmt.Sprintf("%s: this kernel has no IPIP (%v); %s is a TUN device and lvssim's "+
				"userspace decapsulator (lvssim ipip) does the ipip driver's work", node.Name, addErr, tunDev))
			if err := n.Netlink().LinkSetMTU(l, 1480); err != nil { // an ipip device's MTU on a 1500-byte link
				return fmt.Errorf("setting the MTU of %s: %w", tunDev, err)
			}
		}
	}
	for _, a := range node.IPIP {
		if err := n.Netlink().AddrAdd(l, &netlink.Addr{IPNet: netlab.IPNet(a)}); err != nil {
			return fmt.Errorf("adding %v to %s: %w", a, tunDev, err)
		}
	}
	if err := n.Netlink().LinkSetUp(l); err != nil {
		return fmt.Errorf("bringing up %s: %w", tunDev, err)
	}
	return nil
}

// createTUN creates a persistent TUN device (no packet information header)
// in the calling thread's namespace; it goes when the namespace does.
func createTUN(name string) error {
	fd, err := openTUN(name)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if err := unix.IoctlSetInt(fd, unix.TUNSETPERSIST, 1); err != nil {
		return fmt.Errorf("making %s persistent: %w", name, err)
	}
	return nil
}

// openTUN opens (creating it if need be) the TUN device name.
func openTUN(name string) (int, error) {
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("opening /dev/net/tun: %w", err)
	}
	ifr, err := unix.NewIfreq(name)
	if err == nil {
		ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI)
		err = unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr)
	}
	if err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("TUNSETIFF %s: %w", name, err)
	}
	return fd, nil
}

// startDecaps starts `lvssim ipip` on every node whose tunl0 is a TUN
// device (setupIPIP found no IPIP in the kernel).
func (s *Site) startDecaps(ctx context.Context) error {
	for _, node := range s.Topo.Nodes {
		if len(node.IPIP) == 0 {
			continue
		}
		if l, err := s.nodes[node.Name].Netlink().LinkByName(tunDev); err != nil || l.Type() != "tuntap" {
			continue
		}
		if s.Bins == nil || s.Bins.LVSSim == "" {
			return fmt.Errorf("no lvssim binary to run the ipip decapsulator on %s", node.Name)
		}
		if _, err := s.startProc(ctx, node.Name, "ipip", s.Bins.LVSSim, "ipip", "--dev", tunDev); err != nil {
			return err
		}
	}
	return nil
}

// RunIPIP is the userspace ipip decapsulator (`lvssim ipip`, started inside
// a real server's namespace): it receives every IPv4 packet of protocol 4
// (IPIP, RFC 2003) sent to the node with a raw socket, and writes the inner
// datagram to the TUN device dev, so the kernel receives it on dev as if
// the ipip driver had decapsulated it. It runs until ctx is done.
func RunIPIP(ctx context.Context, dev string) error {
	fd, err := openTUN(dev)
	if err != nil {
		return err
	}
	tun := os.NewFile(uintptr(fd), "/dev/net/tun")
	defer tun.Close()
	// Reads on an "ip4" IPConn return the payload: the inner datagram.
	c, err := net.ListenIP("ip4:4", nil)
	if err != nil {
		return fmt.Errorf("opening a raw IPIP socket: %w", err)
	}
	// A deep receive queue: a burst of a client's segments must not
	// overflow it while this process is descheduled (the ipip driver
	// decapsulates in softirq and has no queue to overflow).
	if rc, err := c.SyscallConn(); err == nil {
		rc.Control(func(fd uintptr) { unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 8<<20) })
	}
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	buf := make([]byte, 1<<16)
	var n, bad, failed uint64
	defer func() {
		fmt.Fprintf(os.Stderr, "ipip: %d decapsulated, %d not IPv4 inside, %d refused by %s\n", n, bad, failed, dev)
	}()
	for {
		k, _, err := c.ReadFrom(buf)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return fmt.Errorf("reading IPIP packets: %w", err)
		}
		inner := buf[:k]
		if k < 20 || inner[0]>>4 != 4 {
			bad++
			continue
		}
		if _, err := tun.Write(inner); err != nil {
			failed++
			continue
		}
		n++
	}
}

// setupRedirect installs the guide's §3.2.2 rule on a direct-routing real
// server that does not hold the VIP:
//
//	iptables -t nat -A PREROUTING -p tcp -d VIP --dport PORT -j REDIRECT
//
// or, where iptables is not installed, the same rule in nftables.
func (s *Site) setupRedirect(ctx context.Context, node *Node) error {
	if len(node.Redirect) == 0 {
		return nil
	}
	if _, err := exec.LookPath("iptables"); err == nil {
		for _, r := range node.Redirect {
			if err := s.run(ctx, node.Name, "iptables", "-t", "nat", "-A", "PREROUTING", "-p", "tcp",
				"-d", r.Addr().String(), "--dport", fmt.Sprint(r.Port()), "-j", "REDIRECT"); err != nil {
				return err
			}
		}
		return nil
	}
	var b strings.Builder
	b.WriteString("# guide §3.2.2: iptables -t nat -A PREROUTING -p tcp -d VIP --dport PORT -j REDIRECT, in nftables\n")
	b.WriteString("table ip lvssim_redirect {\n\tchain prerouting {\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n")
	for _, r := range node.Redirect {
		fmt.Fprintf(&b, "\t\tip daddr %v tcp dport %d redirect\n", r.Addr(), r.Port())
	}
	b.WriteString("\t}\n}\n")
	f, err := s.writeFile("redirect-"+node.Name+".nft", []byte(b.String()))
	if err != nil {
		return err
	}
	s.notes = append(s.notes, fmt.Sprintf("%s: iptables is not installed; the guide's REDIRECT rule is loaded with nft (%s)", node.Name, f))
	return s.run(ctx, node.Name, "nft", "-f", f)
}
