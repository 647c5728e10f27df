package admin

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// PathHA is GET: the router's role, partner, heartbeats and sync streams
// (HAStatus), what lvsadm -L --daemon prints. The API serves it when its
// Daemon has an HA method (lvsd's does).
const PathHA = "/v1/ha"

// HA returns the router's pair status (empty Role for a router alone).
func (c *Client) HA(ctx context.Context) (HAStatus, error) {
	var h HAStatus
	err := c.do(ctx, http.MethodGet, PathHA, nil, &h)
	return h, err
}

// WriteDaemon prints h the way ipvsadm -L --daemon lists the kernel's sync
// daemons ("master sync daemon (mcast=eth0, syncid=1)"), followed by what
// Piranha's pulse kept in its log: role, partner, heartbeat ages, and the
// connection and config sync streams. A router without a partner prints
// only that it runs alone.
func WriteDaemon(w io.Writer, h HAStatus, now time.Time) error {
	bw := bufio.NewWriter(w)
	if h.Dataplane != "" {
		fmt.Fprintf(bw, "dataplane: %s\n", h.Dataplane)
	}
	if cs := h.ConnSync; cs != nil {
		iface := cs.Iface
		if iface == "" {
			iface = "(heartbeat channel)"
		}
		fmt.Fprintf(bw, "%s sync daemon (mcast=%s, syncid=%d)\n", cs.Mode, iface, cs.SyncID)
	}
	if h.Role == "" {
		fmt.Fprintln(bw, "router: alone (no backup in lvs.cf): active")
		writeBGP(bw, h.BGP, now)
		return bw.Flush()
	}
	fmt.Fprintf(bw, "router: %s, %s", h.Role, h.State)
	if !h.Since.IsZero() {
		fmt.Fprintf(bw, " since %s", h.Since.Local().Format(time.DateTime))
	}
	fmt.Fprintf(bw, " (%d takeovers, %d releases)", h.Takeovers, h.Releases)
	if len(h.Faults) > 0 {
		fmt.Fprintf(bw, ", faults: %s", strings.Join(h.Faults, ", "))
	}
	fmt.Fprintln(bw)
	alive := "dead"
	if h.PeerAlive {
		alive = "alive"
	}
	fmt.Fprintf(bw, "partner: %v %s, serial_no %d (ours %d", h.Peer, alive, h.PeerSerial, h.Serial)
	if h.SerialMismatch {
		fmt.Fprint(bw, ": MISMATCH")
	}
	fmt.Fprintln(bw, ")")
	for _, c := range h.Channels {
		age := "never heard"
		if c.Age >= 0 {
			age = fmt.Sprintf("%.1fs ago", c.Age.Seconds())
		}
		fmt.Fprintf(bw, "heartbeat %s: %v, last %s\n", c.Channel, c.Peer, age)
	}
	if cs := h.ConnSync; cs != nil {
		verb := "sent"
		if cs.Mode == "backup" {
			verb = "received"
		}
		fmt.Fprintf(bw, "connection sync: %s, %s %d records in %d datagrams", cs.Mode, verb, cs.Records, cs.Datagrams)
		if cs.Pending > 0 {
			fmt.Fprintf(bw, ", %d pending", cs.Pending)
		}
		if cs.Refused+cs.Lost > 0 {
			fmt.Fprintf(bw, ", %d refused, %d lost", cs.Refused, cs.Lost)
		}
		if !cs.Last.IsZero() {
			fmt.Fprintf(bw, ", lag %.1fs", cs.Lag.Seconds())
		}
		fmt.Fprintln(bw)
	}
	if cf := h.ConfigSync; cf != nil {
		writeConfigSync(bw, cf, now)
	}
	writeBGP(bw, h.BGP, now)
	return bw.Flush()
}

func writeConfigSync(bw *bufio.Writer, cf *ConfigSyncStatus, now time.Time) {
	if !cf.Enabled {
		fmt.Fprintf(bw, "config sync: off (%s)\n", cf.Reason)
		return
	}
	fmt.Fprintf(bw, "config sync: on, %d pushed, %d received, %d refused", cf.Pushes, cf.Received, cf.Refused)
	if !cf.LastCheck.IsZero() {
		fmt.Fprintf(bw, ", last check %.0fs ago", now.Sub(cf.LastCheck).Seconds())
	}
	if cf.LastResult != "" {
		fmt.Fprintf(bw, ", last push: %s", cf.LastResult)
	}
	if cf.LastError != "" {
		fmt.Fprintf(bw, ", last error: %s", cf.LastError)
	}
	fmt.Fprintln(bw)
}
