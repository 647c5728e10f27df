package config

import (
	"fmt"
	"math/bits"
	"net/netip"
	"strings"
)

// Protocol is a transport protocol, numbered as in the IP header (so the
// dataplane can compare it with a packet's protocol field directly).
// The zero value means "any protocol" and is only valid in firewall rules.
type Protocol uint8

// Protocols accepted by lvs.cf.
const (
	ProtoAny Protocol = 0
	ProtoTCP Protocol = 6
	ProtoUDP Protocol = 17
)

// String returns "tcp", "udp" or "all".
func (p Protocol) String() string {
	switch p {
	case ProtoTCP:
		return "tcp"
	case ProtoUDP:
		return "udp"
	case ProtoAny:
		return "all"
	}
	return fmt.Sprintf("proto-%d", uint8(p))
}

// Network is the forwarding method of every real server (lvs.cf `network`).
type Network uint8

// Forwarding methods, as ipvsadm -m (NAT), -g (direct routing) and -i (tunnel).
const (
	NetworkNAT Network = iota
	NetworkDirect
	NetworkTunnel
)

var networkNames = [...]string{NetworkNAT: "nat", NetworkDirect: "direct", NetworkTunnel: "tunnel"}

// String returns the lvs.cf spelling: "nat", "direct" or "tunnel".
func (n Network) String() string {
	if int(n) < len(networkNames) {
		return networkNames[n]
	}
	return fmt.Sprintf("network-%d", uint8(n))
}

// ServiceType selects between LVS virtual servers and FOS failover services
// (lvs.cf `service`).
type ServiceType uint8

// Service types.
const (
	ServiceLVS ServiceType = iota
	ServiceFOS
)

// String returns "lvs" or "fos".
func (s ServiceType) String() string {
	if s == ServiceFOS {
		return "fos"
	}
	return "lvs"
}

// Scheduler is an IPVS scheduling algorithm. The zero value is invalid;
// NewVirtual sets SchedWLC, the default of Piranha and ipvsadm.
type Scheduler uint8

// Schedulers: the guide's eight plus the later kernel ones.
const (
	SchedRR Scheduler = iota + 1
	SchedWRR
	SchedLC
	SchedWLC
	SchedLBLC
	SchedLBLCR
	SchedDH
	SchedSH
	SchedSED
	SchedNQ
	SchedMH
	SchedFO
	SchedOVF
	SchedTWOS
)

var schedNames = [...]string{
	SchedRR: "rr", SchedWRR: "wrr", SchedLC: "lc", SchedWLC: "wlc", SchedLBLC: "lblc",
	SchedLBLCR: "lblcr", SchedDH: "dh", SchedSH: "sh", SchedSED: "sed", SchedNQ: "nq",
	SchedMH: "mh", SchedFO: "fo", SchedOVF: "ovf", SchedTWOS: "twos",
}

// String returns the ipvsadm name of the scheduler ("wlc").
func (s Scheduler) String() string {
	if int(s) < len(schedNames) && schedNames[s] != "" {
		return schedNames[s]
	}
	return fmt.Sprintf("sched-%d", uint8(s))
}

// ParseScheduler returns the scheduler named name (case-sensitive, as ipvsadm).
func ParseScheduler(name string) (Scheduler, bool) {
	for i, n := range schedNames {
		if n != "" && n == name {
			return Scheduler(i), true
		}
	}
	return 0, false
}

// SchedulerNames lists every accepted scheduler name, in the order of the constants.
func SchedulerNames() []string {
	var out []string
	for _, n := range schedNames {
		if n != "" {
			out = append(out, n)
		}
	}
	return out
}

// SchedFlags are the IPVS scheduler flags (ipvsadm -b). Their meaning depends
// on the scheduler: for sh and mh, flag-1 is fallback and flag-2 is port.
type SchedFlags uint8

// Scheduler flags, as IP_VS_SVC_F_SCHED1 and IP_VS_SVC_F_SCHED2.
const (
	SchedFlagFallback SchedFlags = 1 << iota // sh-fallback, mh-fallback: try other dests when the hashed one is unavailable
	SchedFlagPort                            // sh-port, mh-port: hash the source port too
)

