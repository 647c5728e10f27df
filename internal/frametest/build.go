package frametest

import (
	"encoding/binary"
	"net"
	"net/netip"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"lvs/frame"
)

// Default MACs of built frames.
var (
	DefaultSrcMAC = frame.MAC{0x02, 0, 0, 0, 0, 0x01}
	DefaultDstMAC = frame.MAC{0x02, 0, 0, 0, 0, 0x02}
)

// config collects the options of a builder.
type config struct {
	srcMAC, dstMAC frame.MAC
	tagged         bool
	vlan           uint16
	ttl            uint8
	id             uint16
	tos            uint8
	df             bool
	ipOptions      []layers.IPv4Option
	seq, ack       uint32
	window         uint16
	mss            uint16
	noUDPSum       bool
	mtu            uint16
	quote          int
	ext            []uint8 // IPv6 extension headers (WithExt)
}

func newConfig(opts []Option) *config {
	c := &config{srcMAC: DefaultSrcMAC, dstMAC: DefaultDstMAC, ttl: 64, id: 1, window: 65535, seq: 1000, quote: 8}
	for _, o := range opts {
		o(c)
	}
	return c
}

// An Option changes a field of a built frame from its default.
type Option func(*config)

// WithSrcMAC sets the Ethernet source (default DefaultSrcMAC).
func WithSrcMAC(m frame.MAC) Option { return func(c *config) { c.srcMAC = m } }

// WithDstMAC sets the Ethernet destination (default DefaultDstMAC).
func WithDstMAC(m frame.MAC) Option { return func(c *config) { c.dstMAC = m } }

// WithVLAN adds an 802.1Q tag with VLAN ID id.
func WithVLAN(id uint16) Option { return func(c *config) { c.tagged, c.vlan = true, id } }

// WithTTL sets the IPv4 time to live or the IPv6 hop limit (default 64).
func WithTTL(n uint8) Option { return func(c *config) { c.ttl = n } }

// WithID sets the IP identification (default 1).
func WithID(n uint16) Option { return func(c *config) { c.id = n } }

// WithTOS sets the IP type of service.
func WithTOS(n uint8) Option { return func(c *config) { c.tos = n } }

// WithDF sets the IP don't-fragment flag.
func WithDF() Option { return func(c *config) { c.df = true } }

// WithIPOptions adds IP options: a record-route option of n addresses (n ≥ 1),
// which makes IHL 5 + n + 1 words with its padding.
func WithIPOptions(n int) Option {
	return func(c *config) {
		c.ipOptions = append(c.ipOptions, layers.IPv4Option{
			OptionType: 7, OptionLength: uint8(3 + 4*n), OptionData: append([]byte{4}, make([]byte, 4*n)...)})
	}
}

// WithSeq sets the TCP sequence number (default 1000).
func WithSeq(n uint32) Option { return func(c *config) { c.seq = n } }

// WithAck sets the TCP acknowledgment number.
func WithAck(n uint32) Option { return func(c *config) { c.ack = n } }

// WithWindow sets the TCP window (default 65535).
func WithWindow(n uint16) Option { return func(c *config) { c.window = n } }

// WithMSS adds a TCP MSS option (with a NOP before it, so options are padded
// to a word by a trailing end-of-list).
func WithMSS(n uint16) Option { return func(c *config) { c.mss = n } }

// WithNoUDPChecksum sends UDP with checksum 0 (none, RFC 768).
func WithNoUDPChecksum() Option { return func(c *config) { c.noUDPSum = true } }

// WithMTU sets the next-hop MTU of a fragmentation-needed error.
func WithMTU(n uint16) Option { return func(c *config) { c.mtu = n } }

// WithQuote sets how many bytes past the IP header an ICMP error quotes
// (default 8, the RFC 792 minimum; more is capped at what the frame has).
func WithQuote(n int) Option { return func(c *config) { c.quote = n } }

// ip returns the IPv4 layer for src → dst carrying proto.
func (c *config) ip(src, dst netip.Addr, proto layers.IPProtocol) *layers.IPv4 {
	ip := &layers.IPv4{Version: 4, TTL: c.ttl, Id: c.id, TOS: c.tos, Protocol: proto,
		SrcIP: net.IP(src.AsSlice()), DstIP: net.IP(dst.AsSlice()), Options: c.ipOptions}
	if c.df {
		ip.Flags = layers.IPv4DontFragment
	}
	return ip
}

// serialize lays out eth (with the configured tag), then ls, with lengths
// and checksums computed by gopacket.
func (c *config) serialize(ethType layers.EthernetType, ls ...gopacket.SerializableLayer) []byte {
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr(c.srcMAC[:]), DstMAC: net.HardwareAddr(c.dstMAC[:]), EthernetType: ethType}
	all := []gopacket.SerializableLayer{eth}
	if c.tagged {
		eth.EthernetType = layers.EthernetTypeDot1Q
		all = append(all, &layers.Dot1Q{VLANIdentifier: c.vlan, Type: ethType})
	}
	all = append(all, ls...)
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, all...); err != nil {
		panic("frametest: serialize: " + err.Error())
	}
	return append([]byte(nil), buf.Bytes()...)
}

