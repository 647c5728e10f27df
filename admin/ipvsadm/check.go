package ipvsadm

import (
	"slices"
	"strings"
	"time"

	"lvs/ipvs"
	"lvs/sched"
)

// opt is one of ipvsadm's OPT_* bits: the options the command×option matrix
// knows about.
type opt uint32

// The options, in ipvsadm's OPT_* order (1.31's names, which 1.26's optnames
// table garbles after "scheduler"), then -b.
const (
	optNumeric opt = 1 << iota
	optConnection
	optService
	optScheduler
	optPersistent
	optNetmask
	optServer
	optForward
	optWeight
	optUThreshold
	optLThreshold
	optMcast
	optTimeout
	optDaemon
	optStats
	optRate
	optThresholds
	optPersistentConn
	optNoSort
	optSyncID
	optExact
	optOps
	optSchedFlags
	numOpts = iota
)

var optNames = [numOpts]string{"numeric", "connection", "service-address", "scheduler", "persistent",
	"netmask", "real-server", "forwarding-method", "weight", "u-threshold", "l-threshold",
	"mcast-interface", "timeout", "daemon", "stats", "rate", "thresholds", "persistent-conn", "nosort",
	"syncid", "exact", "ops", "sched-flags"}

func (o opt) name() string {
	for i := range numOpts {
		if o == 1<<i {
			return optNames[i]
		}
	}
	return "?"
}

// matrix is ipvsadm's commands_v_options: per command, per option in opt
// order, '+' compulsory, 'x' illegal, '1' at most one of the '1's, ' '
// optional. Commands lvsadm adds take no options at all.
var matrix = map[Kind]string{
	//                n c s s p M r f w x y m t d s r t p s s e o b
	KindAddService:  "xx+   xxxxxxxxxxxxxxx  ",
	KindEditService: "xx+   xxxxxxxxxxxxxxx  ",
	KindDelService:  "xx+xxxxxxxxxxxxxxxxxxxx",
	KindClear:       "xxxxxxxxxxxxxxxxxxxxxxx",
	KindList:        " 11xxxxxxxxx11       xx",
	KindAddDest:     "xx+xxx+    xxxxxxxxxxxx",
	KindDelDest:     "xx+xxx+xxxxxxxxxxxxxxxx",
	KindEditDest:    "xx+xxx+    xxxxxxxxxxxx",
	KindSetTimeouts: "xxxxxxxxxxxxxxxxxxxxxxx",
	KindStartDaemon: "xxxxxxxxxxx xxxxxxx xxx",
	KindStopDaemon:  "xxxxxxxxxxxxxxxxxxx xxx",
	KindRestore:     "xxxxxxxxxxxxxxxxxxxxxxx",
	KindSave:        " xxxxxxxxxxxxxxxxxxxxxx",
	KindZero:        "xx xxxxxxxxxxxxxxxxxxxx",
	KindSaveConfig:  "xxxxxxxxxxxxxxxxxxxxxxx",
}

// checkMatrix is ipvsadm's generic_opt_check.
func checkMatrix(k Kind, set opt) error {
	row := matrix[k]
	last := -1
	for j := range numOpts {
		o := opt(1) << j
		if set&o == 0 {
			if row[j] == '+' {
				return usagef("You need to supply the '%s' option for the '%s' command", optNames[j], k)
			}
			continue
		}
		switch row[j] {
		case 'x':
			return usagef("Illegal '%s' option with the '%s' command", optNames[j], k)
		case '1':
			if last >= 0 {
				return usagef("The option '%s' conflicts with the '%s' option in the '%s' command", optNames[j], optNames[last], k)
			}
			last = j
		}
	}
	return nil
}

// parser accumulates one command line, as ipvsadm's process_options.
type parser struct {
	cmd       Command
	set       opt
	destArg   string
	haveSock  bool
	maskArg   string // -M, read once the address family is known
	schedFlag []string
}

func newParser() *parser {
	p := &parser{}
	p.cmd.Dest.Weight = 1
	p.cmd.Sched.PMaskBits = 32
	return p
}

