package ipvsadm

import (
	"bufio"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"

	"lvs/admin"
	"lvs/ipvs"
)

// ListFormat selects one of ipvsadm's list layouts (ipvsadm.c FMT_*).
type ListFormat uint16

// List layouts and modifiers, as ipvsadm's options.
const (
	FmtStats          ListFormat = 1 << iota // --stats
	FmtRate                                  // --rate
	FmtThresholds                            // --thresholds
	FmtPersistentConn                        // --persistent-conn
	FmtExact                                 // --exact
	FmtRule                                  // -S: save in -R form
	FmtNoSort                                // --nosort
)

// TableSize is what the "IP Virtual Server version" line reports as the
// connection hash size; tools that parse the line expect a number there.
const TableSize = 4096

// WriteList writes st in ipvsadm's `-L -n` layouts (print_title and
// print_service_entry in ipvsadm.c), byte for byte, including the trailing
// blanks of the destination lines. Names are always numeric (-n).
func WriteList(w io.Writer, st admin.Status, f ListFormat) error {
	bw := bufio.NewWriter(w)
	if f&FmtNoSort == 0 {
		st.Sort()
	}
	if f&FmtRule == 0 {
		fmt.Fprintf(bw, "IP Virtual Server version 1.2.1 (size=%d)\n", TableSize)
	}
	writeTitle(bw, f)
	for _, s := range st.Services {
		writeService(bw, s, f)
	}
	return bw.Flush()
}

func writeTitle(w io.Writer, f ListFormat) {
	const dest = "  -> RemoteAddress:Port\n"
	switch {
	case f&FmtStats != 0:
		fmt.Fprintf(w, "%-33s %8s %8s %8s %8s %8s\n"+dest, "Prot LocalAddress:Port", "Conns", "InPkts", "OutPkts", "InBytes", "OutBytes")
	case f&FmtRate != 0:
		fmt.Fprintf(w, "%-33s %8s %8s %8s %8s %8s\n"+dest, "Prot LocalAddress:Port", "CPS", "InPPS", "OutPPS", "InBPS", "OutBPS")
	case f&FmtThresholds != 0:
		fmt.Fprintf(w, "%-33s %-10s %-10s %-10s %-10s\n"+dest, "Prot LocalAddress:Port", "Uthreshold", "Lthreshold", "ActiveConn", "InActConn")
	case f&FmtPersistentConn != 0:
		fmt.Fprintf(w, "%-33s %-9s %-11s %-10s %-10s\n"+dest, "Prot LocalAddress:Port", "Weight", "PersistConn", "ActiveConn", "InActConn")
	case f&FmtRule == 0:
		fmt.Fprint(w, "Prot LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n")
	}
}

// serviceName is ipvsadm's svc_name: "TCP  a.b.c.d:p" cut to 33 bytes,
// "TCP  [v6]:p" uncut, or "FWM  n" ("FWM  n IPv6"); in rule form
// "-t a.b.c.d:p", "-t [v6]:p", "-f n" ("-f n -6").
func serviceName(s admin.ServiceStatus, rule bool) string {
	if s.FWMark != 0 {
		name := "FWM  " + strconv.FormatUint(uint64(s.FWMark), 10)
		if rule {
			name = "-f " + strconv.FormatUint(uint64(s.FWMark), 10)
		}
		switch {
		case s.Is6() && rule:
			name += " -6"
		case s.Is6():
			name += " IPv6"
		}
		return name
	}
	ap := netip.AddrPortFrom(s.Addr, s.Port).String()
	if rule {
		if s.Proto == "UDP" {
			return "-u " + ap
		}
		return "-t " + ap
	}
	name := s.Proto + "  " + ap
	if len(name) > 33 && !s.Is6() {
		name = name[:33]
	}
	return name
}

// maskString formats a persistence prefix length as a dotted netmask.
func maskString(bits int) string {
	var b [4]byte
	for i := 0; i < bits && i < 32; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	return netip.AddrFrom4(b).String()
}

func writeService(w io.Writer, s admin.ServiceStatus, f ListFormat) {
	name := serviceName(s, f&FmtRule != 0)
	persist := func(flag, maskWord string) {
		if s.Persistence <= 0 {
			return
		}
		fmt.Fprintf(w, " %s %d", flag, int64(s.Persistence.Seconds()))
		switch v6 := s.Is6(); {
		case v6 && s.PMaskBits > 0 && s.PMaskBits < 128: // a prefix length, "mask 64"
			fmt.Fprintf(w, " %s %d", maskWord, s.PMaskBits)
		case !v6 && s.PMaskBits > 0 && s.PMaskBits < 32:
			fmt.Fprintf(w, " %s %s", maskWord, maskString(s.PMaskBits))
		}
		if s.OnePacket && f&FmtRule == 0 {
			fmt.Fprint(w, " ops")
		}
	}
	switch {
	case f&FmtRule != 0:
		fmt.Fprintf(w, "-A %s -s %s", name, s.Sched)
		persist("-p", "-M")
		// As ipvsadm 1.31 (1.26 wrote " ops", which -R refused).
		if s.OnePacket {
			fmt.Fprint(w, " -o")
		}
		if len(s.SchedFlags) > 0 {
			fmt.Fprintf(w, " -b %s", strings.Join(s.SchedFlags, ","))
		}
	case f&FmtStats != 0:
		fmt.Fprintf(w, "%-33s", name)
		largenums(w, f, s.Stats.Conns, s.Stats.InPkts, s.Stats.OutPkts, s.Stats.InBytes, s.Stats.OutBytes)
	case f&FmtRate != 0:
		fmt.Fprintf(w, "%-33s", name)
		largenums(w, f, s.Stats.CPS, s.Stats.InPPS, s.Stats.OutPPS, s.Stats.InBPS, s.Stats.OutBPS)
	default:
		fmt.Fprintf(w, "%s %s", name, s.Sched)
		persist("persistent", "mask")
	}
	fmt.Fprintln(w)
	for _, d := range s.Dests {
		writeDest(w, name, s.Is6(), d, f)
	}
}

