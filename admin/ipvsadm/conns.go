package ipvsadm

import (
	"bufio"
	"fmt"
	"io"

	"lvs/admin"
)

// WriteConns writes connection entries as `ipvsadm -L -n -c` (list_conn and
// print_conn in ipvsadm.c): a title, a header, then one row per entry in
// the order given, expiry as mm:ss. With FmtPersistentConn the header gains
// the "pe name" and "pe_data" columns, which ipvsadm fills only for entries
// of a persistence engine (SIP); lvsd has none, so rows keep six columns.
func WriteConns(w io.Writer, conns []admin.ConnStatus, f ListFormat) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintln(bw, "IPVS connection entries")
	if f&FmtPersistentConn != 0 {
		fmt.Fprintf(bw, "pro expire %-11s %-18s %-18s %-18s %-16s %s\n",
			"state", "source", "virtual", "destination", "pe name", "pe_data")
	} else {
		fmt.Fprintf(bw, "pro expire %-11s %-18s %-18s %s\n", "state", "source", "virtual", "destination")
	}
	for _, c := range conns {
		secs := max(int64(c.Expires.Seconds()), 0)
		exp := fmt.Sprintf("%02d:%02d", secs/60, secs%60)
		fmt.Fprintf(bw, "%-3s %-6s %-11s %-18s %-18s %s\n", c.Proto, exp, c.State, c.Client, c.Virtual, c.Dest)
	}
	return bw.Flush()
}