func (p *parser) setOpt(o opt) error {
	if p.set&o != 0 {
		return usagef("multiple '%s' options specified", o.name())
	}
	p.set |= o
	return nil
}

// apply takes one option, as the switch in ipvsadm's parse_options.
func (p *parser) apply(t token) error {
	if k, ok := commandOf[t.name]; ok {
		if p.cmd.Kind != "" {
			return usagef("multiple commands specified")
		}
		p.cmd.Kind = k
		if k == KindStartDaemon || k == KindStopDaemon {
			if t.arg != "master" && t.arg != "backup" {
				return usagef("illegal %s parameter specified", k)
			}
			p.cmd.SyncState = t.arg
		}
		return nil
	}
	if t.name == "ipv6" {
		// As ipvsadm: -6 marks the -f service given before it as IPv6; it
		// sets no option bit, so the matrix never sees it.
		if p.cmd.Service.FWMark == 0 {
			return usagef("-6 used before -f")
		}
		p.cmd.Service.IPv6 = true
		return nil
	}
	if o, ok := flagOpts[t.name]; ok {
		return p.flag(t.name, o)
	}
	return p.valued(t)
}

// flagOpts are the options without an argument and their OPT bit.
var flagOpts = map[string]opt{
	"masquerading": optForward, "ipip": optForward, "gatewaying": optForward, "numeric": optNumeric,
	"connection": optConnection, "timeout": optTimeout, "daemon": optDaemon, "stats": optStats,
	"rate": optRate, "thresholds": optThresholds, "persistent-conn": optPersistentConn,
	"nosort": optNoSort, "exact": optExact, "ops": optOps, "sort": 0,
}

var flagFormats = map[string]ListFormat{"stats": FmtStats, "rate": FmtRate, "thresholds": FmtThresholds,
	"persistent-conn": FmtPersistentConn, "nosort": FmtNoSort, "exact": FmtExact}

func (p *parser) flag(name string, o opt) error {
	if o == 0 { // --sort: the default, a no-op kept for compatibility
		return nil
	}
	if err := p.setOpt(o); err != nil {
		return err
	}
	p.cmd.Format |= flagFormats[name]
	switch name {
	case "masquerading", "ipip", "gatewaying":
		p.cmd.MethodSet = true
		p.cmd.Dest.Method = map[string]ipvs.Method{"masquerading": ipvs.Masq, "ipip": ipvs.Tunnel, "gatewaying": ipvs.Route}[name]
	case "numeric":
		p.cmd.Numeric = true
	case "connection":
		p.cmd.Conns = true
	case "timeout":
		p.cmd.ShowTimeouts = true
	case "daemon":
		p.cmd.ShowDaemon = true
	case "ops":
		p.cmd.Sched.OnePacket = true
	}
	return nil
}

// valued takes the options with an argument.
func (p *parser) valued(t token) error {
	var err error
	switch t.name {
	case "tcp-service", "udp-service", "fwmark-service":
		return p.service(t)
	case "scheduler":
		err = p.setOpt(optScheduler)
		p.cmd.Sched.SchedName = t.arg
	case "persistent":
		if err = p.setOpt(optPersistent); err == nil {
			p.cmd.Sched.Persistence = DefaultPersistence * time.Second
			if t.hasArg {
				var v int
				v, err = parseTimeout(t.arg, 1)
				p.cmd.Sched.Persistence = seconds(v)
			}
		}
	case "netmask":
		err = p.setOpt(optNetmask)
		p.maskArg = t.arg
	case "real-server":
		err = p.setOpt(optServer)
		p.destArg = t.arg
	case "weight":
		if err = p.setOpt(optWeight); err == nil {
			var w int
			w, err = parseNumber(t.arg, 0, 65535, "illegal weight specified")
			p.cmd.Dest.Weight = int32(w)
		}
	case "u-threshold", "l-threshold":
		err = p.threshold(t)
	case "mcast-interface":
		err = p.setOpt(optMcast)
	case "syncid":
		if err = p.setOpt(optSyncID); err == nil {
			_, err = parseNumber(t.arg, 0, 255, "illegal syncid specified")
		}
	case "sched-flags":
		err = p.setOpt(optSchedFlags)
		p.schedFlag = strings.Split(t.arg, ",")
	case "socket":
		if p.haveSock {
			return usagef("multiple 'socket' options specified")
		}
		p.haveSock, p.cmd.Socket = true, t.arg
	}
	return err
}

