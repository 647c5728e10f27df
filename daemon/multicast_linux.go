package daemon

import (
	"fmt"
	"net"
	"unsafe"

	"golang.org/x/sys/unix"

	"lvs/frame"
)

// A neighbour solicitation for an address goes to the address's
// solicited-node group, at the Ethernet multicast address
// 33:33:ff:xx:xx:xx. An interface's filter passes only the groups someone
// joined, and the kernel joins those of its own addresses, not of the VIPs
// lvsd answers for. So the guard joins, on every interface it hooks, the
// group of each owned IPv6 address (SIOCADDMULTI, as `ip maddr add`), and
// leaves it when the address goes or the guard is removed. The kernel
// counts lvsd's join apart from its own, so leaving never takes a group
// the kernel needs.

// mcastKey is one joined group: an interface and an Ethernet multicast
// address.
type mcastKey struct {
	iface string
	mac   frame.MAC
}

// solicitedGroups returns the groups to join for guard table t.
func solicitedGroups(t guardTable) map[mcastKey]bool {
	out := map[mcastKey]bool{}
	for _, ifname := range t.Interfaces {
		for _, a := range t.Owned6 {
			out[mcastKey{ifname, frame.MulticastMAC(frame.SolicitedNode(a))}] = true
		}
	}
	return out
}

// syncGroups joins the groups of want not joined yet and leaves the joined
// ones no longer wanted; joined is updated to what the interfaces hold.
// Interfaces without Ethernet multicast (loopback) join nothing.
func syncGroups(joined, want map[mcastKey]bool) error {
	for k := range joined {
		if !want[k] {
			if err := multicastIoctl(unix.SIOCDELMULTI, k); err != nil {
				return fmt.Errorf("leaving multicast group %v on %s: %w", k.mac, k.iface, err)
			}
			delete(joined, k)
		}
	}
	for k := range want {
		if !joined[k] && ethernetMulticast(k.iface) {
			if err := multicastIoctl(unix.SIOCADDMULTI, k); err != nil {
				return fmt.Errorf("joining the solicited-node group %v on %s: %w", k.mac, k.iface, err)
			}
			joined[k] = true
		}
	}
	return nil
}

// ethernetMulticast reports whether the interface has an Ethernet address
// and multicast.
func ethernetMulticast(name string) bool {
	ifi, err := net.InterfaceByName(name)
	return err == nil && len(ifi.HardwareAddr) == 6 && ifi.Flags&net.FlagMulticast != 0
}

// ifreqHW is struct ifreq with ifr_hwaddr (a sockaddr), 40 bytes on Linux.
type ifreqHW struct {
	name   [unix.IFNAMSIZ]byte
	family uint16
	data   [14]byte
	_      [8]byte
}

// multicastIoctl adds (SIOCADDMULTI) or deletes (SIOCDELMULTI) the
// link-layer multicast address of k on its interface.
func multicastIoctl(req uint, k mcastKey) error {
	fd, err := unix.Socket(unix.AF_INET6, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	var r ifreqHW
	copy(r.name[:], k.iface)
	r.family = unix.AF_UNSPEC
	copy(r.data[:], k.mac[:])
	if _, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), uintptr(req), uintptr(unsafe.Pointer(&r))); errno != 0 {
		return errno
	}
	return nil
}
