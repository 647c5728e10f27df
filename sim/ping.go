package sim

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"time"
)

// ping sends echo requests from inside node to dst until one is answered:
// at most 3 tries, one second each. An IPv4 dst gets ICMP, any other
// ICMPv6, whose checksum the kernel fills in on a raw ICMPv6 socket.
func (s *Site) ping(node string, dst netip.Addr) error {
	n := s.nodes[node]
	if n == nil {
		return fmt.Errorf("unknown node %s", node)
	}
	network, laddr, name, reply := "ip4:icmp", "0.0.0.0", "icmp", byte(0)
	if !dst.Is4() {
		network, laddr, name, reply = "ip6:ipv6-icmp", "::", "icmpv6", 129
	}
	var c net.PacketConn
	err := n.Do(func() error {
		var err error
		c, err = net.ListenPacket(network, laddr)
		return err
	})
	if err != nil {
		return fmt.Errorf("%s socket: %w", name, err)
	}
	defer c.Close()
	id := uint16(os.Getpid())
	buf := make([]byte, 1500)
	for seq := uint16(1); seq <= 3; seq++ {
		if _, err := c.WriteTo(echoRequest(dst.Is4(), id, seq), &net.IPAddr{IP: dst.AsSlice()}); err != nil {
			return fmt.Errorf("sending echo: %w", err)
		}
		c.SetReadDeadline(time.Now().Add(time.Second))
		for {
			k, from, err := c.ReadFrom(buf)
			if err != nil {
				break // timeout: try the next sequence number
			}
			ip, _ := netip.AddrFromSlice(from.(*net.IPAddr).IP)
			b := buf[:k]
			if ip.Unmap() == dst && len(b) >= 8 && b[0] == reply &&
				binary.BigEndian.Uint16(b[4:]) == id && binary.BigEndian.Uint16(b[6:]) == seq {
				return nil
			}
		}
	}
	return fmt.Errorf("no echo reply from %v", dst)
}

// echoRequest is an ICMP echo request (v4) or an ICMPv6 one, with the
// checksum of the ICMP one; the kernel computes ICMPv6's.
func echoRequest(v4 bool, id, seq uint16) []byte {
	typ := byte(128)
	if v4 {
		typ = 8
	}
	b := []byte{typ, 0, 0, 0, 0, 0, 0, 0, 'l', 'v', 's', 's', 'i', 'm'}
	binary.BigEndian.PutUint16(b[4:], id)
	binary.BigEndian.PutUint16(b[6:], seq)
	if !v4 {
		return b
	}
	var sum uint32
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(b[i])<<8 | uint32(b[i+1])
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	binary.BigEndian.PutUint16(b[2:], ^uint16(sum))
	return b
}
