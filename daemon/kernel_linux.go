package daemon

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"syscall"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// KernelGuard is an installed nftables netdev table that keeps the kernel
// out of the dataplane's traffic (see GuardSpec). It programs the kernel
// over netlink, so lvsd needs no nft program. Install replaces any table of
// the same name left by a crashed run, so a crash never blocks a restart.
type KernelGuard struct {
	table  string
	joined map[mcastKey]bool // solicited-node groups of owned IPv6 addresses (multicast_linux.go)
}

// InstallGuard installs (or atomically replaces) the guard table.
func InstallGuard(ctx context.Context, spec GuardSpec) (*KernelGuard, error) {
	g := &KernelGuard{table: spec.table(), joined: map[mcastKey]bool{}}
	if err := g.Update(ctx, spec); err != nil {
		return nil, err
	}
	return g, nil
}

// Update replaces the guard's table in one netlink batch, which the kernel
// applies as one transaction: the old table (a crashed run's, or this
// guard's before a reload changed the VIPs or the real servers) goes and
// the new one appears with all its sets, chains and rules, or on error
// nothing changes. Then the interfaces join the solicited-node groups of
// the owned IPv6 addresses and leave those of addresses gone
// (multicast_linux.go).
func (g *KernelGuard) Update(ctx context.Context, spec GuardSpec) error {
	spec.Table = g.table
	t, err := spec.guard()
	if err != nil {
		return err
	}
	err = nftBatch(ctx, func(c *nftables.Conn) error {
		delTables(c, t.Name)
		return t.add(c, c.AddTable(&nftables.Table{Name: t.Name, Family: nftables.TableFamilyNetdev}))
	})
	if err != nil {
		return fmt.Errorf("installing nftables table netdev %s on %s: %w", t.Name, strings.Join(t.Interfaces, ", "), err)
	}
	return syncGroups(g.joined, solicitedGroups(t))
}

// Remove deletes the guard table in one netlink batch and leaves the
// multicast groups the guard joined. Removing a table that is already gone
// is not an error.
func (g *KernelGuard) Remove(ctx context.Context) error {
	err := nftBatch(ctx, func(c *nftables.Conn) error {
		delTables(c, g.table)
		return nil
	})
	if err != nil {
		return fmt.Errorf("removing nftables table netdev %s: %w", g.table, err)
	}
	return syncGroups(g.joined, nil)
}

// delTables queues the deletion of the netdev table name and of an inet
// table of that name (a guard of an earlier build of lvsd, which dropped
// in prerouting). Each is declared first, so that the delete cannot fail
// on a fresh host.
func delTables(c *nftables.Conn, name string) {
	for _, f := range []nftables.TableFamily{nftables.TableFamilyINet, nftables.TableFamilyNetdev} {
		tab := &nftables.Table{Name: name, Family: f}
		c.AddTable(tab)
		c.DelTable(tab)
	}
}

// nftBatch queues the batch that build makes and sends it to the kernel of the
// calling thread's network namespace, waiting at most until ctx's deadline
// for the kernel's answer.
func nftBatch(ctx context.Context, build func(*nftables.Conn) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c, err := nftables.New(nftables.WithSockOptions(func(nl *netlink.Conn) error {
		// The kernel explains some refusals in an extended ack; keep them.
		_ = nl.SetOption(netlink.ExtendedAcknowledge, true)
		if dl, ok := ctx.Deadline(); ok {
			return nl.SetDeadline(dl)
		}
		return nil
	}))
	if err != nil {
		return fmt.Errorf("opening a netlink connection to nf_tables: %w", err)
	}
	if err := build(c); err != nil {
		return err
	}
	if err := c.Flush(); err != nil {
		return kernelError(err)
	}
	return nil
}

// kernelError adds what the kernel's errno usually means here.
func kernelError(err error) error {
	var hint string
	switch {
	case errors.Is(err, syscall.EPERM):
		hint = "lvsd needs CAP_NET_ADMIN (run it as root)"
	case errors.Is(err, syscall.EOPNOTSUPP), errors.Is(err, syscall.EAFNOSUPPORT), errors.Is(err, syscall.EPROTONOSUPPORT):
		hint = "the kernel lacks nf_tables netdev support (CONFIG_NF_TABLES_NETDEV)"
	case errors.Is(err, syscall.ENOENT), errors.Is(err, syscall.ENODEV):
		hint = "an interface does not exist, or the kernel lacks an nf_tables feature"
	}
	if hint == "" {
		return fmt.Errorf("the kernel refused: %w", err)
	}
	return fmt.Errorf("the kernel refused (%s): %w", hint, err)
}

