package frame

import "encoding/binary"

// VNetHdrLen is the size of struct virtio_net_hdr (include/uapi/linux/
// virtio_net.h), which a packet socket with PACKET_VNET_HDR puts before
// every frame it reads and expects before every frame it writes.
const VNetHdrLen = 10

// virtio_net_hdr flags.
const (
	VNetNeedsCsum uint8 = 1 // VIRTIO_NET_HDR_F_NEEDS_CSUM: checksum partial at CsumStart/CsumOffset
	VNetDataValid uint8 = 2 // VIRTIO_NET_HDR_F_DATA_VALID: checksum already verified
)

// virtio_net_hdr gso_type values.
const (
	VNetGSONone  uint8 = 0    // VIRTIO_NET_HDR_GSO_NONE
	VNetGSOTCPv4 uint8 = 1    // VIRTIO_NET_HDR_GSO_TCPV4
	VNetGSOUDP   uint8 = 3    // VIRTIO_NET_HDR_GSO_UDP (UFO)
	VNetGSOTCPv6 uint8 = 4    // VIRTIO_NET_HDR_GSO_TCPV6
	VNetGSOUDPL4 uint8 = 5    // VIRTIO_NET_HDR_GSO_UDP_L4 (USO)
	VNetGSOECN   uint8 = 0x80 // VIRTIO_NET_HDR_GSO_ECN, or-ed into the type
)

const (
	vnetFlags      = 0
	vnetGSOType    = 1
	vnetHdrLen     = 2
	vnetGSOSize    = 4
	vnetCsumStart  = 6
	vnetCsumOffset = 8
)

// VNetHdr is a view of a struct virtio_net_hdr. Its multi-byte fields are
// little endian: packet sockets use the host's virtio byte order
// (vio_le() is true on little-endian hosts, the only ones we run on).
// Offsets (HdrLen, CsumStart) count from the start of the Ethernet frame.
type VNetHdr []byte

// Valid reports whether v is long enough for the header.
func (v VNetHdr) Valid() bool { return len(v) >= VNetHdrLen }

// Flags returns the flags (VNetNeedsCsum, VNetDataValid).
func (v VNetHdr) Flags() uint8 { return v[vnetFlags] }

// NeedsCsum reports whether the L4 checksum is partial: the field at
// CsumStart+CsumOffset holds the pseudo-header sum only.
func (v VNetHdr) NeedsCsum() bool { return v[vnetFlags]&VNetNeedsCsum != 0 }

// GSOType returns the GSO type, VNetGSONone for an ordinary frame.
func (v VNetHdr) GSOType() uint8 { return v[vnetGSOType] }

// HdrLen returns the header-length field. On transmit it tells the kernel
// how much to copy into the linear part; on receive the kernel fills it
// with skb_headlen ("a hint as to how much should be linear",
// virtio_net_hdr_from_skb), which may exceed the headers: use
// Parsed.Payload for the real header length.
func (v VNetHdr) HdrLen() uint16 { return binary.LittleEndian.Uint16(v[vnetHdrLen:]) }

// GSOSize returns the payload size of each segment (the MSS for TCP).
func (v VNetHdr) GSOSize() uint16 { return binary.LittleEndian.Uint16(v[vnetGSOSize:]) }

// CsumStart returns where checksumming starts (the L4 header).
func (v VNetHdr) CsumStart() uint16 { return binary.LittleEndian.Uint16(v[vnetCsumStart:]) }

// CsumOffset returns where the checksum field is, relative to CsumStart.
func (v VNetHdr) CsumOffset() uint16 { return binary.LittleEndian.Uint16(v[vnetCsumOffset:]) }

// Clear zeroes the header: an ordinary frame with a complete checksum.
func (v VNetHdr) Clear() { clear(v[:VNetHdrLen]) }

// SetCsum marks the checksum partial at start+offset (VNetNeedsCsum), for
// the kernel or device to complete on transmit.
func (v VNetHdr) SetCsum(start, offset uint16) {
	v[vnetFlags] |= VNetNeedsCsum
	binary.LittleEndian.PutUint16(v[vnetCsumStart:], start)
	binary.LittleEndian.PutUint16(v[vnetCsumOffset:], offset)
}

// SetGSO sets the GSO type, header length and segment size.
func (v VNetHdr) SetGSO(typ uint8, hdrLen, size uint16) {
	v[vnetGSOType] = typ
	binary.LittleEndian.PutUint16(v[vnetHdrLen:], hdrLen)
	binary.LittleEndian.PutUint16(v[vnetGSOSize:], size)
}

// SetTCPGSO describes the TCP/IPv4 super-frame decoded into p for
// transmission with segments of mss payload bytes: GSO type TCPv4, headers
// up to p.Payload, checksum partial at the TCP checksum. The checksum field
// of the frame must then hold the pseudo-header sum (p.Partial), as the
// kernel's virtio_net_hdr_to_skb expects.
func (v VNetHdr) SetTCPGSO(p *Parsed, mss uint16) {
	v.Clear()
	v.SetGSO(VNetGSOTCPv4, uint16(p.Payload), mss)
	v.SetCsum(uint16(p.L4), TCPChecksumOffset)
}
