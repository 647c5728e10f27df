package bench

import "slices"

// IPv6 NAT (issue 18): two contenders do the NAT director's job for IPv6
// on the same testbed, beside the IPv4 ones and in the same run:
//
//   - klb6: the kernel, nftables `ip6` DNAT (`numgen inc mod N` over the
//     IPv6 real servers) with conntrack and IPv6 forwarding, the director
//     owning the IPv6 VIP and nat_router6;
//   - lvsd6: lvsd with an IPv6 NAT virtual service (nat_router6), one
//     worker, its default dataplane mode (the mode the report names is the
//     one lvsd reported, as for the IPv4 rows): established IPv6 flows are
//     forwarded by the eBPF fast path's IPv6 branch, which also schedules
//     new ones (rr and wrr services), as for IPv4.
//
// Both run the saturation and the fixed-load windows (delivered pps and CPU
// per packet, with the latency probes), not the TCP window nor the
// overload and scaling phases, so make bench stays short. The addresses
// are of the documentation prefix 2001:db8::/32, inside the run's
// namespaces only (ipv6_linux.go).

// ipv6Contenders are the contenders that run over IPv6.
var ipv6Contenders = []string{KernelLB6, LVSD6}

// isIPv6 reports whether contender name runs over IPv6.
func isIPv6(name string) bool { return slices.Contains(ipv6Contenders, name) }

// wants6 reports whether o runs an IPv6 contender: only then does the
// testbed get its IPv6 addresses.
func (o Options) wants6() bool { return slices.ContainsFunc(o.Contenders, isIPv6) }

// frameBytes6 is the IPv6 flood's frame: Ethernet + IPv6 + UDP + the
// IPv4 frames' 64-byte payload (gen6_linux.go).
const frameBytes6 = 14 + 40 + 8 + 64 // 126
