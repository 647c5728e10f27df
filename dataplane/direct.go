package dataplane

import "lvs/frame"

// The forwarding methods, one file each: NAT (virtual.go toward the real
// servers, reply.go back, with the nat package's masquerade and FTP
// tables in masq.go and ftp.go), direct routing (this file) and IPIP
// tunnelling (tunnel.go). The eBPF fast path (fast.go) repeats NAT and
// direct routing for established flows in the kernel.

// rewriteDirect turns a frame that arrived for a VIP into one for a real
// server on the same segment, as IPVS direct routing (ip_vs_dr_xmit): only
// the Ethernet addresses change — destination to the real server's MAC,
// source to the director's own — and the IP packet is left exactly as the
// client sent it, so the real server (holding the VIP on a non-ARPing
// interface) answers the client directly. f must hold a valid Ethernet
// header.
func rewriteDirect(f []byte, realMAC, ownMAC frame.MAC) {
	e := frame.Ethernet(f)
	e.SetDst(realMAC)
	e.SetSrc(ownMAC)
}
