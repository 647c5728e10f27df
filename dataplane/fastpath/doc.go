// Package fastpath is lvsd's established-flow fast path in the kernel, in
// the manner of Katran and Open vSwitch: a tcx ingress program on each of
// lvsd's interfaces looks every frame up in an LRU flow map that lvsd's Go
// workers fill, and for a hit rewrites it (MAC addresses, NAT addresses and
// ports, TTL, incremental checksums that respect partial checksums and GSO
// super-frames) and redirects it to the egress interface, inside the
// receive softirq — so an established flow costs the kernel's forwarding
// budget, never a copy to user space, and a flood cannot livelock lvsd.
// IPv4 and IPv6 flows have a flow map each; an IPv6 frame leaves the
// IPv4 branch at its EtherType test, so IPv4 frames pay nothing for it
// (prog6.go, flow6.go).
//
// Everything the Go worker must see — misses, SYN segments (a flow's FIN
// and RST are forwarded and reported, close.go, and so is a SYN that
// reuses a half-closed direct-routing flow, reuse.go),
// fragments, IP options and IPv6 extension headers, ICMP and ICMPv6
// (Neighbour Discovery with it), ARP, TTL or hop limit about to expire,
// frames over the egress MTU, VLAN-tagged frames, and flows being
// withdrawn — is passed on unchanged ("punted"). The same program
// schedules new flows of the services lvsd hands it, IPv4 and IPv6
// (newflow.go, newflow6.go), and reports the FIN and RST segments it
// forwards and the ACK that completes a handshake it forwards (close.go).
// lvsd's packet
// sockets are bound per protocol (ETH_P_IP, ETH_P_IPV6, ETH_P_ARP), so
// the kernel delivers them a frame after tcx, and only the frames the
// program passed on: an ETH_P_ALL tap would run before tcx and copy every
// forwarded frame (and every frame would be classified twice, once by a
// socket filter keeping it out of the ring).
//
// The program is assembled in Go with cilium/ebpf's asm package: no
// clang, no cgo, no object files. Workers install a direction of a flow once
// the Go path has forwarded a packet of it in an established state
// (dataplane.FastPath); the connection table asks for the last time a flow
// was seen before it expires one, and withdraws flows it removes; a poller
// folds the per-destination packet and byte counters into the ipvs
// counters, so timeouts, `lvsadm --stats`, `-L -c`, metrics and connection
// sync stay exact.
//
// The flow maps start small and Resize grows them without losing a flow
// (resize_linux.go): a map's size is paid at every lookup.
//
// It owns the program, the maps and their attachments; it must not decide
// which flows exist (conntrack does) or parse frames in Go beyond what an
// entry needs.
package fastpath
