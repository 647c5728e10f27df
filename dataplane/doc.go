// Package dataplane moves frames: the Link interface and its backends
// (afpacket, tap, linktest), ARP for owned addresses, and the worker loop.
//
// The packet path:
//
//	NIC/veth ──rx ring──▶ parse (Eth/ARP/IPv4/TCP/UDP/ICMP, zero-copy)
//	   ARP for an owned address (VIP, NAT router IP) ──▶ reply
//	   to a virtual service (VIP:port/proto, or fwmark) ──▶ conntrack lookup
//	        hit  ──▶ same destination
//	        miss ──▶ persistence template? ──▶ else scheduler ──▶ new entry
//	        ──▶ NAT: rewrite dst to RIP:port, out the private side
//	            DR:  rewrite dst MAC only, out the same segment
//	   from a real server (NAT reply) ──▶ reverse lookup ──▶ rewrite src to VIP:vport ──▶ out public side
//	   anything else ──▶ left to the kernel
//
// It must not block, log, or allocate per packet.
package dataplane
