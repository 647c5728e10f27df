// Package tap is the dataplane.Link over a TAP device: the frames the kernel
// sends out of the device are read, and the frames written are received by
// the kernel as if they came in on it. One syscall per frame; a ReadBatch
// collects the frames already queued without waiting for more.
//
// Plain TAP devices are created with songgao/water, the design card's
// package. water cannot set IFF_VNET_HDR (its TUNSETIFF flags are fixed), so
// a Link with VNetHdr is created with vishvananda/netlink's Tuntap instead,
// and TUNSETOFFLOAD then lets the kernel hand over GSO super-frames and
// partial checksums, described by Meta.
//
// It owns the TAP file descriptor; it must not parse frames, log, or
// allocate per frame.
package tap

import "errors"

// Config describes one TAP Link. The zero value creates a TAP device with a
// kernel-chosen name (tapN) and no offloads.
type Config struct {
	Name string // the device to create; "" lets the kernel choose

	// VNetHdr puts a virtio_net_hdr before every frame (IFF_VNET_HDR) and
	// enables checksum and TSO offload on the device (TUNSETOFFLOAD), so the
	// kernel sends GSO super-frames of up to 64 KiB with partial checksums,
	// which ReadBatchMeta describes and WriteBatchMeta accepts. Without it
	// the kernel segments and checksums frames before they reach the Link.
	VNetHdr bool

	BatchSize int // frames per ReadBatch; default 32
}

// ErrNoVNetHdr is returned by WriteBatchMeta for a frame whose Meta asks for
// checksum or segmentation offload on a Link opened without VNetHdr.
var ErrNoVNetHdr = errors.New("offload requested on a TAP link without IFF_VNET_HDR")

// maxFrame is the largest frame a TAP with offloads can hand over: a 64 KiB
// GSO super-frame, its Ethernet header and a VLAN tag, rounded up.
const maxFrame = 64<<10 + 64

const defaultBatchSize = 32
