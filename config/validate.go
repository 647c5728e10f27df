package config

import (
	"net/netip"
	"time"
)

// Validate checks a configuration built in code the way Parse checks a
// file, beyond the syntax: missing and conflicting values, and what the
// guide warns about. Messages carry line 0 unless c came from Parse.
func Validate(c *Config) (warnings []*ParseError, err error) {
	d := &diag{}
	validate(c, d, positions{})
	return d.warnings, d.err()
}

// checker carries what every check needs.
type checker struct {
	c   *Config
	d   *diag
	pos positions
}

// at returns the line of key in obj, the block header when the key is not
// in the file, and line 1 for the global section.
func (k *checker) at(obj any, key string) int {
	if n := k.pos.line(obj, key); n != 0 {
		return n
	}
	if obj == any(k.c) {
		return 1
	}
	return 0
}

// written reports whether key appeared in obj's block (even with an error),
// so a missing-value check does not repeat a syntax error.
func (k *checker) written(obj any, key string) bool {
	_, ok := k.pos[obj][key]
	return ok
}

func validate(c *Config, d *diag, pos positions) {
	k := &checker{c: c, d: d, pos: pos}
	k.globals()
	k.nat()
	names := map[string]*Virtual{}
	for _, v := range c.Virtuals {
		k.virtual(v, "virtual", names)
	}
	for _, v := range c.Failovers {
		k.virtual(v, "failover", names)
		if len(v.Servers) > 0 {
			d.warnf(k.at(v, ""), "failover %s: server blocks are ignored in a failover service", v.Name)
		}
	}
	k.conflicts()
	k.fwmarkGroups()
	k.ruleBlocks()
	k.ecmp()
	k.families()
	if c.Service == ServiceFOS && len(c.Virtuals) > 0 {
		d.warnf(k.at(c, "service"), "service = fos: the %d virtual blocks are ignored (use service = lvs)", len(c.Virtuals))
	}
	if c.Service == ServiceLVS && len(c.Failovers) > 0 {
		d.warnf(k.at(c.Failovers[0], ""), "service = lvs: failover blocks are ignored (they belong to service = fos)")
	}
}

func (k *checker) globals() {
	c, d := k.c, k.d
	if !c.Primary.IsValid() && !k.written(c, "primary") {
		d.errorf(k.at(c, ""), "missing primary: expected `primary = IP`, the public address of the primary LVS router")
	}
	if c.BackupActive && !c.Backup.IsValid() && !k.written(c, "backup") {
		d.errorf(k.at(c, "backup_active"), "backup_active = 1 needs `backup = IP`, the public address of the backup router")
	}
	if c.Backup.IsValid() && c.Backup == c.Primary {
		d.errorf(k.at(c, "backup"), "backup: %s is also the primary address: the two routers need different addresses", c.Backup)
	}
	if c.PrimaryPrivate.IsValid() && c.PrimaryPrivate == c.Primary {
		d.warnf(k.at(c, "primary_private"), "primary_private equals primary: there is no second heartbeat path")
	}
	if c.BackupActive && c.PrimaryPrivate.IsValid() != c.BackupPrivate.IsValid() {
		d.warnf(k.at(c, "primary_private"), "primary_private and backup_private go together: with only one set, heartbeats use the public addresses only")
	}
	if c.BackupPrivate.IsValid() && c.BackupPrivate == c.PrimaryPrivate {
		d.errorf(k.at(c, "backup_private"), "backup_private: %s is also primary_private", c.BackupPrivate)
	}
	if c.Deadtime <= c.Keepalive {
		d.errorf(k.at(c, "deadtime"), "deadtime (%v) must be longer than keepalive (%v), or the backup takes over between two heartbeats", c.Deadtime, c.Keepalive)
	} else if c.Deadtime < 2*c.Keepalive {
		d.warnf(k.at(c, "deadtime"), "deadtime (%v) is less than two keepalive intervals (%v): one lost heartbeat causes a takeover", c.Deadtime, c.Keepalive)
	}
	if c.HeartbeatKey != "" && len(c.HeartbeatKey) < 16 {
		d.warnf(k.at(c, "heartbeat_key"), "heartbeat_key is %d bytes: use at least 16 random bytes", len(c.HeartbeatKey))
	}
	if !quotable(c.HeartbeatKey) || !quotable(c.ActiveCmd) || !quotable(c.InactiveCmd) {
		d.errorf(k.at(c, ""), "a string value holds a line break or both quote characters and cannot be written to lvs.cf")
	}
}

