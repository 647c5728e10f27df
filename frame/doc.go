// Package frame provides zero-copy views of Ethernet, 802.1Q, ARP, IPv4,
// IPv6 (with its extension headers), TCP, UDP, ICMP, ICMPv6 and Neighbour
// Discovery, incremental checksum patching (RFC 1624), and one Parsed
// decode per frame. It is the parsing half of the dataplane, split out
// so that nat and dr can use it without importing dataplane.
//
// It must not allocate, log or return errors on the per-packet path; it
// imports nothing of this module.
//
// # Views
//
// Each header is a []byte view (Ethernet, ARP, IPv4, TCP, UDP, ICMP,
// VNetHdr) with unexported offset constants. Call Valid (IPv4.ValidHeader
// for a quote inside an ICMP error) once; accessors then trust the length.
// Setters that change an address or port patch the checksums they cover.
//
// # One decode per frame
//
// A worker owns a Parsed and calls Decode for every frame. Decode never
// fails, never allocates and never panics; what it cannot use is KindOther
// and left to the kernel. Parsed.SetSrc/SetDst and SetInnerSrc/SetInnerDst
// are the NAT rewrites, with every checksum patched incrementally, so their
// cost does not depend on the frame's size.
//
// # IPv6
//
// Decode walks hop-by-hop, routing, destination options and fragment
// headers to the upper layer (KindIPv6); what it cannot walk past is
// KindOther. The rewrites, ICMPv6 errors (PutICMPv6Error) and echo replies
// work as for IPv4, with the IPv6 pseudo header in every upper-layer
// checksum, ICMPv6's included. ndp.go holds Neighbour Discovery: the
// receive checks of RFC 4861 (NeighborMessage), the answer to a
// solicitation for an owned address, the unsolicited advertisement sent
// when claiming one, and the solicitation that resolves a neighbour.
//
// # Frames as they really arrive
//
// veth and NICs with offloads hand us TCP super-frames of up to 64 KB and
// L4 checksums that are CHECKSUM_PARTIAL: the field holds only the folded,
// non-inverted pseudo-header sum, and the device (or the kernel's
// skb_checksum_help) is to add the segment and invert. Set Parsed.Partial
// when the ring status (TP_STATUS_CSUMNOTREADY) or the virtio-net header
// (VNetNeedsCsum) says so: the rewrites then patch the field without
// inversion, and leave it alone for port changes, which the deferred sum
// covers. Before such a frame leaves without a virtio-net header, complete
// it with Parsed.CompletePartial, or cut a super-frame into MTU-sized
// segments with full checksums with Segment.
//
// # Why hand-written
//
// gopacket's fastest decoder (a preallocated DecodingLayerParser) takes
// about 60 ns for a TCP frame on the development machine; Decode takes
// about 16 ns and also verifies the IPv4 header checksum (BenchmarkDecodeTCP,
// BenchmarkGopacketDecodeTCP). The tests use gopacket, through
// internal/frametest, as an independent oracle.
package frame
