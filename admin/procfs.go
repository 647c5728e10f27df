package admin

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"path"
	"time"
)

// The kernel's /proc/net/ip_vs* text, byte for byte (ip_vs_ctl.c
// ip_vs_info_seq_show and ip_vs_stats_show, ip_vs_conn.c
// ip_vs_conn_seq_show), so that tools written against a kernel director
// read lvsd's tables: Piranha's status page, node_exporter's procfs
// parser, scripts. Addresses and ports are hexadecimal in network order.

// ProcHZ is the tick rate /proc/net/ip_vs pretends to have: the kernel
// prints a persistent service's timeout in jiffies (svc->timeout =
// u->timeout * HZ), and 250 is CONFIG_HZ of Debian's kernels.
const ProcHZ = 250

// ConnStatus is one entry of the connection table, as `ipvsadm -L -c` and
// /proc/net/ip_vs_conn show it.
type ConnStatus struct {
	// Proto is "TCP" or "UDP"; "IP" for a firewall-mark persistence template.
	Proto   string         `json:"proto"`
	Client  netip.AddrPort `json:"client"`
	Virtual netip.AddrPort `json:"virtual"`
	Dest    netip.AddrPort `json:"dest"`
	// State is the IPVS state name: ESTABLISHED, SYN_RECV, FIN_WAIT…, UDP,
	// or NONE for a persistence template.
	State string `json:"state"`
	// Expires is the time left before the entry times out.
	Expires time.Duration `json:"expires"`
}

// procAddr formats an address as the kernel does: %08X of the IPv4 address,
// or %pI6, the eight groups of four hex digits of an IPv6 address.
func procAddr(a netip.Addr) string {
	if a.Is4() || a.Is4In6() {
		b := a.Unmap().As4()
		return fmt.Sprintf("%02X%02X%02X%02X", b[0], b[1], b[2], b[3])
	}
	b := a.As16()
	s := make([]byte, 0, 39)
	for i := 0; i < 16; i += 2 {
		if i > 0 {
			s = append(s, ':')
		}
		s = fmt.Appendf(s, "%02x%02x", b[i], b[i+1])
	}
	return string(s)
}

// procAddrPort is "C0A81A0A:0050", or "[2001:0db8:…]:0050" for IPv6.
func procAddrPort(a netip.Addr, port uint16) string {
	if a.Is4() || a.Is4In6() {
		return fmt.Sprintf("%s:%04X", procAddr(a), port)
	}
	return fmt.Sprintf("[%s]:%04X", procAddr(a), port)
}

// procNetmask is the persistence netmask as ntohl(svc->netmask): the IPv4
// mask, or the prefix length for IPv6.
func procNetmask(s ServiceStatus) uint32 {
	bits := s.PMaskBits
	if !s.Addr.Is4() && s.FWMark == 0 {
		if bits <= 0 || bits > 128 {
			bits = 128
		}
		return uint32(bits)
	}
	if bits <= 0 || bits > 32 {
		bits = 32
	}
	return ^uint32(0) << (32 - bits)
}

// WriteProcIPVS writes st as /proc/net/ip_vs, in the order of st (the
// kernel's is its hash order; call st.Sort first for ipvsadm's).
func WriteProcIPVS(w io.Writer, st Status) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "IP Virtual Server version 1.2.1 (size=%d)\n", TableSize)
	bw.WriteString("Prot LocalAddress:Port Scheduler Flags\n")
	bw.WriteString("  -> RemoteAddress:Port Forward Weight ActiveConn InActConn\n")
	for _, s := range st.Services {
		ops := ""
		if s.OnePacket {
			ops = "ops "
		}
		switch {
		case s.FWMark != 0:
			fmt.Fprintf(bw, "FWM  %08X %s %s", s.FWMark, s.Sched, ops)
		case s.Addr.Is4():
			fmt.Fprintf(bw, "%s  %s %s %s ", s.Proto, procAddrPort(s.Addr, s.Port), s.Sched, ops)
		default: // the kernel prints no ops flag for IPv6 services
			fmt.Fprintf(bw, "%s  %s %s ", s.Proto, procAddrPort(s.Addr, s.Port), s.Sched)
		}
		if s.Persistence > 0 {
			fmt.Fprintf(bw, "persistent %d %08X\n", int64(s.Persistence.Seconds())*ProcHZ, procNetmask(s))
		} else {
			bw.WriteByte('\n')
		}
		for _, d := range s.Dests {
			fmt.Fprintf(bw, "  -> %s      %-7s %-6d %-10d %-10d\n",
				procAddrPort(d.Addr, d.Port), d.Forward, d.Weight, d.Active, d.Inactive)
		}
	}
	return bw.Flush()
}

