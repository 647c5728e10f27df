package frame

import (
	"encoding/binary"
	"encoding/hex"
)

// MAC is an IEEE 802 MAC-48 address. It is an array so it compares with ==
// and copies without allocating.
type MAC [6]byte

// BroadcastMAC is ff:ff:ff:ff:ff:ff.
var BroadcastMAC = MAC{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// String formats m as six colon-separated lowercase hex bytes.
func (m MAC) String() string {
	var b [17]byte
	for i := range m {
		if i > 0 {
			b[3*i-1] = ':'
		}
		hex.Encode(b[3*i:3*i+2], m[i:i+1])
	}
	return string(b[:])
}

// EtherType values (IEEE 802.3, IANA ieee-802-numbers).
const (
	EtherTypeIPv4 uint16 = 0x0800
	EtherTypeARP  uint16 = 0x0806
	EtherTypeVLAN uint16 = 0x8100 // IEEE 802.1Q tag
)

// Header sizes.
const (
	EthernetLen = 14 // destination, source, EtherType
	VLANTagLen  = 4  // TPID 0x8100 and TCI
)

const (
	ethDst  = 0
	ethSrc  = 6
	ethType = 12
	vlanTCI = 14 // TCI of an 802.1Q tag, right after the TPID at ethType
	vlanEth = 16 // encapsulated EtherType after the tag
)

// Ethernet is a view of an Ethernet II frame, optionally carrying one
// 802.1Q tag. Call Valid before any accessor.
type Ethernet []byte

// Valid reports whether e holds an Ethernet header, and the whole 802.1Q
// tag when the frame is tagged.
func (e Ethernet) Valid() bool {
	if len(e) < EthernetLen {
		return false
	}
	return e.Type() != EtherTypeVLAN || len(e) >= EthernetLen+VLANTagLen
}

// Dst returns the destination MAC.
func (e Ethernet) Dst() MAC { return MAC(e[ethDst : ethDst+6]) }

// Src returns the source MAC.
func (e Ethernet) Src() MAC { return MAC(e[ethSrc : ethSrc+6]) }

// SetDst sets the destination MAC (the direct-routing rewrite).
func (e Ethernet) SetDst(m MAC) { copy(e[ethDst:ethDst+6], m[:]) }

// SetSrc sets the source MAC.
func (e Ethernet) SetSrc(m MAC) { copy(e[ethSrc:ethSrc+6], m[:]) }

// Type returns the outer EtherType: EtherTypeVLAN for a tagged frame.
func (e Ethernet) Type() uint16 { return binary.BigEndian.Uint16(e[ethType:]) }

// Tagged reports whether the frame carries an 802.1Q tag.
func (e Ethernet) Tagged() bool { return e.Type() == EtherTypeVLAN }

// VLAN returns the 12-bit VLAN ID of the 802.1Q tag, or 0 when untagged.
// Priority and DEI bits are dropped (IEEE 802.1Q §9.6).
func (e Ethernet) VLAN() uint16 {
	if !e.Tagged() {
		return 0
	}
	return binary.BigEndian.Uint16(e[vlanTCI:]) & 0x0fff
}

// PayloadType returns the EtherType of the payload, looking through one
// 802.1Q tag.
func (e Ethernet) PayloadType() uint16 {
	if e.Tagged() {
		return binary.BigEndian.Uint16(e[vlanEth:])
	}
	return e.Type()
}

// HeaderLen returns the offset of the payload (the L3 header): 14, or 18
// with a tag. Only one tag is looked through; a QinQ frame reports
// PayloadType EtherTypeVLAN and is left to the kernel.
func (e Ethernet) HeaderLen() int {
	if e.Tagged() {
		return EthernetLen + VLANTagLen
	}
	return EthernetLen
}

// Payload returns the bytes after the Ethernet header and tag.
func (e Ethernet) Payload() []byte { return e[e.HeaderLen():] }

// StripVLAN removes the 802.1Q tag of frame in place by moving the MAC
// addresses 4 bytes forward, and returns the untagged frame, which starts
// 4 bytes into frame. An untagged or invalid frame is returned unchanged.
func StripVLAN(frame []byte) []byte {
	e := Ethernet(frame)
	if !e.Valid() || !e.Tagged() {
		return frame
	}
	copy(frame[VLANTagLen:VLANTagLen+12], frame[:12])
	return frame[VLANTagLen:]
}

// PutVLAN writes frame with an 802.1Q tag of VLAN id into dst and returns
// the number of bytes written, or 0 when frame is not an untagged Ethernet
// frame or dst is shorter than len(frame)+4. dst and frame must not overlap.
func PutVLAN(dst, frame []byte, id uint16) int {
	e := Ethernet(frame)
	if !e.Valid() || e.Tagged() || len(dst) < len(frame)+VLANTagLen {
		return 0
	}
	copy(dst[:12], frame[:12])
	binary.BigEndian.PutUint16(dst[ethType:], EtherTypeVLAN)
	binary.BigEndian.PutUint16(dst[vlanTCI:], id&0x0fff)
	copy(dst[vlanEth:], frame[ethType:])
	return len(frame) + VLANTagLen
}
