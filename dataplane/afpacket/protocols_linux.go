package afpacket

import (
	"fmt"
	"net"
	"unsafe"

	"golang.org/x/sys/unix"
)

// A Link opened with Config.Protocols reads one receive socket per
// EtherType, each with its own ring, and transmits through a socket bound
// to protocol 0, which the kernel delivers nothing: a raw socket's frames
// take its bound protocol as skb->protocol (packet_snd), so a socket bound
// to ETH_P_IP would mislabel the ARP and IPv6 frames it sent, and
// segmentation offload reads that label. Bound to 0, the kernel takes the
// protocol from each frame's Ethernet header.
//
// Why per protocol: an ETH_P_ALL socket is a tap (ptype_all), run on every
// received frame before tc ingress and on every transmitted one, so a
// frame a tcx program forwards is still offered to it and must be refused
// by a socket filter that repeats the program's lookup. A socket bound to
// one EtherType (ptype_base) is delivered a frame at the end of the
// receive path, after tcx, the netdev ingress hook and any rx_handler, and
// only if none of them took it.

// The ring of an ETH_P_ARP socket: ARP frames are small and few, so they
// get RingV2 slots of 2 KiB, 1 MiB in all, where an IP ring's slots hold a
// 64 KiB GSO super-frame each.
const (
	arpFrameSize  = 2048
	arpFrameCount = 512
)

// openProtocols opens the transmit socket and one receive socket per
// EtherType of c.Protocols.
func openProtocols(c Config) (_ *Link, err error) {
	tc := c
	tc.TXOnly, tc.Protocols = true, nil
	l, err := Open(tc)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			l.Close()
		}
	}()
	ifi, err := net.InterfaceByName(c.Interface)
	if err != nil {
		return nil, fmt.Errorf("looking up interface %q: %w", c.Interface, err)
	}
	l.txOnly, l.srcs, l.pfd = false, nil, nil
	for _, p := range c.Protocols {
		sc := c
		sc.Protocols, sc.bind = nil, p
		if c.Fanout != FanoutNone && c.FanoutGroup == 0 {
			// A fanout group holds sockets of one protocol: each gets
			// its own id.
			sc.FanoutGroup = fanoutGroup(ifi.Index) ^ p
		}
		if p == unix.ETH_P_ARP {
			sc.Ring, sc.FrameSize, sc.FrameCount = RingV2, arpFrameSize, arpFrameCount
		}
		s, err := Open(sc)
		if err != nil {
			return nil, fmt.Errorf("receiving EtherType %#04x: %w", p, err)
		}
		l.srcs = append(l.srcs, s)
		l.pfd = append(l.pfd, unix.PollFd{Fd: int32(s.fd), Events: unix.POLLIN | unix.POLLERR})
	}
	l.pfd = append(l.pfd, unix.PollFd{Fd: int32(l.efd), Events: unix.POLLIN})
	return l, nil
}

// otherHostFilter refuses frames for another host but those with mark:
// ld #mark; jeq mark, accept; ld #type; jeq PACKET_OTHERHOST, refuse;
// accept the whole frame. With mark 0 the mark is not looked at.
func otherHostFilter(mark uint32) []unix.SockFilter {
	check := []unix.SockFilter{
		{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: skfAdPktType},
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: 0, Jf: 1, K: unix.PACKET_OTHERHOST},
		{Code: unix.BPF_RET | unix.BPF_K, K: 0},
		{Code: unix.BPF_RET | unix.BPF_K, K: 0xffffffff},
	}
	if mark == 0 {
		return check
	}
	return append([]unix.SockFilter{
		{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: skfAdMark},
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: uint8(len(check) - 1), Jf: 0, K: mark},
	}, check...)
}

// skfAdPktType and skfAdMark are SKF_AD_OFF + SKF_AD_PKTTYPE and
// SKF_AD_OFF + SKF_AD_MARK (include/uapi/linux/filter.h: -0x1000 + 4 and
// + 20), the ancillary offsets of the packet type and the mark, as the
// unsigned offset of a classic load.
const (
	skfAdPktType = 1<<32 - 0x1000 + 4
	skfAdMark    = 1<<32 - 0x1000 + 20
)

// dropOtherHost attaches otherHostFilter to a socket of Protocols unless
// c asks for promiscuous mode or carries a filter of its own; frames with
// c.AcceptMark pass it. The kernel
// clears a VLAN tag before it delivers a frame to such a socket and marks
// the frame PACKET_OTHERHOST when no VLAN device takes it (and the tag is
// not 0): without the filter lvsd would take a tagged frame for an
// untagged one.
func (l *Link) dropOtherHost(c Config) error {
	if c.Promisc || c.Filter > 0 {
		return nil
	}
	f := otherHostFilter(c.AcceptMark)
	prog := unix.SockFprog{Len: uint16(len(f)), Filter: unsafe.SliceData(f)}
	if err := unix.SetsockoptSockFprog(l.fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &prog); err != nil {
		return fmt.Errorf("attaching the other-host filter to the AF_PACKET socket of %s: %w", l.ifname, err)
	}
	return nil
}
