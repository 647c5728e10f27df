package sim

import (
	"encoding/binary"
	"fmt"
	"net"
	"sync"
	"time"
	"unsafe"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"golang.org/x/sys/unix"
)

// capture is what one real server saw lvsd forward to it.
type capture struct {
	checked int
	bad     []string
	err     error
}

// captureReals captures, on every real server's first interface, the
// IPv4 frames whose source MAC is lvsd's until stop is closed, and checks
// their checksums with gopacket: the IPv4 header always, TCP, UDP and
// ICMP unless the frame is a fragment or the kernel marks its checksum as
// not yet computed (an offloaded partial checksum, completed on transmit).
func (s *Site) captureReals(stop <-chan struct{}, lvsdMAC map[string]bool, wg *sync.WaitGroup) []*capture {
	var out []*capture
	for _, n := range s.Topo.Nodes {
		if n.Role != RoleReal || len(n.Interfaces) == 0 {
			continue
		}
		ns := s.nodes[n.Name]
		c := &capture{}
		out = append(out, c)
		ready := make(chan struct{})
		iface := n.Interfaces[0].Name
		wg.Go(func() {
			c.err = ns.Do(func() error { return c.run(iface, lvsdMAC, stop, ready) })
		})
		select {
		case <-ready:
		case <-time.After(5 * time.Second):
		}
	}
	return out
}

// run captures on iface until stop is closed. It closes ready once its
// socket is bound, or will not be: a close, not a send, so run never
// blocks on it when captureReals has stopped waiting.
func (c *capture) run(iface string, lvsdMAC map[string]bool, stop <-chan struct{}, ready chan<- struct{}) error {
	fd, err := openCapture(iface)
	close(ready)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	buf, oob := make([]byte, 65536), make([]byte, 256)
	for {
		select {
		case <-stop:
			return nil
		default:
		}
		n, oobn, _, from, err := unix.Recvmsg(fd, buf, oob, unix.MSG_TRUNC)
		if err != nil || n > len(buf) || n < 34 {
			continue
		}
		if ll, ok := from.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING {
			continue
		}
		if !lvsdMAC[net.HardwareAddr(buf[6:12]).String()] || binary.BigEndian.Uint16(buf[12:]) != 0x0800 {
			continue
		}
		partial := false
		if cms, err := unix.ParseSocketControlMessage(oob[:oobn]); err == nil {
			for _, cm := range cms {
				if cm.Header.Level == unix.SOL_PACKET && cm.Header.Type == unix.PACKET_AUXDATA && len(cm.Data) >= int(unsafe.Sizeof(unix.TpacketAuxdata{})) {
					aux := (*unix.TpacketAuxdata)(unsafe.Pointer(&cm.Data[0]))
					partial = aux.Status&unix.TP_STATUS_CSUMNOTREADY != 0
				}
			}
		}
		c.checked++
		if why := badChecksum(buf[:n], partial); why != "" {
			c.bad = append(c.bad, why)
		}
	}
}

// openCapture opens a packet socket bound to iface that reads every
// frame with its auxiliary data, its reads timing out every 200 ms.
func openCapture(iface string) (int, error) {
	ifi, err := net.InterfaceByName(iface)
	if err != nil {
		return -1, err
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
	if err != nil {
		return -1, fmt.Errorf("opening a capture socket: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi.Index}); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("binding the capture socket to %s: %w", iface, err)
	}
	unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_AUXDATA, 1)
	tv := unix.NsecToTimeval((200 * time.Millisecond).Nanoseconds())
	unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	return fd, nil
}

// badChecksum decodes an Ethernet frame with gopacket and says what is
// wrong with its checksums, or "".
func badChecksum(b []byte, partial bool) string {
	p := gopacket.NewPacket(b, layers.LayerTypeEthernet, gopacket.DecodeOptions{NoCopy: true})
	ip, _ := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	if ip == nil {
		return "undecodable IPv4 frame"
	}
	if onesSum(ip.Contents, 0) != 0xffff {
		return fmt.Sprintf("IPv4 header checksum %#04x wrong (%v → %v)", ip.Checksum, ip.SrcIP, ip.DstIP)
	}
	if partial || ip.Flags&layers.IPv4MoreFragments != 0 || ip.FragOffset != 0 {
		return ""
	}
	pseudo := func(l4 []byte) uint32 {
		var s uint32
		for _, a := range [][]byte{ip.SrcIP.To4(), ip.DstIP.To4()} {
			s += (uint32(a[0])<<8 | uint32(a[1])) + (uint32(a[2])<<8 | uint32(a[3]))
		}
		return s + uint32(ip.Protocol) + uint32(len(l4))
	}
	switch l := p.TransportLayer().(type) {
	case *layers.TCP:
		l4 := ip.Payload
		if onesSum(l4, pseudo(l4)) != 0xffff {
			return fmt.Sprintf("TCP checksum %#04x wrong (%v:%d → %v:%d)", l.Checksum, ip.SrcIP, l.SrcPort, ip.DstIP, l.DstPort)
		}
	case *layers.UDP:
		l4 := ip.Payload
		if l.Checksum != 0 && onesSum(l4, pseudo(l4)) != 0xffff {
			return fmt.Sprintf("UDP checksum %#04x wrong (%v:%d → %v:%d)", l.Checksum, ip.SrcIP, l.SrcPort, ip.DstIP, l.DstPort)
		}
	}
	if ic, _ := p.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4); ic != nil {
		if err, _ := ic.VerifyChecksum(); err != nil {
			return fmt.Sprintf("ICMP checksum wrong (%v → %v): %v", ip.SrcIP, ip.DstIP, err)
		}
	}
	return ""
}

// onesSum is the folded ones'-complement sum of b plus acc (0xffff over
// data that includes a correct checksum). It is the checker's own, not
// lvsd's frame.Sum.
func onesSum(b []byte, acc uint32) uint16 {
	for len(b) >= 2 {
		acc += uint32(b[0])<<8 | uint32(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		acc += uint32(b[0]) << 8
	}
	for acc > 0xffff {
		acc = acc>>16 + acc&0xffff
	}
	return uint16(acc)
}