// writeDest writes one destination line of service svc; as ipvsadm, the
// address is cut to 28 bytes unless the service is IPv6.
func writeDest(w io.Writer, svc string, v6 bool, d admin.DestStatus, f ListFormat) {
	name := netip.AddrPortFrom(d.Addr, d.Port).String()
	if f&FmtRule != 0 {
		fmt.Fprintf(w, "-a %s -r %s %s -w %d", svc, name, forwardSwitch(d.Forward), d.Weight)
		// ipvsadm -S drops thresholds; lvsadm keeps them so -R restores them.
		if d.UThreshold != 0 {
			fmt.Fprintf(w, " -x %d", d.UThreshold)
		}
		if d.LThreshold != 0 {
			fmt.Fprintf(w, " -y %d", d.LThreshold)
		}
		fmt.Fprintln(w)
		return
	}
	if len(name) > 28 && !v6 {
		name = name[:28]
	}
	switch {
	case f&FmtStats != 0:
		fmt.Fprintf(w, "  -> %-28s", name)
		largenums(w, f, d.Stats.Conns, d.Stats.InPkts, d.Stats.OutPkts, d.Stats.InBytes, d.Stats.OutBytes)
		fmt.Fprintln(w)
	case f&FmtRate != 0:
		fmt.Fprintf(w, "  -> %-28s %8d %8d %8d", name, uint32(d.Stats.CPS), uint32(d.Stats.InPPS), uint32(d.Stats.OutPPS))
		largenums(w, f, d.Stats.InBPS, d.Stats.OutBPS)
		fmt.Fprintln(w)
	case f&FmtThresholds != 0:
		fmt.Fprintf(w, "  -> %-28s %-10d %-10d %-10d %-10d\n", name, d.UThreshold, d.LThreshold, d.Active, d.Inactive)
	case f&FmtPersistentConn != 0:
		fmt.Fprintf(w, "  -> %-28s %-9d %-11d %-10d %-10d\n", name, d.Weight, d.Persist, d.Active, d.Inactive)
	default:
		fmt.Fprintf(w, "  -> %-28s %-7s %-6d %-10d %-10d\n", name, d.Forward, d.Weight, d.Active, d.Inactive)
	}
}

func forwardSwitch(fwd string) string {
	switch fwd {
	case "Masq":
		return "-m"
	case "Tunnel":
		return "-i"
	}
	return "-g"
}

// largenums prints counters as ipvsadm's print_largenum: 9 columns, scaled
// to K, M, G or T past 10^8, or exact with --exact.
func largenums(w io.Writer, f ListFormat, vals ...uint64) {
	for _, v := range vals {
		if f&FmtExact != 0 {
			n := len(strconv.FormatUint(v, 10))
			width := 9
			if n > 8 {
				width = n + 1
			}
			fmt.Fprintf(w, "%*d", width, v)
			continue
		}
		switch {
		case v < 100_000_000:
			fmt.Fprintf(w, "%9d", v)
		case v < 1_000_000_000:
			fmt.Fprintf(w, "%8dK", v/1_000)
		case v < 100_000_000_000:
			fmt.Fprintf(w, "%8dM", v/1_000_000)
		case v < 100_000_000_000_000:
			fmt.Fprintf(w, "%8dG", v/1_000_000_000)
		default:
			fmt.Fprintf(w, "%8dT", v/1_000_000_000_000)
		}
	}
}

// WriteTimeouts writes `ipvsadm -L --timeout`.
func WriteTimeouts(w io.Writer, t admin.Timeouts) error {
	_, err := fmt.Fprintf(w, "Timeout (tcp tcpfin udp): %d %d %d\n",
		int64(t.TCP.Seconds()), int64(t.TCPFin.Seconds()), int64(t.UDP.Seconds()))
	return err
}

// WriteService is ipvsadm's list_service: the title and one service,
// without the version line; ipvs.ErrNoService if it is not there.
func WriteService(w io.Writer, st admin.Status, k ipvs.ServiceKey, f ListFormat) error {
	for _, s := range st.Services {
		if s.FWMark == k.FWMark && (k.FWMark != 0 && s.IPv6 == k.IPv6 ||
			s.Proto == k.Proto.String() && s.Addr == k.Addr && s.Port == k.Port) {
			one := admin.Status{Services: []admin.ServiceStatus{s}}
			if f&FmtNoSort == 0 {
				one.Sort()
			}
			bw := bufio.NewWriter(w)
			writeTitle(bw, f)
			writeService(bw, one.Services[0], f)
			return bw.Flush()
		}
	}
	return fmt.Errorf("listing %v: %w", k, ipvs.ErrNoService)
}
