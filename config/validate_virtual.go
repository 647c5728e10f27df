package config

import (
	"net/netip"
	"regexp"
	"strings"
)

// maxProbeLen is the longest send or expect string nanny handles (guide: 255).
const maxProbeLen = 255

// virtual checks one virtual or failover block and its servers.
func (k *checker) virtual(v *Virtual, kind string, names map[string]*Virtual) {
	d, at := k.d, func(key string) int { return k.at(v, key) }
	if w, dup := names[v.Name]; dup {
		d.errorf(at(""), "%s %s: duplicate name (also on line %d)", kind, v.Name, w.Line)
	} else {
		names[v.Name] = v
	}
	where := kind + " " + v.Name
	if !v.Address.IsValid() && !k.written(v, "address") {
		d.errorf(at(""), "%s: missing address: expected `address = IP DEV`, e.g. address = 192.168.26.10 eth0:1", where)
	}
	if name, ok := k.routerAddrs()[v.Address]; ok {
		d.errorf(at("address"), "%s: the VIP %s is also %s: a VIP must be a floating address of its own", where, v.Address, name)
	}
	if v.Port == 0 && v.FWMark == 0 && v.Persistent == 0 {
		d.errorf(at("port"), "%s: port 0 (every port) needs persistent or fwmark, as in IPVS", where)
	}
	k.scheduler(v, where)
	if v.PMask.IsValid() && v.Persistent == 0 {
		d.warnf(at("pmask"), "%s: pmask has no effect without persistent", where)
	}
	if v.FWMark != 0 && v.Persistent == 0 && kind == "virtual" {
		d.warnf(at("fwmark"), "%s: fwmark is set without persistent: the guide (§4.6.1) asks for persistence on firewall-mark services, or the ports of one client may go to different servers", where)
	}
	k.probe(v, where)
	k.ftpHelper(v, where)
	if v.SorryServer.IsValid() && v.SorryServer == v.Address {
		d.errorf(at("sorry_server"), "%s: sorry_server %s is the VIP itself", where, v.SorryServer)
	}
	if kind == "virtual" {
		for _, key := range []string{"start_cmd", "stop_cmd", "master", "dirs"} {
			if k.written(v, key) {
				d.warnf(at(key), "%s: %s is only used by failover blocks (service = fos)", where, key)
			}
		}
	}
	k.servers(v, where)
}

// ftpHelper checks ftp_helper: like the kernel's ip_vs_ftp it follows
// TCP control connections of NAT services.
func (k *checker) ftpHelper(v *Virtual, where string) {
	if !v.FTPHelper {
		return
	}
	at := k.at(v, "ftp_helper")
	if v.Protocol == ProtoUDP {
		k.d.errorf(at, "%s: ftp_helper needs protocol tcp: FTP control connections are TCP", where)
	}
	if v.Port == 0 {
		k.d.errorf(at, "%s: ftp_helper needs the FTP control port in port (21), got 0", where)
	}
	if k.c.Network != NetworkNAT {
		k.d.warnf(at, "%s: ftp_helper has no effect with network = %s: the helper rewrites NAT connections only, as ip_vs_ftp", where, k.c.Network)
	}
}

// scheduler checks scheduler_flags and mh_table_size against the scheduler.
func (k *checker) scheduler(v *Virtual, where string) {
	if v.Scheduler == 0 && !k.written(v, "scheduler") {
		k.d.errorf(k.at(v, ""), "%s: missing scheduler", where)
	}
	if v.SchedFlags != 0 && v.Scheduler != SchedSH && v.Scheduler != SchedMH {
		k.d.errorf(k.at(v, "scheduler_flags"), "%s: scheduler_flags apply to the sh and mh schedulers only, and the scheduler is %s", where, v.Scheduler)
	}
	if k.written(v, "mh_table_size") && v.Scheduler != SchedMH {
		k.d.warnf(k.at(v, "mh_table_size"), "%s: mh_table_size has no effect with scheduler %s", where, v.Scheduler)
	}
}