// TCP builds a TCP/IPv4 frame from src to dst with flags and payload, and
// correct checksums; a TCP/IPv6 frame when the addresses are IPv6.
func TCP(src, dst netip.AddrPort, flags frame.TCPFlags, payload []byte, opts ...Option) []byte {
	c := newConfig(opts)
	t := &layers.TCP{SrcPort: layers.TCPPort(src.Port()), DstPort: layers.TCPPort(dst.Port()),
		Seq: c.seq, Ack: c.ack, Window: c.window,
		FIN: flags&frame.FIN != 0, SYN: flags&frame.SYN != 0, RST: flags&frame.RST != 0,
		PSH: flags&frame.PSH != 0, ACK: flags&frame.ACK != 0, URG: flags&frame.URG != 0,
		ECE: flags&frame.ECE != 0, CWR: flags&frame.CWR != 0}
	if c.mss != 0 {
		var v [2]byte
		binary.BigEndian.PutUint16(v[:], c.mss)
		t.Options = []layers.TCPOption{{OptionType: layers.TCPOptionKindNop},
			{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: v[:]}}
	}
	if src.Addr().Is6() {
		return c.tcp6(src, dst, t, payload)
	}
	ip := c.ip(src.Addr(), dst.Addr(), layers.IPProtocolTCP)
	if err := t.SetNetworkLayerForChecksum(ip); err != nil {
		panic(err)
	}
	return c.serialize(layers.EthernetTypeIPv4, ip, t, gopacket.Payload(payload))
}

// TCPSyn builds the SYN that opens a connection from src to dst, with an
// MSS option of 1460.
func TCPSyn(src, dst netip.AddrPort, opts ...Option) []byte {
	return TCP(src, dst, frame.SYN, nil, append([]Option{WithMSS(1460)}, opts...)...)
}

// UDP builds a UDP/IPv4 frame from src to dst with payload and correct
// checksums (or UDP checksum 0 with WithNoUDPChecksum); a UDP/IPv6 frame
// when the addresses are IPv6.
func UDP(src, dst netip.AddrPort, payload []byte, opts ...Option) []byte {
	c := newConfig(opts)
	if src.Addr().Is6() {
		return c.udp6(src, dst, payload)
	}
	ip := c.ip(src.Addr(), dst.Addr(), layers.IPProtocolUDP)
	u := &layers.UDP{SrcPort: layers.UDPPort(src.Port()), DstPort: layers.UDPPort(dst.Port())}
	if err := u.SetNetworkLayerForChecksum(ip); err != nil {
		panic(err)
	}
	f := c.serialize(layers.EthernetTypeIPv4, ip, u, gopacket.Payload(payload))
	if c.noUDPSum {
		l4 := l4Offset(f)
		binary.BigEndian.PutUint16(f[l4+6:], 0)
	}
	return f
}

// ICMPEcho builds an ICMP echo request from src to dst.
func ICMPEcho(src, dst netip.Addr, id, seq uint16, payload []byte, opts ...Option) []byte {
	c := newConfig(opts)
	ip := c.ip(src, dst, layers.IPProtocolICMPv4)
	ic := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoRequest, 0), Id: id, Seq: seq}
	return c.serialize(layers.EthernetTypeIPv4, ip, ic, gopacket.Payload(payload))
}

// ICMPError builds an ICMP error of type typ and code from `from` to the
// source of the IPv4 frame about, quoting about's IP header and WithQuote bytes
// (default 8) of what follows. WithMTU gives it carries a next-hop MTU. The
// Ethernet addresses are the options', not swapped from about.
func ICMPError(typ, code uint8, from netip.Addr, about []byte, opts ...Option) []byte {
	c := newConfig(opts)
	l3 := l3Offset(about)
	ihl := int(about[l3]&0x0f) * 4
	end := l3 + int(binary.BigEndian.Uint16(about[l3+2:]))
	quote := about[l3:min(end, l3+ihl+c.quote)]
	src := netip.AddrFrom4([4]byte(about[l3+12 : l3+16]))
	ip := c.ip(from, src, layers.IPProtocolICMPv4)
	ic := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(typ, code)}
	if c.mtu != 0 {
		ic.Seq = c.mtu // bytes 6-7 of the header, where RFC 1191 puts the MTU
	}
	return c.serialize(layers.EthernetTypeIPv4, ip, ic, gopacket.Payload(quote))
}

// ARPRequest builds a broadcast who-has request for target from mac/ip.
func ARPRequest(mac frame.MAC, ip, target netip.Addr, opts ...Option) []byte {
	c := newConfig(append([]Option{WithSrcMAC(mac), WithDstMAC(frame.BroadcastMAC)}, opts...))
	return c.serialize(layers.EthernetTypeARP, &layers.ARP{AddrType: layers.LinkTypeEthernet,
		Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
		Operation: layers.ARPRequest, SourceHwAddress: mac[:], SourceProtAddress: ip.AsSlice(),
		DstHwAddress: make([]byte, 6), DstProtAddress: target.AsSlice()})
}

// ARPReply builds the reply "ip is at mac" unicast to toMAC/toIP.
func ARPReply(mac frame.MAC, ip netip.Addr, toMAC frame.MAC, toIP netip.Addr, opts ...Option) []byte {
	c := newConfig(append([]Option{WithSrcMAC(mac), WithDstMAC(toMAC)}, opts...))
	return c.serialize(layers.EthernetTypeARP, &layers.ARP{AddrType: layers.LinkTypeEthernet,
		Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
		Operation: layers.ARPReply, SourceHwAddress: mac[:], SourceProtAddress: ip.AsSlice(),
		DstHwAddress: toMAC[:], DstProtAddress: toIP.AsSlice()})
}

// l3Offset returns where the network header of an Ethernet frame starts.
func l3Offset(f []byte) int {
	if binary.BigEndian.Uint16(f[12:]) == 0x8100 {
		return 18
	}
	return 14
}

// l4Offset returns where the header after IPv4 starts.
func l4Offset(f []byte) int {
	l3 := l3Offset(f)
	return l3 + int(f[l3]&0x0f)*4
}
