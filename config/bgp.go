package config

import (
	"bytes"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Redundancy is how the directors of a site share the VIPs (extension key
// `redundancy`).
type Redundancy uint8

const (
	// RedundancyPair is the guide's pulse pair: one active router, one
	// standby that takes over on heartbeat loss.
	RedundancyPair Redundancy = iota
	// RedundancyECMP makes every director active: each announces the VIPs
	// by BGP and the upstream router spreads flows by equal-cost multipath.
	RedundancyECMP
)

var redundancyNames = []string{"pair", "ecmp"}

func (r Redundancy) String() string {
	if int(r) < len(redundancyNames) {
		return redundancyNames[r]
	}
	return fmt.Sprintf("Redundancy(%d)", r)
}

// BGP is the `bgp { … }` block (extension): the embedded BGP speaker that
// announces the VIPs as /32 host routes to the upstream routers.
//
//	bgp {
//	     local_as = 65001
//	     drain_time = 5
//	     peer upstream {
//	          address = 192.168.26.1
//	          remote_as = 65000
//	          hold_time = 3
//	     }
//	}
type BGP struct {
	LocalAS   uint32        // local_as: this site's AS number; required
	RouterID  netip.Addr    // router_id: unset = this director's own address of primary, backup or directors
	DrainTime time.Duration // drain_time: between withdrawing the VIPs and stopping, on SIGTERM; default 5 s
	Peers     []*BGPPeer    // peer blocks, in file order
	Keys      []string      // keys in file order (see Virtual.Keys)
}

// BGPPeer is a `peer NAME { … }` block inside the bgp block: one BGP
// neighbour, usually the upstream router.
type BGPPeer struct {
	Name     string
	Address  netip.Addr    // address: the neighbour's address; required
	RemoteAS uint32        // remote_as: the neighbour's AS number; required
	HoldTime time.Duration // hold_time: BGP hold time, 0 or at least 3 s; default 90 s
	Password string        // password: TCP-MD5 key (RFC 2385); "" = none
	Multihop int           // multihop: eBGP multihop TTL; 0 = the neighbour is directly connected
	Keys     []string      // keys in file order
}

// DefaultDrainTime and DefaultHoldTime are the bgp block's defaults.
const (
	DefaultDrainTime = 5 * time.Second
	DefaultHoldTime  = 90 * time.Second
)

// NewBGP returns a bgp block holding the defaults.
func NewBGP() *BGP { return &BGP{DrainTime: DefaultDrainTime} }

// NewBGPPeer returns a peer block named name holding the defaults.
func NewBGPPeer(name string) *BGPPeer { return &BGPPeer{Name: name, HoldTime: DefaultHoldTime} }

// IsECMPSafe reports whether every director picks the same real server for
// a flow without knowing the others' connections: the hashing schedulers.
func (s Scheduler) IsECMPSafe() bool { return s == SchedMH || s == SchedSH || s == SchedDH }

// Community is a BGP community, AS:VALUE (RFC 1997).
type Community uint32

func (c Community) String() string { return fmt.Sprintf("%d:%d", c>>16, c&0xffff) }

// ECMPDirectors returns the addresses of every director of an ECMP site: the
// directors key, else primary and backup.
func (c *Config) ECMPDirectors() []netip.Addr {
	if len(c.Directors) > 0 {
		return c.Directors
	}
	var out []netip.Addr
	for _, a := range []netip.Addr{c.Primary, c.Backup} {
		if a.IsValid() {
			out = append(out, a)
		}
	}
	return out
}

func u32Key[T any](name string, lo int64, what string, f func(*T) *uint32) keyDef[T] {
	return keyDef[T]{name: name, nargs: 1, ext: true,
		set: func(x *T, v []token) error {
			n, err := intIn(v[0].text, lo, math.MaxUint32, what)
			*f(x) = uint32(n)
			return err
		},
		get: func(x *T) (string, bool) { return strconv.FormatUint(uint64(*f(x)), 10), *f(x) != 0 }}
}

// redundancyKey, directorsKey, bgpCommunityKey and bgpMEDKey are the
// extension keys of the ECMP mode outside the bgp block.
var (
	redundancyKey = keyDef[Config]{name: "redundancy", nargs: 1, ext: true,
		set: func(c *Config, v []token) error {
			i := slices.Index(redundancyNames, v[0].text)
			if i < 0 {
				return fmt.Errorf("expected pair or ecmp, got %q", v[0].text)
			}
			c.Redundancy = Redundancy(i)
			return nil
		},
		get: func(c *Config) (string, bool) { return c.Redundancy.String(), true }}
	directorsKey = keyDef[Config]{name: "directors", nargs: listArgs, ext: true,
		set: func(c *Config, v []token) error {
			c.Directors = []netip.Addr{}
			for _, t := range v {
				a, err := parseIPv4(t.text)
				if err != nil {
					return err
				}
				c.Directors = append(c.Directors, a)
			}
			return nil
		},
		get: func(c *Config) (string, bool) {
			parts := []string{"["}
			for _, a := range c.Directors {
				parts = append(parts, a.String())
			}
			return strings.Join(append(parts, "]"), " "), c.Directors != nil
		}}
	bgpCommunityKey = keyDef[Virtual]{name: "bgp_community", nargs: 1, ext: true,
		set: func(v *Virtual, t []token) (err error) { v.BGPCommunities, err = parseCommunities(t[0].text); return },
		get: func(v *Virtual) (string, bool) { return formatCommunities(v.BGPCommunities), len(v.BGPCommunities) > 0 }}
	bgpMEDKey = u32Key("bgp_med", 0, "a MED", func(v *Virtual) *uint32 { return &v.BGPMED })
)

// bgpKeys and peerKeys are the keys of the bgp block and its peer blocks,
// in the order Format writes them.
var bgpKeys = []keyDef[BGP]{
	u32Key("local_as", 1, "an AS number", func(b *BGP) *uint32 { return &b.LocalAS }),
	{name: "router_id", nargs: 1, ext: true,
		set: func(b *BGP, v []token) (err error) { b.RouterID, err = parseIPv4(v[0].text); return },
		get: func(b *BGP) (string, bool) { return fmtAddr(b.RouterID) }},
	{name: "drain_time", nargs: 1, ext: true,
		set: func(b *BGP, v []token) (err error) { b.DrainTime, err = parseSeconds(v[0].text, 0); return },
		get: func(b *BGP) (string, bool) { return fmtSecs(b.DrainTime), true }},
}

var peerKeys = []keyDef[BGPPeer]{
	{name: "address", nargs: 1, ext: true,
		set: func(p *BGPPeer, v []token) (err error) { p.Address, err = parseIPv4(v[0].text); return },
		get: func(p *BGPPeer) (string, bool) { return fmtAddr(p.Address) }},
	u32Key("remote_as", 1, "an AS number", func(p *BGPPeer) *uint32 { return &p.RemoteAS }),
	{name: "hold_time", nargs: 1, ext: true,
		set: func(p *BGPPeer, v []token) (err error) { p.HoldTime, err = parseSeconds(v[0].text, 0); return },
		get: func(p *BGPPeer) (string, bool) { return fmtSecs(p.HoldTime), true }},
	{name: "password", nargs: 1, ext: true,
		set: func(p *BGPPeer, v []token) error { p.Password = v[0].text; return nil },
		get: func(p *BGPPeer) (string, bool) { return quoteValue(p.Password, true), p.Password != "" }},
	intKey("multihop", true, 0, 255, "a TTL (0 = directly connected)", func(p *BGPPeer) *int { return &p.Multihop }),
}

// parseCommunities reads "65000:100,65000:200".
func parseCommunities(s string) ([]Community, error) {
	var out []Community
	for _, f := range strings.Split(s, ",") {
		as, val, ok := strings.Cut(f, ":")
		a, err1 := strconv.ParseUint(as, 10, 16)
		b, err2 := strconv.ParseUint(val, 10, 16)
		if !ok || err1 != nil || err2 != nil {
			return nil, fmt.Errorf("expected communities AS:VALUE[,AS:VALUE…] with numbers 0-65535, got %q", s)
		}
		out = append(out, Community(a<<16|b))
	}
	return out, nil
}

func formatCommunities(cs []Community) string {
	parts := make([]string, len(cs))
	for i, c := range cs {
		parts[i] = c.String()
	}
	return strings.Join(parts, ",")
}

// bgp parses the bgp block opened at h.
func (p *parser) bgp(h line, c *Config) {
	ok := true
	if len(h.toks) != 2 || !isWord(h.toks[1], "{") {
		p.d.errorf(h.num, `bgp: expected "bgp {" (the block has no name), got %s`, quoteToks(h.toks))
		ok = false
	}
	if first, dup := p.pos[c]["bgp"]; dup {
		p.d.errorf(h.num, "bgp: a second bgp block (the first is on line %d): one speaker has one block", first)
		ok = false
	}
	b := NewBGP()
	pos := map[string]int{"": h.num}
	p.pos[b] = pos
	seen := map[string]int{}
	outer := func(k token) bool { return topLevelBlock(k) }
	p.bodyIn("bgp", h.num, outer, func(l line) {
		switch k := l.toks[0]; {
		case isWord(k, "peer"):
			if peer := p.bgpPeer(l); peer != nil {
				b.Peers = append(b.Peers, peer)
			}
		case isWord(l.toks[len(l.toks)-1], "{"):
			p.unknownBlock(l, "in bgp", "peer")
		default:
			applyKey(p, bgpKeys, "bgp", b, &b.Keys, seen, l)
			pos[k.text] = l.num
		}
	})
	if ok {
		p.pos[c]["bgp"] = h.num
		c.BGP = b
	}
}

// bgpPeer parses a peer block inside the bgp block.
func (p *parser) bgpPeer(h line) *BGPPeer {
	name, ok := p.header(h)
	peer := NewBGPPeer(name)
	pos := map[string]int{"": h.num}
	p.pos[peer] = pos
	seen := map[string]int{}
	in := "bgp, peer " + name
	outer := func(k token) bool { return isWord(k, "peer") || topLevelBlock(k) }
	p.bodyIn(in, h.num, outer, func(l line) {
		if isWord(l.toks[len(l.toks)-1], "{") {
			p.unknownBlock(l, "in "+in, "no blocks here")
			return
		}
		applyKey(p, peerKeys, in, peer, &peer.Keys, seen, l)
		pos[l.toks[0].text] = l.num
	})
	if !ok {
		return nil
	}
	return peer
}

// writeBGP writes the bgp block of c, if any.
func writeBGP(b *bytes.Buffer, c *Config) {
	if c.BGP == nil {
		return
	}
	b.WriteString("bgp {\n")
	writeKeys(b, indentBlock, bgpKeys, c.BGP, NewBGP(), c.BGP.Keys)
	for _, p := range c.BGP.Peers {
		b.WriteString(indentBlock + "peer " + quoteValue(p.Name, false) + " {\n")
		writeKeys(b, indentServer, peerKeys, p, NewBGPPeer(""), p.Keys)
		b.WriteString(indentBlock + "}\n")
	}
	b.WriteString("}\n")
}

// ecmp checks the ECMP mode and the bgp block.
func (k *checker) ecmp() {
	c, d := k.c, k.d
	if c.Redundancy == RedundancyECMP {
		if c.BGP == nil {
			d.warnf(k.at(c, "redundancy"), "redundancy = ecmp without a bgp block: nothing announces the VIPs, so the upstream router needs static multipath routes and a director that fails keeps its share of the flows")
		}
		if c.Network == NetworkNAT && k.hasActiveServers() {
			d.warnf(k.at(c, "network"), "network = nat with redundancy = ecmp: every director owns nat_router, so a real server's replies may return through another director than its requests (only connection sync makes that work); use network = direct or tunnel")
		}
		if c.BackupActive {
			d.warnf(k.at(c, "backup_active"), "backup_active = 1 is ignored with redundancy = ecmp: every director is active and there are no heartbeat roles")
		}
		for _, v := range c.Virtuals {
			if v.Active && !v.Scheduler.IsECMPSafe() && !c.SyncDaemon {
				d.warnf(k.at(v, "scheduler"), "virtual %s: scheduler %s is not ECMP-safe: when the router moves a flow to another director it may pick another real server; use mh, sh or dh, or syncdaemon = 1 (then only new flows may differ)",
					v.Name, v.Scheduler)
			}
		}
	}
	seen := map[netip.Addr]bool{}
	for _, a := range c.Directors {
		if seen[a] {
			d.errorf(k.at(c, "directors"), "directors: %s is listed twice", a)
		}
		seen[a] = true
	}
	if len(c.Directors) > 0 && c.Redundancy != RedundancyECMP {
		d.warnf(k.at(c, "directors"), "directors is only used with redundancy = ecmp")
	}
	b := c.BGP
	if b == nil {
		for _, v := range c.Virtuals {
			if len(v.BGPCommunities) > 0 || v.BGPMED != 0 {
				at := k.at(v, "bgp_med")
				if k.written(v, "bgp_community") {
					at = k.at(v, "bgp_community")
				}
				d.warnf(at, "virtual %s: bgp_community and bgp_med need a bgp block", v.Name)
			}
		}
		return
	}
	if b.LocalAS == 0 && !k.written(b, "local_as") {
		d.errorf(k.at(b, ""), "bgp: missing local_as: expected `local_as = N`, this site's AS number")
	}
	if len(b.Peers) == 0 {
		d.errorf(k.at(b, ""), "bgp: no peer block: expected `peer NAME { address = IP  remote_as = N }`")
	}
	names := map[string]bool{}
	addrs := map[netip.Addr]string{}
	for _, p := range b.Peers {
		where := "bgp, peer " + p.Name
		if names[p.Name] {
			d.errorf(k.at(p, ""), "%s: duplicate peer name", where)
		}
		names[p.Name] = true
		if !p.Address.IsValid() && !k.written(p, "address") {
			d.errorf(k.at(p, ""), "%s: missing address: expected `address = IP`", where)
		} else if other, dup := addrs[p.Address]; dup && p.Address.IsValid() {
			d.errorf(k.at(p, "address"), "%s: address %s is also peer %s", where, p.Address, other)
		}
		addrs[p.Address] = p.Name
		if p.RemoteAS == 0 && !k.written(p, "remote_as") {
			d.errorf(k.at(p, ""), "%s: missing remote_as: expected `remote_as = N`, the neighbour's AS number", where)
		}
		if p.HoldTime > 0 && p.HoldTime < 3*time.Second {
			d.errorf(k.at(p, "hold_time"), "%s: hold_time must be 0 or at least 3 seconds (RFC 4271), got %v", where, p.HoldTime)
		}
		if p.Multihop > 0 && p.RemoteAS == b.LocalAS {
			d.warnf(k.at(p, "multihop"), "%s: multihop is for eBGP; this is an iBGP peer (remote_as = local_as)", where)
		}
		if !quotable(p.Password) {
			d.errorf(k.at(p, "password"), "%s: the password holds a line break or both quote characters and cannot be written to lvs.cf", where)
		}
	}
}
