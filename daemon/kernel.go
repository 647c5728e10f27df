package daemon

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// GuardSpec says which traffic the dataplane handles on which interface, so
// the router's kernel can be told to keep out of it.
//
// The kernel still sees every frame a packet socket sees. If it owned a VIP it
// would answer SYNs with RSTs; if it forwarded, every packet would leave twice.
// lvsd therefore never configures VIPs on the kernel's interfaces (it answers
// ARP for them itself) and installs an nftables netdev ingress table that
// drops, after packet sockets have taken their copy, exactly the frames the
// dataplane handles: those to a VIP or another lvsd-owned address (the
// nat_router address), and those from a real server to anything but the
// router's own addresses (NAT replies, masqueraded traffic). The router's own
// traffic — SSH, heartbeats, health checks and their replies — is untouched,
// whatever net.ipv4.ip_forward is set to.
type GuardSpec struct {
	Table      string         // nftables table name; "lvsd" when empty
	Interfaces []string       // every interface the dataplane listens on
	Owned      []netip.Addr   // VIPs and the nat_router address: lvsd answers for them
	Reals      []netip.Prefix // real servers (or their networks) whose forwarded traffic lvsd handles
	Local      []netip.Addr   // the router's own addresses, never dropped when sent by a real server
}

func (s GuardSpec) table() string {
	if s.Table == "" {
		return "lvsd"
	}
	return s.Table
}

// validName reports whether a table or interface name is safe to place in an
// nft script: Linux interface names are at most 15 bytes of printable ASCII
// without blanks, quotes or slashes.
func validName(n string) bool {
	if n == "" || len(n) > 15 {
		return false
	}
	return !strings.ContainsFunc(n, func(r rune) bool {
		return r <= ' ' || r > '~' || r == '"' || r == '/' || r == ';' || r == '\\' || r == '{' || r == '}'
	})
}

// ruleset renders the nft script that replaces the guard table atomically.
// It declares the table first so the delete cannot fail on a fresh host.
func (s GuardSpec) ruleset() (string, error) {
	t := s.table()
	if !validName(t) {
		return "", fmt.Errorf("invalid nftables table name %q", t)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "table netdev %s\ndelete table netdev %s\ntable netdev %s {\n", t, t, t)
	writeSet(&b, "owned", "ipv4_addr", addrs(s.Owned))
	writeSet(&b, "reals", "ipv4_addr; flags interval", prefixes(s.Reals))
	writeSet(&b, "local", "ipv4_addr", addrs(s.Local))
	ifs := slices.Clone(s.Interfaces)
	slices.Sort(ifs)
	ifs = slices.Compact(ifs)
	for i, ifname := range ifs {
		if !validName(ifname) {
			return "", fmt.Errorf("invalid interface name %q", ifname)
		}
		// Priority -500 runs before any other ingress hook; packet sockets
		// (taps) have already received their copy by then.
		fmt.Fprintf(&b, "\tchain in%d {\n\t\ttype filter hook ingress device \"%s\" priority -500; policy accept;\n", i, ifname)
		b.WriteString("\t\tip daddr @owned counter drop comment \"lvsd: VIP or owned address\"\n")
		b.WriteString("\t\tip saddr @reals ip daddr != @local counter drop comment \"lvsd: from a real server\"\n")
		b.WriteString("\t}\n")
	}
	b.WriteString("}\n")
	return b.String(), nil
}

func writeSet(b *strings.Builder, name, typ string, elems []string) {
	fmt.Fprintf(b, "\tset %s {\n\t\ttype %s;\n", name, typ)
	if len(elems) > 0 {
		fmt.Fprintf(b, "\t\telements = { %s }\n", strings.Join(elems, ", "))
	}
	b.WriteString("\t}\n")
}

func addrs(as []netip.Addr) []string {
	var out []string
	for _, a := range as {
		if a.Is4() || a.Is4In6() {
			out = append(out, a.Unmap().String())
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func prefixes(ps []netip.Prefix) []string {
	var v4 []netip.Prefix
	for _, p := range ps {
		if p.Addr().Is4() {
			v4 = append(v4, p.Masked())
		}
	}
	// nft refuses overlapping interval elements: keep only prefixes inside
	// no other. Sorted by address, then shorter first, a prefix's container
	// comes before it and before everything else it contains.
	slices.SortFunc(v4, func(a, b netip.Prefix) int {
		if c := a.Addr().Compare(b.Addr()); c != 0 {
			return c
		}
		return a.Bits() - b.Bits()
	})
	var out []string
	var last netip.Prefix
	for _, p := range v4 {
		if last.IsValid() && last.Bits() <= p.Bits() && last.Contains(p.Addr()) {
			continue
		}
		last = p
		out = append(out, p.String())
	}
	slices.Sort(out)
	return out
}