// nat checks the NAT router and that real servers can route back through it.
func (k *checker) nat() {
	c, d := k.c, k.d
	if c.Network != NetworkNAT {
		if c.NATRouter.IsValid() {
			d.warnf(k.at(c, "nat_router"), "nat_router is only used with network = nat (network is %s)", c.Network)
		}
		return
	}
	if !c.NATRouter.IsValid() {
		if !k.written(c, "nat_router") && k.hasActiveServers() {
			d.errorf(k.at(c, "network"), "network = nat needs `nat_router = IP DEV`: the floating address the real servers use as their default gateway")
		}
		return
	}
	if !c.NATNetmask.IsValid() {
		if !k.written(c, "nat_nmask") {
			d.warnf(k.at(c, "nat_router"), "nat_nmask is not set: cannot check that the real servers are on the NAT network")
		}
		return
	}
	net := netip.PrefixFrom(c.NATRouter, c.NATNetmask.Bits()).Masked()
	for _, v := range c.Virtuals {
		if !v.Active {
			continue
		}
		for _, s := range v.Servers {
			if s.Address.Is4() && !net.Contains(s.Address) {
				d.warnf(k.at(s, "address"), "virtual %s, server %s: %s is outside the NAT network %s of nat_router %s: its replies will not return through the router",
					v.Name, s.Name, s.Address, net, c.NATRouter)
			}
		}
	}
}

// hasActiveServers reports whether an active virtual server has an active
// IPv4 real server (IPv6 ones need nat_router6 instead, see nat6).
func (k *checker) hasActiveServers() bool {
	for _, v := range k.c.Virtuals {
		for _, s := range v.Servers {
			if v.Active && s.Active && !s.Address.Is6() {
				return true
			}
		}
	}
	return false
}

// routerAddrs maps the routers' own and floating addresses to their key names.
func (k *checker) routerAddrs() map[netip.Addr]string {
	c := k.c
	m := map[netip.Addr]string{}
	for _, x := range []struct {
		a    netip.Addr
		name string
	}{{c.Primary, "primary"}, {c.Backup, "backup"}, {c.PrimaryPrivate, "primary_private"},
		{c.BackupPrivate, "backup_private"}, {c.NATRouter, "nat_router"}, {c.NATRouter6, "nat_router6"}} {
		if x.a.IsValid() {
			if _, dup := m[x.a]; !dup {
				m[x.a] = x.name
			}
		}
	}
	return m
}

// serviceKey identifies a virtual service without a firewall mark (those
// sharing a mark are one service, see fwmarkGroups).
type serviceKey struct {
	proto Protocol
	addr  netip.Addr
	port  uint16
}

// conflicts finds active virtual servers that claim the same service or put
// one VIP on two interfaces.
func (k *checker) conflicts() {
	seen := map[serviceKey]*Virtual{}
	vips := map[netip.Addr]*Virtual{}
	for _, v := range k.c.Virtuals {
		if !v.Active || !v.Address.IsValid() {
			continue
		}
		if w, ok := vips[v.Address]; ok && w.Interface() != v.Interface() {
			k.d.errorf(k.at(v, "address"), "virtual %s: VIP %s is on %s, but virtual %s (line %d) puts it on %s: one address lives on one interface",
				v.Name, v.Address, v.Device, w.Name, w.Line, w.Device)
		} else if ok && w.VIPNetmask != v.VIPNetmask {
			k.d.warnf(k.at(v, "vip_nmask"), "virtual %s: VIP %s has vip_nmask %s here but %s in virtual %s (line %d)",
				v.Name, v.Address, maskOrNone(v.VIPNetmask), maskOrNone(w.VIPNetmask), w.Name, w.Line)
		} else if !ok {
			vips[v.Address] = v
		}
		if v.FWMark != 0 {
			continue // services sharing a mark are one IPVS service: see fwmarkGroups
		}
		key := serviceKey{proto: v.Protocol, addr: v.Address, port: v.Port}
		if w, ok := seen[key]; ok {
			k.d.errorf(k.at(v, ""), "virtual %s: %s %s:%d is already served by virtual %s (line %d)",
				v.Name, v.Protocol, v.Address, v.Port, w.Name, w.Line)
			continue
		}
		seen[key] = v
	}
}

