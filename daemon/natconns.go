package daemon

import (
	"time"

	"lvs/admin"
	"lvs/conntrack"
	"lvs/ipvs"
	"lvs/nat"
)

// natConns appends the dataplane's masqueraded and FTP data flows to a
// connection listing (lvsadm -L -c, /proc/net/ip_vs_conn), as the kernel
// lists the FTP data connections ip_vs_ftp creates: the peer as the
// source, the public address as the virtual one, the real server's side as
// the destination. The listing stays within maxListedConns.
func (d *lvsd) natConns(out []admin.ConnStatus) []admin.ConnStatus {
	if len(out) >= maxListedConns {
		return out
	}
	d.dp.NAT.Entries(d.dp.Tick(time.Now()), func(e nat.Entry) bool {
		out = append(out, natConnStatus(e))
		return len(out) < maxListedConns
	})
	return out
}

// natConnStatus is one NAT flow as a connection entry.
func natConnStatus(e nat.Entry) admin.ConnStatus {
	p := ipvs.Proto(e.Proto)
	return admin.ConnStatus{Proto: p.String(), Client: e.Peer, Virtual: e.Outer, Dest: e.Inner,
		State: conntrack.StateName(p, e.State), Expires: max(e.Left, 0)}
}