// probe checks the health-check settings: send, expect, send_program.
func (k *checker) probe(v *Virtual, where string) {
	d, at := k.d, func(key string) int { return k.at(v, key) }
	if v.SendProgram != "" {
		if v.Send != "" {
			d.warnf(at("send"), "%s: send is ignored because send_program is set", where)
		}
		words := strings.Split(v.SendProgram, " ")
		if !strings.HasPrefix(words[0], "/") {
			d.warnf(at("send_program"), "%s: send_program %q should start with an absolute path: it is run without a shell or PATH search", where, words[0])
		}
		for _, w := range words[1:] {
			if w != "%h" && w != "%p" && (strings.Contains(w, "%h") || strings.Contains(w, "%p")) {
				d.warnf(at("send_program"), "%s: send_program word %q is passed as is: only whole words %%h and %%p are replaced", where, w)
			}
		}
	}
	if v.UseRegex {
		if v.Expect == "" {
			d.warnf(at("use_regex"), "%s: use_regex is set but there is no expect string", where)
		} else if _, err := regexp.CompilePOSIX(v.Expect); err != nil {
			d.errorf(at("expect"), "%s: expect is not a valid extended regular expression: %v", where, err)
		}
	}
	for _, p := range []struct{ key, val string }{{"send", v.Send}, {"expect", v.Expect}} {
		if len(p.val) > maxProbeLen {
			d.warnf(at(p.key), "%s: %s is %d bytes; nanny handles at most %d", where, p.key, len(p.val), maxProbeLen)
		}
	}
	for _, s := range []string{v.Send, v.Expect, v.SendProgram, v.StartCmd, v.StopCmd, v.LoadMonitor, v.ClientMonitor} {
		if !quotable(s) {
			d.errorf(at(""), "%s: a string value holds a line break or both quote characters and cannot be written to lvs.cf", where)
			break
		}
	}
	if v.Reentry > 0 && v.Reentry < v.Timeout {
		d.warnf(at("reentry"), "%s: reentry (%v) is shorter than timeout (%v): a failed server returns after one good check", where, v.Reentry, v.Timeout)
	}
	switch m := v.LoadMonitor; {
	case m == "", m == "none", m == "uptime", m == "rup", m == "ruptime", strings.HasPrefix(m, "/"):
	default:
		d.warnf(at("load_monitor"), "%s: load_monitor %q is not none, uptime, rup or ruptime: it is run as a command", where, m)
	}
}

// servers checks the real servers of v.
func (k *checker) servers(v *Virtual, where string) {
	d := k.d
	names := map[string]*Server{}
	addrs := map[netip.AddrPort]*Server{}
	routers := k.routerAddrs()
	activeServers := 0
	for _, s := range v.Servers {
		at := func(key string) int { return k.at(s, key) }
		in := where + ", server " + s.Name
		if w, dup := names[s.Name]; dup {
			d.errorf(at(""), "%s: duplicate name (also on line %d)", in, w.Line)
		} else {
			names[s.Name] = s
		}
		if !s.Address.IsValid() {
			if !k.written(s, "address") {
				d.errorf(at(""), "%s: missing address: expected `address = IP`", in)
			}
			continue
		}
		if s.Active {
			activeServers++
		}
		ap := netip.AddrPortFrom(s.Address, v.RealPort(s))
		if w, dup := addrs[ap]; dup {
			d.errorf(at("address"), "%s: %s is already real server %s (line %d) of this virtual server", in, ap, w.Name, w.Line)
		} else {
			addrs[ap] = s
		}
		if s.Address == v.Address {
			d.errorf(at("address"), "%s: the real server address %s is the VIP", in, s.Address)
		}
		if name, ok := routers[s.Address]; ok {
			d.errorf(at("address"), "%s: the real server address %s is also %s", in, s.Address, name)
		}
		if s.Address == v.SorryServer {
			d.warnf(at("address"), "%s: %s is also the sorry_server of %s", in, s.Address, where)
		}
		if s.LThreshold != 0 && s.UThreshold == 0 {
			d.warnf(at("lthreshold"), "%s: lthreshold has no effect without uthreshold", in)
		} else if s.UThreshold != 0 && s.LThreshold > s.UThreshold {
			d.errorf(at("lthreshold"), "%s: lthreshold %d is above uthreshold %d", in, s.LThreshold, s.UThreshold)
		}
		if k.c.Network != NetworkNAT && s.Port != 0 && s.Port != v.Port && v.FWMark == 0 {
			d.warnf(at("port"), "%s: network = %s cannot change ports: packets keep port %d, not %d", in, k.c.Network, v.Port, s.Port)
		}
	}
	if v.Active && activeServers == 0 && !v.SorryServer.IsValid() && k.c.Virtuals != nil && !v.IsFailover(k.c) {
		d.warnf(k.at(v, ""), "%s: active, but has no active real server and no sorry_server", where)
	}
}
