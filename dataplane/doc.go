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
//	            TUN: wrap in an outer IPv4 header (IPIP) to the RIP, out the port
//	                 that routes to it (GSO super-frames segmented first; too big
//	                 without DF: the outer packet fragmented, tunnel.go)
//	   from a real server (NAT reply) ──▶ reverse lookup ──▶ rewrite src to VIP:vport ──▶ out public side
//	        (FTP control connection with ftp_helper: 227/229 read, 227 address rewritten, seq corrected)
//	   from a real server, no connection ──▶ masquerade flow, or a rule / FTP expectation opens one
//	        ──▶ rewrite src to VIP:port ──▶ out the side of the destination (masq.go)
//	   to a VIP, no service ──▶ masquerade flow, or an expected FTP data connection ──▶ rewrite dst (masq.go)
//	   anything else ──▶ left to the kernel
//	   any of these whose next hop has no MAC yet ──▶ held (3 per neighbour, 3 s) while
//	        the control loop resolves it, then sent by it (neighqueue.go)
//
// It must not block, log, or allocate per packet.
package dataplane
