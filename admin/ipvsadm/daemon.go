package ipvsadm

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"time"

	"lvs/admin"
)

// WriteDaemon prints h the way ipvsadm -L --daemon lists the kernel's sync
// daemons ("master sync daemon (mcast=eth0, syncid=1)"), followed by what
// Piranha's pulse kept in its log: role, partner, heartbeat ages, and the
// connection and config sync streams. A router without a partner prints
// only that it runs alone.
func WriteDaemon(w io.Writer, h admin.HAStatus, now time.Time) error {
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

func writeConfigSync(bw *bufio.Writer, cf *admin.ConfigSyncStatus, now time.Time) {
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

// writeBGP prints b under lvsadm -L --daemon.
func writeBGP(bw *bufio.Writer, b *admin.BGPStatus, now time.Time) {
	if b == nil {
		return
	}
	if b.Draining {
		fmt.Fprintln(bw, "bgp: drained (every VIP withdrawn; lvsadm drain --undrain announces them again)")
	}
	for _, p := range b.Peers {
		fmt.Fprintf(bw, "bgp peer %s (%v): %s", p.Name, p.Address, p.State)
		if !p.Since.IsZero() {
			fmt.Fprintf(bw, " for %.0fs", now.Sub(p.Since).Seconds())
		}
		if !p.Up && p.Reason != "" {
			fmt.Fprintf(bw, ", last end: %s", p.Reason)
		}
		fmt.Fprintln(bw)
	}
	for _, v := range b.VIPs {
		verb := "withdrawn"
		if v.Announced {
			verb = "announced"
		}
		fmt.Fprintf(bw, "bgp route %v/32: %s (%s)", v.VIP, verb, v.Reason)
		if !v.Since.IsZero() {
			fmt.Fprintf(bw, " for %.0fs", now.Sub(v.Since).Seconds())
		}
		fmt.Fprintln(bw)
	}
}
