package keepalived

import (
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// instance is what a vrrp_instance tells about the two routers.
type instance struct {
	name     string
	stmt     *Stmt
	state    string // MASTER or BACKUP (keepalived's default)
	iface    string
	priority int
	advert   float64 // advert_int, seconds
	advertAt *Stmt
	self     netip.Addr // unicast_src_ip or mcast_src_ip
	peers    []netip.Addr
	authPass string
	authAt   *Stmt
	tracked  []*Stmt // track_interface entries
}

// vip is one entry of virtual_ipaddress: an address lvsd must own.
type vip struct {
	addr netip.Addr
	bits int    // prefix length written, -1 when none
	dev  string // label, else dev, else the instance's interface
	stmt *Stmt
	inst *instance
	used bool // a virtual_server or nat_router took it
}

// instance converts one vrrp_instance.
func (cv *converter) instance(b *Stmt) {
	if !cv.d.need(b, 1, 1) {
		return
	}
	in := &instance{name: b.Args[0], stmt: b, state: "BACKUP", priority: 100, advert: 1}
	where := "vrrp_instance " + in.name
	var vipStmts []*Stmt
	for _, s := range b.Block {
		switch s.Key {
		case "state":
			if cv.d.need(s, 1, 1) {
				if st := strings.ToUpper(s.Args[0]); st == "MASTER" || st == "BACKUP" {
					in.state = st
				} else {
					cv.d.at(s, "%s: state: expected MASTER or BACKUP, got %q", where, s.Args[0])
				}
			}
		case "interface":
			if cv.d.need(s, 1, 1) {
				in.iface = s.Args[0]
			}
		case "priority":
			if cv.d.need(s, 1, 1) {
				n, err := strconv.Atoi(s.Args[0])
				if err != nil || n < 1 || n > 255 {
					cv.d.at(s, "%s: priority: expected 1..255, got %q", where, s.Args[0])
				}
				in.priority = n
			}
		case "advert_int":
			if cv.d.need(s, 1, 1) {
				f, err := strconv.ParseFloat(s.Args[0], 64)
				if err != nil || !(f > 0 && f <= 255) {
					cv.d.at(s, "%s: advert_int: expected seconds, got %q", where, s.Args[0])
					continue
				}
				in.advert, in.advertAt = f, s
			}
		case "authentication":
			cv.auth(in, s, where)
		case "virtual_ipaddress", "virtual_ipaddress_excluded":
			vipStmts = append(vipStmts, s.Block...)
		case "unicast_src_ip", "mcast_src_ip":
			if cv.d.need(s, 1, 1) {
				a, err := netip.ParseAddr(s.Args[0])
				if err != nil {
					cv.d.at(s, "%s: %s: expected an IP address, got %q", where, s.Key, s.Args[0])
					continue
				}
				in.self = a
			}
		case "unicast_peer":
			for _, p := range s.Block {
				a, err := netip.ParseAddr(p.Key)
				if err != nil {
					cv.d.at(p, "%s: unicast_peer: expected an IP address, got %q", where, p.Key)
					continue
				}
				if len(p.Args) > 0 {
					cv.d.warn(p, "%s: unicast_peer %s: %s has no equivalent in lvs.cf: not carried over", where, p.Key, strings.Join(p.Args, " "))
				}
				in.peers = append(in.peers, a)
				if len(in.peers) == 2 {
					cv.d.warn(p, "%s: unicast_peer %s: lvs.cf has one partner router: only the first peer is used", where, p.Key)
				}
			}
		case "nopreempt":
			cv.c.Failback = false
		case "preempt":
			// keepalived's default, and lvs.cf's (failback = 1)
		case "lvs_sync_daemon_interface":
			if cv.d.need(s, 1, 1) {
				cv.c.SyncDaemon, cv.c.SyncdIface = true, s.Args[0]
			}
		case "notify_master":
			if cv.d.need(s, 1, 3) {
				cv.c.ActiveCmd = cv.script(s, where+": ")
			}
		case "notify_backup":
			if cv.d.need(s, 1, 3) {
				cv.c.InactiveCmd = cv.script(s, where+": ")
			}
		case "track_interface":
			in.tracked = append(in.tracked, s.Block...)
		default:
			cv.d.unsupported(s, where)
		}
	}
	for _, s := range vipStmts {
		cv.vip(in, s, where)
	}
	if len(in.tracked) > 0 {
		cv.c.MonitorLinks = true
		for _, t := range in.tracked {
			if t.Key != in.iface {
				cv.d.warn(t, "%s: track_interface %s: lvs.cf's monitor_links watches the links of the VIPs' interfaces, not a list: %s is not watched", where, t.Key, t.Key)
			}
		}
	}
	cv.vrrp = append(cv.vrrp, in)
}

// auth converts authentication { auth_type PASS|AH; auth_pass X }: the
// password becomes heartbeat_key, which lvsd uses as an HMAC key.
func (cv *converter) auth(in *instance, b *Stmt, where string) {
	for _, s := range b.Block {
		switch s.Key {
		case "auth_type":
			if cv.d.need(s, 1, 1) && strings.ToUpper(s.Args[0]) == "AH" {
				cv.d.warn(s, "%s: auth_type AH has no equivalent in lvs.cf: heartbeats are authenticated with an HMAC keyed by auth_pass (heartbeat_key) instead", where)
			}
		case "auth_pass":
			if cv.d.need(s, 1, 1) {
				in.authPass, in.authAt = s.Args[0], s
			}
		default:
			cv.d.unsupported(s, where+": authentication")
		}
	}
}

// vip converts one virtual_ipaddress entry: ADDR[/LEN] [dev D] [label L] ….
func (cv *converter) vip(in *instance, s *Stmt, where string) {
	v := &vip{bits: -1, dev: in.iface, stmt: s, inst: in}
	addr, bits, hasBits := strings.Cut(s.Key, "/")
	a, err := netip.ParseAddr(addr)
	if err != nil {
		cv.d.at(s, "%s: virtual_ipaddress: expected an address, got %q", where, s.Key)
		return
	}
	v.addr = a
	if hasBits {
		n, err := strconv.Atoi(bits)
		if err != nil || n < 0 || n > a.BitLen() {
			cv.d.at(s, "%s: virtual_ipaddress %s: expected a prefix length after /, got %q", where, s.Key, bits)
			return
		}
		v.bits = n
	}
	var label string
	for i := 0; i < len(s.Args); i++ {
		opt := s.Args[i]
		switch {
		case (opt == "dev" || opt == "label") && i+1 < len(s.Args):
			if opt == "dev" {
				v.dev = s.Args[i+1]
			} else {
				label = s.Args[i+1]
			}
			i++
		case slices.Contains([]string{"brd", "broadcast", "scope", "peer", "preferred_lft", "track_group", "use_vmac"}, opt) && i+1 < len(s.Args):
			cv.d.warn(s, "%s: virtual_ipaddress %s: %s %s has no equivalent in lvs.cf: not carried over", where, s.Key, opt, s.Args[i+1])
			i++
		default:
			cv.d.warn(s, "%s: virtual_ipaddress %s: %s has no equivalent in lvs.cf: not carried over", where, s.Key, opt)
		}
	}
	if label != "" {
		v.dev = label
	}
	if !a.Is4() {
		cv.d.warn(s, "%s: virtual_ipaddress %s: lvs.cf holds IPv4 addresses only: not carried over", where, s.Key)
		v.used = true // reported here, not again as unused
	}
	cv.vips = append(cv.vips, v)
}

// syncGroup converts a vrrp_sync_group: lvs.cf has one role for every
// address, which is what a sync group asks for; its notify scripts are
// the role scripts.
func (cv *converter) syncGroup(b *Stmt) {
	where := "vrrp_sync_group " + strings.Join(b.Args, " ")
	for _, s := range b.Block {
		switch s.Key {
		case "group":
			for _, m := range s.Block {
				if !slices.ContainsFunc(cv.vrrp, func(in *instance) bool { return in.name == m.Key }) {
					cv.d.warn(m, "%s: no vrrp_instance %s", where, m.Key)
				}
			}
		case "notify_master":
			if cv.d.need(s, 1, 3) {
				cv.c.ActiveCmd = cv.script(s, where+": ")
			}
		case "notify_backup":
			if cv.d.need(s, 1, 3) {
				cv.c.InactiveCmd = cv.script(s, where+": ")
			}
		default:
			cv.d.unsupported(s, where)
		}
	}
}

// findVIP returns the virtual_ipaddress entry for a, or nil.
func (cv *converter) findVIP(a netip.Addr) *vip {
	for _, v := range cv.vips {
		if v.addr == a {
			return v
		}
	}
	return nil
}

// defaultDevice is where a VIP that no vrrp_instance carries goes: the
// first instance's interface, else eth0 (Piranha's examples).
func (cv *converter) defaultDevice() string {
	for _, in := range cv.vrrp {
		if in.iface != "" {
			return in.iface
		}
	}
	return "eth0"
}

// roles sets primary, backup and the heartbeat from the vrrp_instances:
// the first one decides; the others must agree, as lvs.cf has one role
// for all addresses.
func (cv *converter) roles() {
	c, opts := cv.c, cv.opts
	if len(cv.vrrp) == 0 {
		c.Primary = opts.Primary
		c.Backup = opts.Backup
		c.BackupActive = c.Backup.IsValid()
		if !c.Primary.IsValid() {
			cv.d.errorf(cv.name, 1, "no vrrp_instance: lvs.cf needs this router's public address as primary: pass --primary IP")
		}
		return
	}
	first := cv.vrrp[0]
	for _, in := range cv.vrrp[1:] {
		if in.state != first.state {
			cv.d.warn(in.stmt, "vrrp_instance %s: state %s differs from %s of vrrp_instance %s: lvs.cf has one role for all addresses, taken from the first instance", in.name, in.state, first.state, first.name)
		}
		if in.advert != first.advert && in.advertAt != nil {
			cv.d.warn(in.advertAt, "vrrp_instance %s: advert_int %v differs from %v of vrrp_instance %s: lvs.cf has one heartbeat, timed from the first instance", in.name, in.advert, first.advert, first.name)
		}
		if in.authPass != first.authPass && in.authAt != nil {
			cv.d.warn(in.authAt, "vrrp_instance %s: auth_pass differs from vrrp_instance %s's: lvs.cf has one heartbeat_key, the first instance's", in.name, first.name)
		}
	}
	var peer netip.Addr
	if len(first.peers) > 0 {
		peer = first.peers[0]
	}
	self := first.self
	if first.state == "MASTER" {
		c.Primary, c.Backup = self, peer
	} else {
		c.Primary, c.Backup = peer, self
	}
	if opts.Primary.IsValid() {
		c.Primary = opts.Primary
	}
	if opts.Backup.IsValid() {
		c.Backup = opts.Backup
	}
	for _, a := range []*netip.Addr{&c.Primary, &c.Backup} {
		if a.IsValid() && !a.Is4() {
			cv.d.at(first.stmt, "vrrp_instance %s: router address %s: lvs.cf holds IPv4 addresses only: pass --primary and --backup", first.name, *a)
			*a = netip.Addr{}
		}
	}
	if !c.Primary.IsValid() {
		cv.d.at(first.stmt, "vrrp_instance %s: cannot tell the primary router's public address (keepalived takes it from interface %s at run time): add unicast_src_ip and unicast_peer, or pass --primary IP", first.name, first.iface)
	}
	c.BackupActive = c.Backup.IsValid()
	if !c.BackupActive {
		cv.d.warn(first.stmt, "vrrp_instance %s: the backup router's address is unknown (no unicast_peer): written with backup_active = 0, so no failover; pass --backup IP", first.name)
	}
	cv.heartbeat(first)
}

// heartbeat times lvsd's heartbeat like VRRP: keepalive is advert_int and
// deadtime VRRP's master-down interval, 3 × advert_int plus the skew
// (256 − priority)/256 × advert_int (RFC 3768 §6.1), rounded up.
func (cv *converter) heartbeat(in *instance) {
	c := cv.c
	keep := max(1, int(math.Ceil(in.advert)))
	down := 3*in.advert + float64(256-in.priority)/256*in.advert
	dead := max(keep+1, int(math.Ceil(down)))
	c.Keepalive, c.Deadtime = time.Duration(keep)*time.Second, time.Duration(dead)*time.Second
	if in.advertAt != nil && float64(keep) != in.advert {
		cv.d.warn(in.advertAt, "vrrp_instance %s: advert_int %v: lvs.cf counts whole seconds: keepalive = %d", in.name, in.advert, keep)
	}
	if in.authPass != "" {
		c.HeartbeatKey = in.authPass
	}
}

// natRouter finds, for network = nat, the floating gateway of the real
// servers: a VRRP address no virtual server uses, on a network that holds
// real servers (keepalived's NAT examples put it in a second instance on
// the private interface).
func (cv *converter) natRouter() {
	c := cv.c
	if c.Network.String() != "nat" || !cv.hasServers() {
		return
	}
	for _, v := range cv.vips {
		if v.used || !v.addr.Is4() {
			continue
		}
		bits := v.bits
		if bits < 0 || bits == 32 {
			bits = 24
		}
		net := netip.PrefixFrom(v.addr, bits).Masked()
		for _, vs := range c.Virtuals {
			for _, s := range vs.Servers {
				if net.Contains(s.Address) {
					v.used = true
					c.NATRouter, c.NATRouterDevice = v.addr, v.dev
					if v.bits >= 0 && v.bits < 32 {
						c.NATNetmask = netmask(v.bits)
					} else {
						cv.d.warn(v.stmt, "%s is taken as nat_router, the real servers' gateway, as real server %s is in %s; nat_nmask is not set as the address has no prefix length", v.addr, s.Address, net)
					}
					return
				}
			}
		}
	}
	at := cv.network
	if at == nil {
		at = cv.firstVS // keepalived's default method is NAT
	}
	cv.d.at(at, "lb_kind NAT: lvs.cf needs the real servers' gateway (nat_router), a floating address on their network: none of the vrrp_instance addresses is on it; add it to a virtual_ipaddress block")
}

func (cv *converter) hasServers() bool {
	for _, v := range cv.c.Virtuals {
		if len(v.Servers) > 0 {
			return true
		}
	}
	return false
}
