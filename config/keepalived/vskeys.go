package keepalived

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"lvs/config"
)

// vsConv converts the body of one virtual_server for one service.
type vsConv struct {
	cv    *converter
	d     *diag
	b     *Stmt
	where string
	v     *config.Virtual
	vhost string // virtualhost, the Host of HTTP_GET checks

	inhibit    bool                     // the virtual_server's inhibit_on_failure
	srvInhibit map[*config.Server]*bool // each server's own inhibit_on_failure, nil when not written

	probe     *probe // the check lvs.cf applies to every server: the first one's
	unchecked []*Stmt
}

// key converts one keyword of a virtual_server body.
func (vc *vsConv) key(s *Stmt) {
	v, d := vc.v, vc.d
	switch s.Key {
	case "lb_algo", "lvs_sched":
		if vc.d.need(s, 1, 1) {
			sc, ok := config.ParseScheduler(s.Args[0])
			if !ok {
				d.at(s, "%s: %s: expected a scheduler (%s), got %q", vc.where, s.Key, strings.Join(config.SchedulerNames(), " "), s.Args[0])
				return
			}
			v.Scheduler = sc
		}
	case "lb_kind", "lvs_method":
		if vc.d.need(s, 1, -1) {
			vc.method(s, "")
		}
	case "flag-1", "sh-fallback", "mh-fallback":
		v.SchedFlags |= config.SchedFlagFallback
	case "flag-2", "sh-port", "mh-port":
		v.SchedFlags |= config.SchedFlagPort
	case "persistence_timeout":
		v.Persistent = keepalivedPersistence
		if len(s.Args) > 0 {
			if t, ok := vc.d.seconds(s, s.Args[0], 1); ok {
				v.Persistent = t
			}
		}
	case "persistence_granularity":
		if vc.d.need(s, 1, 1) {
			m, err := config.ParseNetmask(s.Args[0])
			if err != nil {
				d.at(s, "%s: persistence_granularity: %v", vc.where, err)
				return
			}
			if m.Bits() < 32 {
				v.PMask = m
			}
		}
	case "protocol":
		// read by virtualServer
	case "delay_loop":
		if vc.d.need(s, 1, 1) {
			if t, ok := vc.d.seconds(s, s.Args[0], 1); ok {
				v.Timeout = t
			}
		}
	case "inhibit_on_failure":
		vc.inhibit = vc.boolArg(s)
	case "sorry_server":
		vc.sorry(s)
	case "quorum", "hysteresis":
		if vc.d.need(s, 1, 1) {
			def := map[string]string{"quorum": "1", "hysteresis": "0"}[s.Key]
			if s.Args[0] != def {
				d.warn(s, "%s: %s %s has no equivalent in lvs.cf: lvsd switches to sorry_server when no real server is up (keepalived's %s %s): not carried over", vc.where, s.Key, s.Args[0], s.Key, def)
			}
		}
	case "virtualhost":
		if vc.d.need(s, 1, 1) {
			vc.vhost = s.Args[0]
		}
	case "real_server":
		vc.server(s)
	default:
		d.unsupported(s, vc.where)
	}
}

// boolArg reads an optional <BOOL>: omitted means on.
func (vc *vsConv) boolArg(s *Stmt) bool {
	if len(s.Args) == 0 {
		return true
	}
	switch strings.ToLower(s.Args[0]) {
	case "on", "true", "yes":
		return true
	case "off", "false", "no":
		return false
	}
	vc.d.at(s, "%s: %s: expected on, off, true, false, yes or no, got %q", vc.where, s.Key, s.Args[0])
	return false
}

// method converts lb_kind/lvs_method. lvs.cf has one forwarding method for
// every server (network): the first one written wins.
func (vc *vsConv) method(s *Stmt, server string) {
	var n config.Network
	switch strings.ToUpper(s.Args[0]) {
	case "NAT":
		n = config.NetworkNAT
	case "DR":
		n = config.NetworkDirect
	case "TUN":
		n = config.NetworkTunnel
		if len(s.Args) > 1 {
			vc.d.warn(s, "%s: %s TUN %s: lvsd tunnels with IPIP only: the options are not carried over", vc.where, s.Key, strings.Join(s.Args[1:], " "))
		}
	default:
		vc.d.at(s, "%s: %s: expected NAT, DR or TUN, got %q", vc.where, s.Key, s.Args[0])
		return
	}
	cv := vc.cv
	if cv.network == nil {
		cv.network, cv.c.Network = s, n
		return
	}
	if n != cv.c.Network {
		vc.d.warn(s, "%s%s: %s %s: lvs.cf has one forwarding method for every real server, %s from line %d: not carried over",
			vc.where, server, s.Key, s.Args[0], cv.c.Network, cv.network.Line)
	}
}

// sorry converts `sorry_server IP [PORT]`.
func (vc *vsConv) sorry(s *Stmt) {
	if !vc.d.need(s, 1, 2) {
		return
	}
	a, err := netip.ParseAddr(s.Args[0])
	if err != nil || !a.Is4() {
		vc.d.at(s, "%s: sorry_server: expected an IPv4 address, got %q", vc.where, s.Args[0])
		return
	}
	vc.v.SorryServer = a
	if len(s.Args) == 2 && s.Args[1] != strconv.Itoa(int(vc.v.Port)) {
		vc.d.warn(s, "%s: sorry_server port %s: lvs.cf's sorry_server takes the virtual port %d: not carried over", vc.where, s.Args[1], vc.v.Port)
	}
}