func (p *parser) threshold(t token) error {
	o, msg, dst := optUThreshold, "illegal u_threshold specified", &p.cmd.Dest.UThreshold
	if t.name == "l-threshold" {
		o, msg, dst = optLThreshold, "illegal l_threshold specified", &p.cmd.Dest.LThreshold
	}
	if err := p.setOpt(o); err != nil {
		return err
	}
	v, err := parseNumber(t.arg, 0, 1<<31-1, msg)
	*dst = uint32(v)
	return err
}

func (p *parser) service(t token) error {
	if err := p.setOpt(optService); err != nil {
		return err
	}
	p.cmd.HasService = true
	if t.name == "fwmark-service" {
		mark, err := parseFWMark(t.arg)
		p.cmd.Service = ipvs.MarkKey(mark)
		return err
	}
	proto := ipvs.TCP
	if t.name == "udp-service" {
		proto = ipvs.UDP
	}
	addr, port, _, err := parseHostPort(t.arg, proto)
	if err != nil {
		return usagef("illegal virtual server address[:port] specified")
	}
	p.cmd.Service = ipvs.ServiceKey{Proto: proto, Addr: addr, Port: port}
	return nil
}

// finish runs the checks ipvsadm makes once every option is read.
func (p *parser) finish() error {
	c := &p.cmd
	if err := checkMatrix(c.Kind, p.set); err != nil {
		return err
	}
	if p.destArg != "" {
		addr, port, hasPort, err := parseHostPort(p.destArg, c.Service.Proto)
		if err != nil {
			return usagef("illegal real server address[:port] specified")
		}
		if !hasPort {
			port = c.Service.Port
		}
		c.Dest.Addr, c.Dest.Port, c.DestPortSet = addr, port, hasPort
	}
	switch c.Kind {
	case KindList:
		if (c.Conns || c.ShowTimeouts || c.ShowDaemon) && c.Format&(FmtStats|FmtRate|FmtThresholds) != 0 ||
			(c.ShowTimeouts || c.ShowDaemon) && c.Format&FmtPersistentConn != 0 {
			return usagef("options conflicts in the list command")
		}
	case KindAddService, KindEditService:
		return p.finishService()
	case KindAddDest, KindEditDest:
		if c.MethodSet && c.Service.FWMark == 0 && c.Dest.Method != ipvs.Masq {
			c.Dest.Port = c.Service.Port // as ipvsadm: DR and TUN keep the virtual port
		}
	}
	return nil
}

func (p *parser) finishService() error {
	c := &p.cmd
	if c.Service.FWMark == 0 && c.Service.Port == 0 && c.Sched.Persistence == 0 {
		return usagef("Zero port specified for non-persistent service")
	}
	if c.Sched.OnePacket && c.Service.FWMark == 0 && c.Service.Proto != ipvs.UDP {
		return usagef("One-Packet Scheduling is only for UDP virtual services")
	}
	if c.Sched.SchedName == "" {
		c.Sched.SchedName = sched.Default
	}
	if !slices.Contains(sched.Names(), c.Sched.SchedName) {
		return ErrNoScheduler
	}
	if c.Is6() {
		c.Sched.PMaskBits = 128
	}
	if p.set&optNetmask != 0 {
		bits, err := parseNetmask(p.maskArg, c.Is6())
		if err != nil {
			return err
		}
		c.Sched.PMaskBits = bits
	}
	flags, err := parseSchedFlags(p.schedFlag, c.Sched.SchedName)
	c.Sched.SchedOpts.Flags = flags
	return err
}
