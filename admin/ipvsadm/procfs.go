package ipvsadm

import (
	"bufio"
	"fmt"
	"io"
	mathbits "math/bits"
	"net/netip"
	"time"

	"lvs/admin"
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

// procNetmask is the persistence netmask as the kernel prints it,
// ntohl(svc->netmask): the IPv4 mask; for IPv6, svc->netmask holds the
// prefix length in host order (ipvsadm sends -M 64 as the number 64), so
// ntohl byte-swaps it on the little-endian hosts lvsd runs on (x86-64,
// arm64): /64 prints as 40000000, /128 as 80000000.
func procNetmask(s admin.ServiceStatus) uint32 {
	bits := s.PMaskBits
	if s.Is6() {
		if bits <= 0 || bits > 128 {
			bits = 128
		}
		return mathbits.ReverseBytes32(uint32(bits))
	}
	if bits <= 0 || bits > 32 {
		bits = 32
	}
	return ^uint32(0) << (32 - bits)
}

// WriteProcIPVS writes st as /proc/net/ip_vs, in the order of st (the
// kernel's is its hash order; call st.Sort first for ipvsadm's).
func WriteProcIPVS(w io.Writer, st admin.Status) error {
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
func WriteProcIPVSStats(w io.Writer, st admin.Status) error {
	var t admin.Counters
	for _, s := range st.Services {
		t = admin.AddCounters(t, s.Stats)
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
func WriteProcConns(w io.Writer, conns []admin.ConnStatus) error {
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
