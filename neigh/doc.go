// Package neigh is lvsd's own neighbour table, one per interface: the MAC
// addresses of the real servers, gateways, sorry servers and clients lvsd
// sends to, learned from ARP replies (and, with IPv6, neighbour
// advertisements), probed while wanted, resolved on a miss. It serves
// every forwarding method alike — NAT, direct routing and tunnelling — and
// the daemon's probes.
//
// It must not touch layer 3 or 4 of a frame.
package neigh