// WriteProcIPVSStats writes the totals over all services as
// /proc/net/ip_vs_stats: counters, then the rate estimates.
func WriteProcIPVSStats(w io.Writer, st Status) error {
	var t Counters
	for _, s := range st.Services {
		t = addCounters(t, s.Stats)
	}
	_, err := fmt.Fprintf(w, "   Total Incoming Outgoing         Incoming         Outgoing\n"+
		"   Conns  Packets  Packets            Bytes            Bytes\n"+
		"%8X %8X %8X %16X %16X\n\n"+
		" Conns/s   Pkts/s   Pkts/s          Bytes/s          Bytes/s\n"+
		"%8X %8X %8X %16X %16X\n",
		t.Conns, t.InPkts, t.OutPkts, t.InBytes, t.OutBytes,
		t.CPS, t.InPPS, t.OutPPS, t.InBPS, t.OutBPS)
	return err
}

// WriteProcConns writes conns as /proc/net/ip_vs_conn. Expiry is printed
// in whole seconds, rounded down, as the kernel does.
func WriteProcConns(w io.Writer, conns []ConnStatus) error {
	bw := bufio.NewWriter(w)
	bw.WriteString("Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Expires PEName PEData\n")
	for _, c := range conns {
		secs := max(int64(c.Expires/time.Second), 0)
		fmt.Fprintf(bw, "%-3s %s %04X %s %04X %s %04X %-11s %7d\n", c.Proto,
			procAddr(c.Client.Addr()), c.Client.Port(), procAddr(c.Virtual.Addr()), c.Virtual.Port(),
			procAddr(c.Dest.Addr()), c.Dest.Port(), c.State, secs)
	}
	return bw.Flush()
}

// Paths of the observability endpoints on lvsd's control API.
const (
	PathMetrics    = "/metrics"   // GET: Prometheus text (MetricsHandler)
	PathEvents     = "/v1/events" // GET: the event stream (EventsHandler)
	PathProcPrefix = "/v1/proc/"  // GET ip_vs, ip_vs_stats, ip_vs_conn (ProcHandler)
)

// ProcSource is what the /proc texts are made of. The daemon's admin.Daemon
// has both methods.
type ProcSource interface {
	Status() Status
	Connections() []ConnStatus
}

// ProcHandler serves GET PathProcPrefix + ip_vs, ip_vs_stats or ip_vs_conn
// (chosen by the last element of the path) as text/plain, so that a tool
// that reads /proc/net/ip_vs can read lvsd's table with curl. Services are
// in ipvsadm's order.
func ProcHandler(src ProcSource) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		var write func(io.Writer) error
		switch path.Base(r.URL.Path) {
		case "ip_vs":
			write = func(w io.Writer) error {
				st := src.Status()
				st.Sort()
				return WriteProcIPVS(w, st)
			}
		case "ip_vs_stats":
			write = func(w io.Writer) error { return WriteProcIPVSStats(w, src.Status()) }
		case "ip_vs_conn":
			write = func(w io.Writer) error { return WriteProcConns(w, src.Connections()) }
		default:
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		write(w) // a write error means the client left
	})
}
