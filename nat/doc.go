// Package nat will hold what LVS-NAT needs beyond the per-frame rewrite:
// masquerading of connections real servers open themselves (the guide's
// `--sport 20 -j MASQUERADE` for active FTP) and the FTP helper that
// rewrites PORT/PASV addresses, as the kernel's ip_vs_ftp. Both are open
// work (issue 7); lvs.cf's masquerade rules are parsed and checked today but
// not applied.
//
// The NAT rewrite itself is done by the dataplane worker
// (dataplane/virtual.go and reply.go) with frame's checksum-patching setters
// (frame.Parsed.SetDst, SetSrc, SetInnerSrc, SetInnerDst).
//
// It must not choose destinations.
package nat
