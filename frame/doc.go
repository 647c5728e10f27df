// Package frame provides zero-copy views of Ethernet, 802.1Q, ARP, IPv4, TCP,
// UDP and ICMP headers, incremental checksum patching (RFC 1624), and one
// Parsed decode per frame.
//
// It must not allocate.
package frame
