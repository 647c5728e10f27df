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
// hides from the kernel exactly the frames the dataplane handles: those to a
// VIP or another lvsd-owned address (the nat_router address), and those from
// a real server to anything but the router's own addresses (NAT replies,
// masqueraded traffic). The router's own traffic — SSH, heartbeats, health
// checks and their replies — is untouched, whatever net.ipv4.ip_forward is
// set to.
//
// The guard does not drop those frames: lvsd's packet sockets are bound per
// protocol (ETH_P_IP, ETH_P_IPV6, ETH_P_ARP), and the kernel delivers a frame
// to them after the ingress hook, so a drop there would hide it from lvsd
// too. It marks the frame (GuardMark) and makes it one for another host
// (meta pkttype set other): the kernel's IP receive drops such a frame at its
// first check, the cheapest drop after the hook's own, while lvsd's sockets
// take a frame with the mark whatever its packet type (afpacket's
// Config.AcceptMark).
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

// guardPriority runs the guard's chains before any other ingress hook.
const guardPriority = -500

// GuardMark is the mark the guard gives the frames it hides from the
// kernel ("lvsd" in ASCII); lvsd's receive sockets accept frames with it
// although the guard made them frames for another host.
const GuardMark = 0x6c767364

// guardVerdict is what a guard rule does to a frame it matches, as nft
// writes it.
var guardVerdict = fmt.Sprintf("meta mark set %#08x meta pkttype set other", GuardMark)

// The guard's rule comments, shown by `nft list table netdev lvsd`.
const (
	commentOwned = "lvsd: VIP or owned address"
	commentReals = "lvsd: from a real server"
)

// guardTable is a GuardSpec checked and normalised into the objects of the
// nftables table: sorted, without duplicates, one set of each kind per
// address family, one chain per distinct interface (chain i hooks
// Interfaces[i]). The kernel is programmed from it, and String renders it
// in nft's syntax.
type guardTable struct {
	Name       string
	Interfaces []string
	Owned      []netip.Addr
	Reals      []netip.Prefix // none inside another: nftables refuses overlapping intervals
	Local      []netip.Addr
	guard6     // the IPv6 sets (kernel6.go)
}

// validName reports whether a table or interface name is one the kernel
// takes and nft can print: Linux interface names are at most 15 bytes of
// printable ASCII without blanks, quotes or slashes.
func validName(n string) bool {
	if n == "" || len(n) > 15 {
		return false
	}
	return !strings.ContainsFunc(n, func(r rune) bool {
		return r <= ' ' || r > '~' || r == '"' || r == '/' || r == ';' || r == '\\' || r == '{' || r == '}'
	})
}

// guard checks the spec and normalises it into the table to install.
func (s GuardSpec) guard() (guardTable, error) {
	g := guardTable{Name: s.table(), Owned: addrs(s.Owned), Reals: outermost(s.Reals), Local: addrs(s.Local), guard6: s.guard6()}
	if !validName(g.Name) {
		return guardTable{}, fmt.Errorf("invalid nftables table name %q", g.Name)
	}
	g.Interfaces = slices.Clone(s.Interfaces)
	slices.Sort(g.Interfaces)
	g.Interfaces = slices.Compact(g.Interfaces)
	for _, ifname := range g.Interfaces {
		if !validName(ifname) {
			return guardTable{}, fmt.Errorf("invalid interface name %q", ifname)
		}
	}
	return g, nil
}

// chain is the name of the chain hooking Interfaces[i].
func (g guardTable) chain(i int) string { return fmt.Sprintf("in%d", i) }

// String renders the table as `nft list table netdev NAME` would show it
// (without counters): for logs and errors; the kernel is programmed over
// netlink.
func (g guardTable) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "table netdev %s {\n", g.Name)
	writeSet(&b, "owned", "", addrStrings(g.Owned))
	writeSet(&b, "reals", "interval", prefixes(g.Reals))
	writeSet(&b, "local", "", addrStrings(g.Local))
	g.writeSets6(&b)
	for i, ifname := range g.Interfaces {
		fmt.Fprintf(&b, "\tchain %s {\n\t\ttype filter hook ingress device %q priority %d; policy accept;\n", g.chain(i), ifname, guardPriority)
		fmt.Fprintf(&b, "\t\tip daddr @owned counter %s comment %q\n", guardVerdict, commentOwned)
		fmt.Fprintf(&b, "\t\tip saddr @reals ip daddr != @local counter %s comment %q\n", guardVerdict, commentReals)
		g.writeRules6(&b)
		b.WriteString("\t}\n")
	}
	b.WriteString("}\n")
	return b.String()
}

func writeSet(b *strings.Builder, name, flags string, elems []string) {
	writeTypedSet(b, name, "ipv4_addr", flags, elems)
}

func writeTypedSet(b *strings.Builder, name, typ, flags string, elems []string) {
	fmt.Fprintf(b, "\tset %s {\n\t\ttype %s\n", name, typ)
	if flags != "" {
		fmt.Fprintf(b, "\t\tflags %s\n", flags)
	}
	if len(elems) > 0 {
		fmt.Fprintf(b, "\t\telements = { %s }\n", strings.Join(elems, ", "))
	}
	b.WriteString("\t}\n")
}

func addrStrings(as []netip.Addr) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.String()
	}
	return out
}

// prefixes renders outermost(ps).
func prefixes(ps []netip.Prefix) []string {
	ps = outermost(ps)
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return out
}

// addrs keeps the IPv4 addresses (IPv4-mapped ones unmapped), sorted and
// without duplicates.
func addrs(as []netip.Addr) []netip.Addr {
	var out []netip.Addr
	for _, a := range as {
		if a.Is4() || a.Is4In6() {
			out = append(out, a.Unmap())
		}
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return slices.Compact(out)
}

// outermost keeps the IPv4 prefixes, masked, sorted by address, and only
// those inside no other: nftables refuses overlapping interval elements.
func outermost(ps []netip.Prefix) []netip.Prefix {
	var v4 []netip.Prefix
	for _, p := range ps {
		if p.Addr().Is4() {
			v4 = append(v4, p)
		}
	}
	return outermostOf(v4)
}

// outermostOf is outermost for prefixes of one family, which it keeps all.
func outermostOf(ps []netip.Prefix) []netip.Prefix {
	sorted := make([]netip.Prefix, len(ps))
	for i, p := range ps {
		sorted[i] = p.Masked()
	}
	// Sorted by address, then shorter first, a prefix's container comes
	// before it and before everything else it contains.
	slices.SortFunc(sorted, func(a, b netip.Prefix) int {
		if c := a.Addr().Compare(b.Addr()); c != 0 {
			return c
		}
		return a.Bits() - b.Bits()
	})
	var out []netip.Prefix
	var last netip.Prefix
	for _, p := range sorted {
		if last.IsValid() && last.Bits() <= p.Bits() && last.Contains(p.Addr()) {
			continue
		}
		last = p
		out = append(out, p)
	}
	return out
}
