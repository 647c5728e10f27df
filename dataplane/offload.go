package dataplane

import "lvs/frame"

// Meta is the offload metadata of one frame, carried beside it by a MetaLink:
// the fields of Linux's struct virtio_net_hdr (include/uapi/linux/virtio_net.h),
// decoded (frame.VNetHdr is the wire view). Offsets count from the first byte
// of the Ethernet frame, including an 802.1Q tag if the frame has one.
//
// The zero Meta describes a complete frame: no larger than the MTU, with its
// checksums final. A received frame with NeedsCsum has a partial L4 checksum
// (the pseudo-header sum, as the sender's kernel left it for the NIC); one
// with a GSOType is a super-frame that the sender's TSO/GSO (or GRO on the
// way in) built from several segments of GSOSize payload bytes each. Written
// with the same Meta, the kernel segments and checksums it on the way out.
type Meta struct {
	Flags      MetaFlags
	GSOType    GSOType
	HdrLen     uint16 // length of the headers copied into every segment (a hint)
	GSOSize    uint16 // payload bytes per segment: the MSS for TCP
	CsumStart  uint16 // where checksumming starts: the L4 header offset
	CsumOffset uint16 // where the checksum field is, counted from CsumStart
}

// MetaFlags are the virtio_net_hdr flags.
type MetaFlags uint8

// The virtio_net_hdr flags (VIRTIO_NET_HDR_F_*).
const (
	// NeedsCsum: the checksum at CsumStart+CsumOffset covers only the
	// pseudo-header; the bytes from CsumStart on still have to be summed.
	NeedsCsum = MetaFlags(frame.VNetNeedsCsum)
	// DataValid: the receiving interface has verified the checksums.
	DataValid = MetaFlags(frame.VNetDataValid)
)

// GSOType is the virtio_net_hdr gso_type: what kind of super-frame this is.
type GSOType uint8

// The virtio_net_hdr GSO types (VIRTIO_NET_HDR_GSO_*).
const (
	GSONone  = GSOType(frame.VNetGSONone)
	GSOTCPv4 = GSOType(frame.VNetGSOTCPv4)
	GSOUDP   = GSOType(frame.VNetGSOUDP) // UFO: IPv4 fragmentation of one UDP datagram
	GSOTCPv6 = GSOType(frame.VNetGSOTCPv6)
	GSOUDPL4 = GSOType(frame.VNetGSOUDPL4) // USO: one UDP datagram per segment
	GSOECN   = GSOType(frame.VNetGSOECN)   // flag: the TCP stream uses ECN (CWR on the first segment only)
)

// VirtioNetHdrLen is the size of struct virtio_net_hdr, the prefix a packet
// socket with PACKET_VNET_HDR or a TAP with IFF_VNET_HDR puts before a frame.
const VirtioNetHdrLen = frame.VNetHdrLen

// IsGSO reports whether the frame is a super-frame that must be segmented
// (by the kernel on WriteBatchMeta, or in software) before it fits the MTU.
func (m Meta) IsGSO() bool { return m.GSOType&^GSOECN != GSONone }

// DecodeVirtioNetHdr reads the virtio_net_hdr at the start of b (frame.VNetHdr
// owns the wire format). b must hold at least VirtioNetHdrLen bytes.
func DecodeVirtioNetHdr(b []byte) Meta {
	v := frame.VNetHdr(b[:VirtioNetHdrLen])
	return Meta{
		Flags:      MetaFlags(v.Flags()),
		GSOType:    GSOType(v.GSOType()),
		HdrLen:     v.HdrLen(),
		GSOSize:    v.GSOSize(),
		CsumStart:  v.CsumStart(),
		CsumOffset: v.CsumOffset(),
	}
}

// PutVirtioNetHdr writes m as a virtio_net_hdr for transmission into b, which
// must hold at least VirtioNetHdrLen bytes. DataValid, meaningless on
// transmit, is not written; nor are checksum offsets without NeedsCsum.
func (m Meta) PutVirtioNetHdr(b []byte) {
	v := frame.VNetHdr(b[:VirtioNetHdrLen])
	v.Clear()
	v.SetGSO(uint8(m.GSOType), m.HdrLen, m.GSOSize)
	if m.Flags&NeedsCsum != 0 {
		v.SetCsum(m.CsumStart, m.CsumOffset)
	}
}

// Shift moves the offsets of m by n bytes, for a frame whose headers grew by
// n bytes in front of the L3 header (an 802.1Q tag put back, n = 4).
func (m *Meta) Shift(n int) {
	if m.Flags&NeedsCsum != 0 {
		m.CsumStart = uint16(int(m.CsumStart) + n)
	}
	if m.HdrLen != 0 {
		m.HdrLen = uint16(int(m.HdrLen) + n)
	}
}
