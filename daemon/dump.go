package daemon

import (
	"bytes"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"time"

	"lvs/admin/api"
	"lvs/admin/ipvsadm"
	"lvs/internal/sdnotify"
)

// dumpDir is where SIGUSR1 and SIGUSR2 write, next to the control socket
// (keepalived writes /tmp/keepalived.data and .stats).
func (d *lvsd) dumpDir() string {
	if d.opts.Socket != "" && d.opts.Socket != "off" {
		return filepath.Dir(d.opts.Socket)
	}
	return filepath.Dir(api.DefaultSocket)
}

// dumpState writes lvsd.data (SIGUSR1): role, partner, the table and every
// real server's health.
func (d *lvsd) dumpState() {
	var b bytes.Buffer
	fmt.Fprintf(&b, "lvsd state at %s\n\n", time.Now().Format(time.RFC3339))
	if h := d.HA(); h.Role != "" {
		fmt.Fprintf(&b, "role: %s, state %s, partner alive: %v, takeovers %d, releases %d\n",
			h.Role, h.State, h.PeerAlive, h.Takeovers, h.Releases)
		for _, c := range h.Channels {
			fmt.Fprintf(&b, "  heartbeat %s from %s: age %v\n", c.Channel, c.Peer, c.Age)
		}
	} else {
		fmt.Fprintf(&b, "role: alone (no backup in lvs.cf), active\n")
	}
	b.WriteString("\n")
	ipvsadm.WriteList(&b, d.Status(), 0)
	b.WriteString("\nhealth checks:\n")
	hs := d.Health()
	sort.Slice(hs, func(i, j int) bool { return hs[i].Virtual+hs[i].Server < hs[j].Virtual+hs[j].Server })
	for _, h := range hs {
		fmt.Fprintf(&b, "  %s/%s %s %s weight %d since %s\n", h.Virtual, h.Server, h.Addr, h.State, h.Weight,
			h.Since.Format(time.RFC3339))
	}
	d.writeDump("lvsd.data", b.Bytes())
}

// dumpStats writes lvsd.stats (SIGUSR2): the --stats table and the
// dataplane and connection table counters.
func (d *lvsd) dumpStats() {
	var b bytes.Buffer
	fmt.Fprintf(&b, "lvsd statistics at %s\n\n", time.Now().Format(time.RFC3339))
	ipvsadm.WriteList(&b, d.Status(), ipvsadm.FmtStats)
	dp := d.Dataplane()
	fmt.Fprintf(&b, "\ndataplane: mode %s, rx %d tx %d, fast path installs %d errors %d evicted %d\n",
		dp.Mode, dp.RX, dp.TX, dp.FastInstalls, dp.FastErrors, dp.FastEvicted)
	if dp.FlowMap > 0 {
		fmt.Fprintf(&b, "  fast path flow maps: %d entries, IPv6 %d, grown %d times\n", dp.FlowMap, dp.FlowMap6, dp.FlowMapResizes)
	}
	for _, m := range []map[string]uint64{dp.Verdicts, dp.Drops} {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if m[k] > 0 {
				fmt.Fprintf(&b, "  %s %d\n", k, m[k])
			}
		}
	}
	for _, name := range slices.Sorted(maps.Keys(dp.RingFrames)) {
		// Frames the kernel offered a receive ring and those it lost
		// because the ring was full: lvsd not keeping up, whatever the
		// frames were (a flood and the legitimate traffic alike).
		fmt.Fprintf(&b, "  ring %s: frames %d, dropped full %d\n", name, dp.RingFrames[name], dp.RingDrops[name])
	}
	ct := d.Conntrack()
	fmt.Fprintf(&b, "connection table: %d of %d entries, %d half-open, created %d, expired %d, full %d\n",
		ct.Entries, ct.MaxEntries, ct.HalfOpen, ct.Created, ct.Expired, ct.Full)
	d.writeDump("lvsd.stats", b.Bytes())
}

func (d *lvsd) writeDump(name string, data []byte) {
	dir := d.dumpDir()
	path := filepath.Join(dir, name)
	if err := os.MkdirAll(dir, 0o755); err == nil {
		err = os.WriteFile(path, data, 0o644)
		if err == nil {
			d.log.Info("wrote "+name, "file", path)
			return
		}
	}
	d.log.Error("writing "+name, "file", path)
}

// notify tells systemd (Type=notify) about lvsd's state; it does nothing
// outside systemd.
func (d *lvsd) notify(state string) {
	if err := sdnotify.Notify(state); err != nil {
		d.log.Warn("telling systemd", "state", state, "err", err)
	}
}
