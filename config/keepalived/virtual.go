package keepalived

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"lvs/config"
)

// keepalivedDelayLoop is keepalived's default delay_loop (checker interval).
const keepalivedDelayLoop = 60 * time.Second

// keepalivedPersistence is keepalived's persistence_timeout without a value.
const keepalivedPersistence = 360 * time.Second

// service is one IPVS service a virtual_server (or each member of its
// virtual_server_group) declares.
type service struct {
	addr   netip.Addr
	port   uint16
	fwmark uint32
}

// virtualServer converts one virtual_server block into one lvs.cf virtual
// per service it declares.
func (cv *converter) virtualServer(b *Stmt) {
	if cv.firstVS == nil {
		cv.firstVS = b
	}
	svcs, ok := cv.services(b)
	if !ok {
		return
	}
	proto := config.ProtoTCP
	for _, s := range b.Block {
		if s.Key == "protocol" && cv.d.need(s, 1, 1) {
			switch strings.ToUpper(s.Args[0]) {
			case "TCP":
			case "UDP":
				proto = config.ProtoUDP
			default:
				cv.d.warn(s, "virtual_server %s: protocol %s: lvs.cf has tcp and udp services only: the virtual server is not carried over", b, s.Args[0])
				return
			}
		}
	}
	for i, svc := range svcs {
		v := cv.virtual(b, svc, proto, i == 0)
		if v != nil {
			cv.c.Virtuals = append(cv.c.Virtuals, v)
		}
	}
}

// services reads the header: IP [PORT], fwmark N or group NAME.
func (cv *converter) services(b *Stmt) ([]service, bool) {
	if !cv.d.need(b, 1, 2) {
		return nil, false
	}
	switch b.Args[0] {
	case "fwmark":
		n, err := strconv.ParseUint(arg(b.Args, 1), 10, 32)
		if err != nil || n == 0 {
			cv.d.at(b, "virtual_server fwmark: expected a mark 1..4294967295, got %q", arg(b.Args, 1))
			return nil, false
		}
		return []service{{fwmark: uint32(n)}}, true
	case "group":
		g := cv.groups[arg(b.Args, 1)]
		if g == nil {
			cv.d.at(b, "virtual_server group %s: no virtual_server_group of that name", arg(b.Args, 1))
			return nil, false
		}
		return cv.groupServices(g), true
	}
	svc, ok := cv.service(b, b.Args[0], arg(b.Args, 1))
	if !ok {
		return nil, false
	}
	return []service{svc}, true
}

// service parses IP [PORT] at s.
func (cv *converter) service(s *Stmt, addr, port string) (service, bool) {
	a, err := netip.ParseAddr(addr)
	if err != nil {
		cv.d.at(s, "%s: expected an IP address, got %q", s.Key, addr)
		return service{}, false
	}
	if !a.Is4() {
		cv.d.warn(s, "%s %s: lvs.cf holds IPv4 services only: not carried over", s.Key, addr)
		return service{}, false
	}
	svc := service{addr: a}
	if port != "" {
		n, err := strconv.ParseUint(port, 10, 16)
		if err != nil {
			cv.d.at(s, "%s %s: expected a port number, got %q", s.Key, addr, port)
			return service{}, false
		}
		svc.port = uint16(n)
	}
	return svc, true
}

// groupServices expands a virtual_server_group: each IP [PORT] and
// fwmark N entry is one service; address ranges are not expanded.
func (cv *converter) groupServices(g *Stmt) []service {
	var out []service
	for _, e := range g.Block {
		switch {
		case e.Key == "fwmark":
			n, err := strconv.ParseUint(arg(e.Args, 0), 10, 32)
			if err != nil || n == 0 {
				cv.d.at(e, "virtual_server_group %s: fwmark: expected a mark, got %q", g.Args[0], arg(e.Args, 0))
				continue
			}
			out = append(out, service{fwmark: uint32(n)})
		case strings.ContainsAny(e.Key, "-/"):
			cv.d.warn(e, "virtual_server_group %s: address range %s is not expanded: write one virtual block per address", g.Args[0], e.Key)
		default:
			if len(e.Args) > 1 {
				cv.d.at(e, "virtual_server_group %s: expected IP [PORT], got %q", g.Args[0], e.String())
				continue
			}
			if svc, ok := cv.service(e, e.Key, arg(e.Args, 0)); ok {
				out = append(out, svc)
			}
		}
	}
	return out
}

func arg(args []string, i int) string {
	if i < len(args) {
		return args[i]
	}
	return ""
}

// virtual converts the body of b for one service. report is false for the
// second and later members of a group, so each problem is told once.
func (cv *converter) virtual(b *Stmt, svc service, proto config.Protocol, report bool) *config.Virtual {
	d := cv.d
	if !report {
		d = &diag{} // the same body again: its messages were given for the first member
	}
	vc := &vsConv{cv: cv, d: d, b: b, where: b.String()}
	name := fmt.Sprintf("%s_%s_%d", proto, svc.addr, svc.port)
	if svc.fwmark != 0 {
		name = fmt.Sprintf("fwmark_%d", svc.fwmark)
	}
	v := config.NewVirtual(cv.uniqueName(name))
	v.Active, v.Protocol, v.Port, v.FWMark = true, proto, svc.port, svc.fwmark
	v.Timeout = keepalivedDelayLoop
	vc.v = v
	cv.address(vc, svc)
	for _, s := range b.Block {
		vc.key(s)
	}
	if svc.fwmark != 0 && len(v.Servers) > 0 {
		v.Port = v.Servers[0].Port // the checks' port; servers keep their own
		for _, s := range v.Servers {
			if s.Port == v.Port {
				s.Port = 0
			}
		}
	}
	vc.finish()
	return v
}

// address sets the VIP and its device from the vrrp_instance that carries
// it. A fwmark service takes the first VRRP address no other virtual uses.
func (cv *converter) address(vc *vsConv, svc service) {
	v := vc.v
	a := svc.addr
	if svc.fwmark != 0 {
		for _, x := range cv.vips {
			if !x.used && x.addr.Is4() {
				a = x.addr
				break
			}
		}
		if !a.IsValid() {
			vc.d.at(vc.b, "%s: lvs.cf names the VIP a firewall-mark service owns, and no vrrp_instance has an address left for it", vc.where)
			return
		}
		vc.d.warn(vc.b, "%s: lvs.cf names the VIP a firewall-mark service owns: %s was taken from the vrrp_instance; lvsd marks packets from fwmark_rule blocks or its iptables file (lvs.cf(5)), not from the kernel's iptables MARK rules", vc.where, a)
	}
	v.Address, v.Device = a, cv.defaultDevice()
	if x := cv.findVIP(a); x != nil {
		x.used = true
		if x.dev != "" {
			v.Device = x.dev
		}
		if x.bits >= 0 && x.bits < 32 {
			v.VIPNetmask = netmask(x.bits)
		}
	} else {
		vc.d.warn(vc.b, "%s: %s is in no vrrp_instance's virtual_ipaddress: lvsd will own it on %s", vc.where, a, v.Device)
	}
}

func netmask(bits int) config.Netmask { return config.NetmaskBits(bits) }