// fwmarkGroups checks active virtual servers that share a firewall mark and
// family. IPVS keys a firewall-mark service by the mark and the family
// (ipvsadm -A -f MARK, -A -f MARK -6), so they are one service: its
// scheduler and persistence come from the first block, and the guide
// (§4.6.1) asks for the same persistence on each. A block's family is its
// VIP's.
func (k *checker) fwmarkGroups() {
	type markKey struct {
		mark uint32
		v6   bool
	}
	first := map[markKey]*Virtual{}
	for _, v := range k.c.Virtuals {
		if !v.Active || v.FWMark == 0 {
			continue
		}
		mk := markKey{v.FWMark, v.IsIPv6()}
		w, ok := first[mk]
		if !ok {
			first[mk] = v
			continue
		}
		diff := func(key string, here, there any) {
			k.d.warnf(k.at(v, key), "virtual %s: fwmark %d is shared with virtual %s (line %d), which has %s %v, not %v: one mark is one service, and lvs-go uses the first block's value",
				v.Name, v.FWMark, w.Name, w.Line, key, there, here)
		}
		if v.Persistent != w.Persistent {
			diff("persistent", secs(v.Persistent), secs(w.Persistent))
		}
		if v.PMask != w.PMask {
			diff("pmask", maskOrNone(v.PMask), maskOrNone(w.PMask))
		}
		if v.Scheduler != w.Scheduler {
			diff("scheduler", v.Scheduler, w.Scheduler)
		}
		if v.SchedFlags != w.SchedFlags {
			diff("scheduler_flags", v.SchedFlags.format(v.Scheduler), w.SchedFlags.format(w.Scheduler))
		}
	}
}

// maskOrNone prints an unset netmask as "none".
func maskOrNone(m Netmask) string {
	if !m.IsValid() {
		return "none"
	}
	return m.String()
}

// secs prints a duration as lvs.cf does, in seconds.
func secs(d time.Duration) string { return fmtSecs(d) }

// ruleBlocks checks fwmark_rule and masquerade blocks.
func (k *checker) ruleBlocks() {
	marks := map[string]int{}
	for _, b := range k.c.FWMarkRules {
		k.ruleName(marks, "fwmark_rule", b.Name, b.Line)
		if b.Mark == 0 && !k.written(b, "mark") {
			k.d.errorf(b.Line, "fwmark_rule %s: missing mark: expected `mark = N`", b.Name)
		}
		if err := validateMatch(&b.RuleMatch); err != nil {
			k.d.errorf(k.at(b, "protocol"), "fwmark_rule %s: %v", b.Name, err)
		}
	}
	masq := map[string]int{}
	for _, b := range k.c.Masquerades {
		k.ruleName(masq, "masquerade", b.Name, b.Line)
		if err := validateMatch(&b.RuleMatch); err != nil {
			k.d.errorf(k.at(b, "protocol"), "masquerade %s: %v", b.Name, err)
		}
		if !b.Source.IsValid() && !k.written(b, "source") {
			k.d.errorf(b.Line, "masquerade %s: missing source: expected `source = NETWORK`, the real servers' network (guide §3.5.3.1)", b.Name)
		}
	}
}

func (k *checker) ruleName(seen map[string]int, kind, name string, line int) {
	if first, dup := seen[name]; dup {
		k.d.errorf(line, "%s %s: duplicate name (also on line %d)", kind, name, first)
		return
	}
	seen[name] = line
}