// server converts one real_server block.
func (vc *vsConv) server(b *Stmt) {
	v := vc.v
	if !vc.d.need(b, 1, 2) {
		return
	}
	a, err := netip.ParseAddr(b.Args[0])
	if err != nil {
		vc.d.at(b, "%s: real_server: expected an IP address, got %q", vc.where, b.Args[0])
		return
	}
	if !a.Is4() {
		vc.d.warn(b, "%s: real_server %s: lvs.cf holds IPv4 servers only: not carried over", vc.where, a)
		return
	}
	port := v.Port
	if len(b.Args) == 2 {
		n, err := strconv.ParseUint(b.Args[1], 10, 16)
		if err != nil {
			vc.d.at(b, "%s: real_server %s: expected a port number, got %q", vc.where, a, b.Args[1])
			return
		}
		port = uint16(n)
	}
	s := config.NewServer(fmt.Sprintf("rs_%s_%d", a, port))
	s.Address, s.Active = a, true
	if port != v.Port {
		s.Port = port
	}
	where := fmt.Sprintf(", real_server %s %d", a, port)
	var inhibit *bool
	var checked bool
	for _, k := range b.Block {
		switch k.Key {
		case "weight":
			if vc.d.need(k, 1, 1) {
				n, err := strconv.Atoi(k.Args[0])
				if err != nil || n < 0 || n > 65535 {
					vc.d.at(k, "%s%s: weight: expected 0..65535, got %q", vc.where, where, k.Args[0])
					continue
				}
				s.Weight = n
			}
		case "lvs_method":
			if vc.d.need(k, 1, -1) {
				vc.method(k, where)
			}
		case "uthreshold", "lthreshold":
			if vc.d.need(k, 1, 1) {
				n, err := strconv.Atoi(k.Args[0])
				if err != nil || n < 0 || n > 65535 {
					vc.d.at(k, "%s%s: %s: expected 0..65535, got %q", vc.where, where, k.Key, k.Args[0])
					continue
				}
				if k.Key == "uthreshold" {
					s.UThreshold = n
				} else {
					s.LThreshold = n
				}
			}
		case "inhibit_on_failure":
			b := vc.boolArg(k)
			inhibit = &b
		case "delay_loop":
			vc.delayLoop(k, where)
		default:
			if isChecker(k.Key) {
				if checked {
					vc.d.warn(k, "%s%s: %s: lvs.cf has one check per real server, the first one: not carried over", vc.where, where, k.Key)
					continue
				}
				checked = true
				vc.check(k, s, port, where)
				continue
			}
			vc.d.unsupported(k, vc.where+where)
		}
	}
	if !checked {
		vc.unchecked = append(vc.unchecked, b)
	}
	if vc.srvInhibit == nil {
		vc.srvInhibit = map[*config.Server]*bool{}
	}
	vc.srvInhibit[s] = inhibit
	v.Servers = append(v.Servers, s)
}

// delayLoop warns about a delay_loop of a real server or checker that
// differs from the virtual server's, as lvs.cf has one per virtual.
func (vc *vsConv) delayLoop(k *Stmt, where string) {
	if !vc.d.need(k, 1, 1) {
		return
	}
	if t, ok := vc.d.seconds(k, k.Args[0], 1); ok && t != vc.v.Timeout {
		vc.d.warn(k, "%s%s: delay_loop %s: lvs.cf checks every real server of a virtual at one interval, %d s: not carried over", vc.where, where, k.Args[0], int(vc.v.Timeout.Seconds()))
	}
}

// finish applies what needs every server: quiesce, the check, reentry.
func (vc *vsConv) finish() {
	v := vc.v
	var on, off []*config.Server
	for _, s := range v.Servers {
		eff := vc.inhibit
		if p := vc.srvInhibit[s]; p != nil {
			eff = *p
		}
		if eff {
			on = append(on, s)
		} else {
			off = append(off, s)
		}
	}
	v.QuiesceServer = len(on) > 0
	if len(on) > 0 && len(off) > 0 {
		vc.d.warn(vc.b, "%s: inhibit_on_failure is set for %d real servers and not for %d: lvs.cf quiesces every server of a virtual or none, so all are quiesced", vc.where, len(on), len(off))
	}
	// keepalived puts a failed server back after one good check.
	v.Reentry = v.Timeout
	if p := vc.probe; p != nil {
		v.Send, v.Expect, v.UseRegex, v.SendProgram = p.send, p.expect, p.regex, p.program
	}
	if len(vc.unchecked) > 0 {
		what := "nanny's default check, a TCP connect to the real port"
		switch {
		case vc.probe != nil:
			what = "the check of the other real servers"
		case v.Port == 80:
			what = `nanny's default check on port 80, "GET / HTTP/1.0" expecting "HTTP"`
		}
		for _, s := range vc.unchecked {
			vc.d.warn(s, "%s: real_server %s has no checker, so keepalived never takes it out; lvsd checks it with %s", vc.where, strings.Join(s.Args, " "), what)
		}
	}
	if v.SchedFlags != 0 && v.Scheduler != config.SchedSH && v.Scheduler != config.SchedMH {
		vc.d.warn(vc.b, "%s: scheduler flags apply to the sh and mh schedulers only (lvs.cf), and the scheduler is %s: not carried over", vc.where, v.Scheduler)
		v.SchedFlags = 0
	}
}
