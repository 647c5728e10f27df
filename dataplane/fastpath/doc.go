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
// Everything the Go worker must see — misses, SYN segments (and FIN and
// RST of IPv6 flows; an IPv4 flow's are forwarded and reported, close.go),
// fragments, IP options and IPv6 extension headers, ICMP and ICMPv6
// (Neighbour Discovery with it), ARP, TTL or hop limit about to expire,
// frames over the egress MTU, VLAN-tagged frames, and flows being
// withdrawn — is passed on unchanged ("punted"). A socket filter with the
// same decision, attached to lvsd's AF_PACKET receive sockets, keeps the
// frames the fast path takes out of the packet ring: the packet taps run
// before tcx, so without it every forwarded frame would also be copied to
// lvsd.
//
// Both programs are assembled in Go with cilium/ebpf's asm package: no
// clang, no cgo, no object files. Workers install a direction of a flow once
// the Go path has forwarded a packet of it in an established state
// (dataplane.FastPath); the connection table asks for the last time a flow
// was seen before it expires one, and withdraws flows it removes; a poller
// folds the per-destination packet and byte counters into the ipvs
// counters, so timeouts, `lvsadm --stats`, `-L -c`, metrics and connection
// sync stay exact.
//
// It owns the programs, the maps and their attachments; it must not decide
// which flows exist (conntrack does) or parse frames in Go beyond what an
// entry needs.
package fastpath