// add queues the table's sets, chains and rules, as `nft -f` would send
// the rendering of String.
func (t guardTable) add(c *nftables.Conn, tab *nftables.Table) error {
	owned := &nftables.Set{Table: tab, Name: "owned", KeyType: nftables.TypeIPAddr, KeyByteOrder: binaryutil.BigEndian}
	reals := &nftables.Set{Table: tab, Name: "reals", KeyType: nftables.TypeIPAddr, KeyByteOrder: binaryutil.BigEndian, Interval: true}
	local := &nftables.Set{Table: tab, Name: "local", KeyType: nftables.TypeIPAddr, KeyByteOrder: binaryutil.BigEndian}
	for _, s := range []struct {
		set   *nftables.Set
		elems []nftables.SetElement
	}{
		{owned, addrElements(t.Owned)},
		{reals, intervalElements(t.Reals)},
		{local, addrElements(t.Local)},
	} {
		if err := c.AddSet(s.set, s.elems); err != nil {
			return fmt.Errorf("building set %s: %w", s.set.Name, err)
		}
	}
	sets6, err := t.addSets6(c, tab) // kernel6_linux.go
	if err != nil {
		return err
	}
	accept := nftables.ChainPolicyAccept
	for i, ifname := range t.Interfaces {
		ch := c.AddChain(&nftables.Chain{
			Name:     t.chain(i),
			Table:    tab,
			Type:     nftables.ChainTypeFilter,
			Hooknum:  nftables.ChainHookIngress,
			Priority: nftables.ChainPriorityRef(guardPriority),
			Policy:   &accept,
			Device:   ifname,
		})
		// ip daddr @owned counter meta mark set GuardMark meta pkttype set other
		c.AddRule(&nftables.Rule{Table: tab, Chain: ch, UserData: comment(commentOwned), Exprs: append([]expr.Any{
			metaProtocol(), isIPv4(),
			ipv4Field(ipv4DaddrOffset),
			&expr.Lookup{SourceRegister: 1, SetName: owned.Name, SetID: owned.ID},
			&expr.Counter{},
		}, hideExprs()...)})
		// ip saddr @reals ip daddr != @local counter (the same)
		c.AddRule(&nftables.Rule{Table: tab, Chain: ch, UserData: comment(commentReals), Exprs: append([]expr.Any{
			metaProtocol(), isIPv4(),
			ipv4Field(ipv4SaddrOffset),
			&expr.Lookup{SourceRegister: 1, SetName: reals.Name, SetID: reals.ID},
			ipv4Field(ipv4DaddrOffset),
			&expr.Lookup{SourceRegister: 1, SetName: local.Name, SetID: local.ID, Invert: true},
			&expr.Counter{},
		}, hideExprs()...)})
		sets6.addRules6(c, tab, ch)
	}
	return nil
}

// hideExprs is guardVerdict as nft encodes it: meta mark set GuardMark,
// meta pkttype set other (PACKET_OTHERHOST).
func hideExprs() []expr.Any {
	return []expr.Any{
		&expr.Immediate{Register: 1, Data: binaryutil.NativeEndian.PutUint32(GuardMark)},
		&expr.Meta{Key: expr.MetaKeyMARK, SourceRegister: true, Register: 1},
		&expr.Immediate{Register: 1, Data: []byte{unix.PACKET_OTHERHOST}},
		&expr.Meta{Key: expr.MetaKeyPKTTYPE, SourceRegister: true, Register: 1},
	}
}

// Offsets of the addresses in the IPv4 header.
const (
	ipv4SaddrOffset = 12
	ipv4DaddrOffset = 16
)

// metaProtocol and isIPv4 are the dependency nft adds before an `ip` match
// in the netdev family: meta protocol ip.
func metaProtocol() *expr.Meta { return &expr.Meta{Key: expr.MetaKeyPROTOCOL, Register: 1} }

func isIPv4() *expr.Cmp {
	return &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(unix.ETH_P_IP)}
}

// ipv4Field loads the 4-byte address at off in the IPv4 header into
// register 1, after the protocol check (which shares the register).
func ipv4Field(off uint32) *expr.Payload {
	return &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: 4}
}

func comment(s string) []byte { return userdata.AppendString(nil, userdata.TypeComment, s) }

func addrElements(as []netip.Addr) []nftables.SetElement {
	out := make([]nftables.SetElement, 0, len(as))
	for _, a := range as {
		out = append(out, nftables.SetElement{Key: a.AsSlice()})
	}
	return out
}

// intervalElements encodes sorted, non-overlapping prefixes as nft does:
// each interval is its first address and, flagged as an end, the address
// after its last; an end at 0.0.0.0 opens the set when the first interval
// starts later, and an interval reaching 255.255.255.255 has no end.
func intervalElements(ps []netip.Prefix) []nftables.SetElement {
	var out []nftables.SetElement
	if len(ps) > 0 && ps[0].Addr() != netip.IPv4Unspecified() {
		out = append(out, nftables.SetElement{Key: netip.IPv4Unspecified().AsSlice(), IntervalEnd: true})
	}
	for _, p := range ps {
		out = append(out, nftables.SetElement{Key: p.Addr().AsSlice()})
		if next := lastAddr(p).Next(); next.IsValid() {
			out = append(out, nftables.SetElement{Key: next.AsSlice(), IntervalEnd: true})
		}
	}
	return out
}

// lastAddr is the highest address in the IPv4 prefix p.
func lastAddr(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr().As4()
	host := uint32(1)<<(32-p.Bits()) - 1 // a shift by 32 gives 0: all ones for /0
	v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3]) | host
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}
