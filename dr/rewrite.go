package dr

import "lvs/frame"

// Rewrite turns a frame that arrived for a VIP into one for a real server on
// the same segment, as IPVS direct routing (ip_vs_dr_xmit): only the
// Ethernet addresses change — destination to the real server's MAC, source
// to the director's own — and the IP packet is left exactly as the client
// sent it, so the real server (holding the VIP on a non-ARPing interface)
// answers the client directly. frame must hold a valid Ethernet header.
func Rewrite(f []byte, realMAC, ownMAC frame.MAC) {
	e := frame.Ethernet(f)
	e.SetDst(realMAC)
	e.SetSrc(ownMAC)
}
