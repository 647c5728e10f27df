package bench

import (
	"fmt"
	"slices"
	"strings"
)

// ipv6Figures are the rows of the IPv6 section: the figures both families
// measure (no TCP window over IPv6).
var ipv6Figures = []string{
	"UDP delivered at saturation",
	"generator sent at saturation",
	"CPU per packet at saturation, director core",
	"UDP delivered at fixed load",
	"CPU per packet at fixed load, director core",
	"lvsd process CPU per packet at fixed load",
	"request latency p50 at fixed load",
	"request latency p99 at fixed load",
	"requests lost at fixed load",
}

// writeIPv6 renders the IPv6 NAT figures beside the IPv4 NAT ones of the
// same run: klb and lvsd-1w, klb6 and lvsd6, each lvsd with its ratio to
// the kernel of its family. Nothing when the run had no IPv6 contender.
func writeIPv6(b *strings.Builder, r *Report) {
	if r.Contender(KernelLB6) == nil && r.Contender(LVSD6) == nil {
		return
	}
	w := func(f string, a ...any) { fmt.Fprintf(b, f, a...) }
	w("## IPv6 NAT beside IPv4 (same run)\n\n")
	w("The same topology, placement and windows; the IPv6 services are the IPv4 ones on an IPv6 VIP over the real servers' IPv6 addresses (2001:db8::/32, inside the namespaces), the flood %d-byte IPv6 frames (the same UDP payload as the %d-byte IPv4 frames) from 2001:db8:250:1:ff00::/72. "+
		"The kernel's IPv6 NAT (%s) is nftables `ip6` DNAT with conntrack; lvsd (%s) serves them through nat_router6, in the dataplane mode it reports: with tcx the eBPF fast path schedules new IPv6 flows and forwards established ones, as for IPv4. No TCP window over IPv6.\n\n",
		frameBytes6, r.Settings.FrameBytes, KernelLB6, LVSD6)
	cols := []struct {
		name, head string
	}{{KernelLB, "IPv4"}, {LVSD1, "IPv4"}, {"", ""}, {KernelLB6, "IPv6"}, {LVSD6, "IPv6"}, {"", ""}}
	w("| figure |")
	for i, c := range cols {
		if c.name == "" {
			x, base := cols[i-1].name, cols[i-2].name
			w(" %s ÷ %s |", x, base)
			continue
		}
		head := c.name + " (" + c.head + ")"
		if x := r.Contender(c.name); x != nil && x.Kind == "lvsd" && x.Available {
			head += " [" + modeText(x.Modes()) + "]"
		}
		w(" %s |", head)
	}
	w("\n|---|%s\n", strings.Repeat("---:|", len(cols)))
	for _, f := range Figures {
		if !slices.Contains(ipv6Figures, f.Name) || !anyMeasured(r, f) {
			continue
		}
		unit := ""
		if f.Unit != "" {
			unit = " (" + f.Unit + ")"
		}
		w("| %s%s |", f.Name, unit)
		for i, c := range cols {
			switch {
			case c.name != "":
				w(" %s |", cellOf(r.Contender(c.name), f))
			case f.Context:
				w(" |")
			default:
				w(" %s |", ratioOf(r.Contender(cols[i-1].name), r.Contender(cols[i-2].name), f))
			}
		}
		w("\n")
	}
	w("\n")
}

// cellOf is cell for a contender the run may not have had (nil: "n/a").
func cellOf(c *Contender, f Figure) string {
	if c == nil {
		return "n/a"
	}
	return cell(c, f)
}

// ratioOf is ratioCell for contenders the run may not have had.
func ratioOf(c, base *Contender, f Figure) string {
	if c == nil {
		return "n/a"
	}
	return ratioCell(c, base, f)
}
