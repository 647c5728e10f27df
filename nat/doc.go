// Package nat holds what LVS-NAT needs beyond the per-frame rewrite of
// virtual services' connections:
//
//   - Masquerade (rules.go): the compiled masquerade rules — the guide's
//     `iptables -t nat -A POSTROUTING -p tcp -s 10.11.12.0/24 --sport 20 -j MASQUERADE`
//     for active FTP (§3.5) or broader ones for the real servers' own
//     outbound traffic — and the public address a masqueraded connection
//     takes (the VIP of the real server's virtual server).
//   - Table (table.go): the flows that are not a virtual service's —
//     connections real servers open (masqueraded) and the FTP helper's data
//     connections — keyed both ways (real server → peer, peer → public
//     address), with port allocation that keeps the source port when it is
//     free (as MASQUERADE) and never takes a port a virtual service or a
//     firewall mark would claim, and IPVS's TCP/UDP idle timeouts. Lookups
//     take a shard's read lock and do not allocate.
//   - The FTP helper, as the kernel's ip_vs_ftp: parsers and rewriters of
//     227/229 replies and PORT/EPRT commands (ftp.go), and per control
//     connection the sequence-number correction after a rewrite changed a
//     segment's length plus the expectations of announced data connections
//     (helper.go).
//
// The rewrite of frames is done by the dataplane worker (dataplane/masq.go
// and dataplane/ftp.go, with frame's checksum-patching setters); this
// package does not parse frames.
//
// It must not choose destinations: a data connection goes to the real
// server its control connection was scheduled to, a masqueraded one to the
// real server that opened it.
package nat