// format spells the flags for scheduler s, e.g. "sh-fallback,sh-port".
func (f SchedFlags) format(s Scheduler) string {
	prefix := s.String()
	if s != SchedSH && s != SchedMH {
		prefix = "flag"
	}
	var parts []string
	if f&SchedFlagFallback != 0 {
		parts = append(parts, prefix+"-fallback")
	}
	if f&SchedFlagPort != 0 {
		parts = append(parts, prefix+"-port")
	}
	return strings.Join(parts, ",")
}

// Netmask is an IPv4 netmask, always contiguous, held as its prefix length,
// or an IPv6 prefix length (PrefixLen), which lvs.cf writes as a number, as
// ipvsadm's -M 64 does for IPv6 services. The zero value means "not set".
type Netmask struct {
	bits   uint8
	valid  bool
	prefix bool // an IPv6 prefix length: written as a number, not a dotted quad
}

// NetmaskBits returns the netmask with n leading one bits (0 ≤ n ≤ 32).
func NetmaskBits(n int) Netmask {
	if n < 0 || n > 32 {
		return Netmask{}
	}
	return Netmask{bits: uint8(n), valid: true}
}

// ParseNetmask parses a dotted-quad netmask such as 255.255.255.0. It rejects
// masks whose one bits are not contiguous.
func ParseNetmask(s string) (Netmask, error) {
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		return Netmask{}, fmt.Errorf("expected a netmask like 255.255.255.0, got %q", s)
	}
	b := a.As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	ones := bits.LeadingZeros32(^v)
	if v<<ones != 0 {
		return Netmask{}, fmt.Errorf("expected a contiguous netmask like 255.255.255.0, got %q", s)
	}
	return NetmaskBits(ones), nil
}

// PrefixLen returns the IPv6 prefix length n (0 ≤ n ≤ 128), which lvs.cf
// writes as the number n; an invalid n gives the unset Netmask.
func PrefixLen(n int) Netmask {
	if n < 0 || n > 128 {
		return Netmask{}
	}
	return Netmask{bits: uint8(n), valid: true, prefix: true}
}

// IsPrefixLen reports whether m is an IPv6 prefix length (PrefixLen)
// rather than an IPv4 netmask.
func (m Netmask) IsPrefixLen() bool { return m.prefix }

// IsValid reports whether the netmask is set.
func (m Netmask) IsValid() bool { return m.valid }

// Bits returns the prefix length, or -1 when the netmask is not set.
func (m Netmask) Bits() int {
	if !m.valid {
		return -1
	}
	return int(m.bits)
}

// Addr returns the mask as an address (255.255.255.0, or ffff:ffff:ffff:ffff::
// for the prefix length 64), or the zero Addr when unset.
func (m Netmask) Addr() netip.Addr {
	if !m.valid {
		return netip.Addr{}
	}
	if m.prefix {
		var b [16]byte
		for i := 0; i < int(m.bits); i++ {
			b[i/8] |= 0x80 >> (i % 8)
		}
		return netip.AddrFrom16(b)
	}
	v := ^uint32(0) << (32 - uint(m.bits))
	if m.bits == 0 {
		v = 0
	}
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// String returns the dotted-quad form, the number of a prefix length, or
// "" when unset.
func (m Netmask) String() string {
	if !m.valid {
		return ""
	}
	if m.prefix {
		return fmt.Sprint(m.bits)
	}
	return m.Addr().String()
}

// PortRange is an inclusive range of ports; a single port has Lo == Hi.
type PortRange struct {
	Lo, Hi uint16
}

// String returns "21" or "10000:20000" (the iptables spelling).
func (r PortRange) String() string {
	if r.Lo == r.Hi {
		return fmt.Sprint(r.Lo)
	}
	return fmt.Sprintf("%d:%d", r.Lo, r.Hi)
}

// Contains reports whether port p is inside the range.
func (r PortRange) Contains(p uint16) bool { return r.Lo <= p && p <= r.Hi }

// BaseInterface returns the interface an alias device lives on: "eth0" for
// "eth0:1", and dev itself when it has no alias label.
func BaseInterface(dev string) string {
	if i := strings.IndexByte(dev, ':'); i >= 0 {
		return dev[:i]
	}
	return dev
}
