package ipvs

import (
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// Proto is an IP protocol number of a virtual service.
type Proto uint8

// The protocols a virtual service can carry.
const (
	ProtoAny Proto = 0 // firewall-mark services and their persistence templates (IPPROTO_IP)
	TCP      Proto = 6
	UDP      Proto = 17
)

// String returns the protocol as ipvsadm prints it: "TCP", "UDP" or "IP".
func (p Proto) String() string {
	switch p {
	case TCP:
		return "TCP"
	case UDP:
		return "UDP"
	case ProtoAny:
		return "IP"
	}
	return fmt.Sprintf("proto-%d", uint8(p))
}

// Method is a forwarding method: how packets reach a destination.
type Method uint8

// The forwarding methods of lvs.cf's `network` key and ipvsadm's -m/-g/-i.
const (
	Masq   Method = iota // NAT (ipvsadm -m)
	Route                // direct routing (ipvsadm -g)
	Tunnel               // IPIP tunnelling (ipvsadm -i)
)

// String returns the method as ipvsadm -L prints it.
func (m Method) String() string {
	switch m {
	case Masq:
		return "Masq"
	case Route:
		return "Route"
	case Tunnel:
		return "Tunnel"
	}
	return fmt.Sprintf("method-%d", uint8(m))
}

// SchedFlags are the scheduler flags of ipvsadm -b (sh-fallback, sh-port,
// mh-fallback, mh-port). Flag1 and Flag2 mean what the scheduler says.
type SchedFlags uint8

// The scheduler flags, as IP_VS_SVC_F_SCHED1..3.
const (
	SchedFlag1 SchedFlags = 1 << iota // sh-fallback, mh-fallback
	SchedFlag2                        // sh-port, mh-port
	SchedFlag3
)

// ServiceKey identifies a virtual service: protocol, VIP and port, or a
// firewall mark and a family. A non-zero FWMark means a firewall-mark
// service, and then Proto, Addr and Port are zero and IPv6 says its family:
// as the kernel (ip_vs_svc_fwm_hashkey, ip_vs_service_fwm_find), a mark
// names one service per family, so `-f 1` and `-f 1 -6` are two services.
// An address service's family is its address's, and its IPv6 is false.
type ServiceKey struct {
	Proto  Proto
	Addr   netip.Addr
	Port   uint16
	FWMark uint32
	IPv6   bool
}

// MarkKey returns the key of the IPv4 firewall-mark service for mark.
func MarkKey(mark uint32) ServiceKey { return ServiceKey{FWMark: mark} }

// MarkKey6 returns the key of the IPv6 firewall-mark service for mark
// (ipvsadm -f mark -6).
func MarkKey6(mark uint32) ServiceKey { return ServiceKey{FWMark: mark, IPv6: true} }

// Is6 reports whether k names an IPv6 service (the kernel's AF_INET6).
func (k ServiceKey) Is6() bool { return k.IPv6 || k.Addr.Is6() }

// String returns the key in ipvsadm's form: "TCP 192.168.26.10:80",
// "FWM 80" or "FWM 80 IPv6".
func (k ServiceKey) String() string {
	switch {
	case k.FWMark != 0 && k.IPv6:
		return fmt.Sprintf("FWM %d IPv6", k.FWMark)
	case k.FWMark != 0:
		return fmt.Sprintf("FWM %d", k.FWMark)
	}
	return fmt.Sprintf("%s %s", k.Proto, netip.AddrPortFrom(k.Addr, k.Port))
}

// ServiceID and DestID index the live counters of a service or destination in
// a Registry. They are never reused within a Registry, so a connection entry
// that outlives its destination cannot reach a newcomer by accident.
type (
	ServiceID uint32
	DestID    uint32
)

// Tick is coarse monotonic time in milliseconds from an arbitrary origin. The
// packet path reads the clock once per batch and passes a Tick down.
type Tick int64

// Flow is what a scheduler may look at when it picks a destination for a new
// connection: the client and virtual endpoints, and the time.
type Flow struct {
	Src netip.AddrPort // client address and port
	Dst netip.AddrPort // virtual address and port the client asked for
	Now Tick
}

// Scheduler picks destinations for new connections. Implementations live in
// package sched; a Table gets them from a SchedulerFactory.
//
// Pick is called concurrently by every worker, must not allocate, and returns
// nil when no destination is available (weight 0 and overloaded destinations
// are never available). Update is called by the single writer whenever the
// destination list, a weight or a threshold of the service changes (the
// kernel's add_dest/del_dest/upd_dest); s is the Service of the new snapshot.
// Pick may still run on the previous snapshot while Update runs.
type Scheduler interface {
	Name() string
	Pick(s *Service, f *Flow) *Dest
	Update(s *Service)
}

// A Sequencer is a Scheduler whose picks depend only on its own position,
// never on the flow, the time or the destinations' connection counts (rr,
// wrr): it can list the cycle it walks, so that lvsd's kernel fast path can
// schedule new connections itself, in the same order, without asking Go.
type Sequencer interface {
	// Sequence returns the destinations of s in the order a fresh scheduler
	// (the state after Update) picks them, one whole cycle after which the
	// picks repeat; nil when no destination is available or the cycle is
	// longer than max.
	Sequence(s *Service, max int) []*Dest
}

// A Hasher is a Scheduler whose pick depends only on the flow's source,
// through a lookup table indexed by a hash of the client's address (and
// with port, its port): mh, sh. It can list its table, so that lvsd's
// kernel fast path can schedule new connections itself, computing the
// same hash.
type Hasher interface {
	// HashTable returns the lookup table of s, a destination in every
	// slot, the hash that indexes it, and whether the client's port is
	// hashed too; nil when a slot's destination would not be picked (no
	// destination, weight 0: Pick returns nil or probes further) or the
	// table is longer than max.
	HashTable(s *Service, max int) (slots []*Dest, fn HashFunc, port bool)
}

// HashFunc names the hash a Hasher's table is indexed by; the key is the
// client's port (0 unless hashed) plus its address folded to 32 bits in
// host order (an IPv6 one by XOR of its four words).
type HashFunc uint8

const (
	// HashMH is mh's: hsiphash of the key with the kernel's fixed key
	// (SipHash-1-3 on 64-bit builds), mod the table's length.
	HashMH HashFunc = iota + 1
	// HashSH is sh's: hash_32 of the key into 8 bits (256 slots).
	HashSH
)

// The constants of those hashes, shared by the schedulers (package sched)
// and the fast path's program, which computes them in the kernel.
const (
	// MHKey is ip_vs_mh.c's hash1 (generate_hash_secret), both halves of
	// the SipHash key of mh's lookup.
	MHKey = 2654435761
	// SipC0..SipC3 are SipHash's initialisation constants
	// ("somepseudorandomlygeneratedbytes", include/linux/siphash.h).
	SipC0 = 0x736f6d6570736575
	SipC1 = 0x646f72616e646f6d
	SipC2 = 0x6c7967656e657261
	SipC3 = 0x7465646279746573
	// GoldenRatio32 is hash_32's multiplier (include/linux/hash.h).
	GoldenRatio32 = 0x61C88647
)

// SchedOptions are the settings of a scheduler beyond its name.
type SchedOptions struct {
	Flags       SchedFlags
	MHTableSize int // mh lookup table size, a prime; 0 means the kernel default 4093
	// Expiration is lblc_expiration / lblcr_expiration (0: the kernel's 24 h).
	Expiration time.Duration
	Seed       uint64 // twos: random seed; 0 picks one at random
}

// SchedulerFactory makes a scheduler for a service by name ("wlc", "mh", ...).
type SchedulerFactory func(name string, opts SchedOptions) (Scheduler, error)

// ParseMethod parses ipvsadm-style or lvs.cf-style method names.
func ParseMethod(s string) (Method, error) {
	switch strings.ToLower(s) {
	case "masq", "nat", "m":
		return Masq, nil
	case "route", "direct", "dr", "g":
		return Route, nil
	case "tunnel", "tun", "ipip", "i":
		return Tunnel, nil
	}
	return 0, fmt.Errorf("unknown forwarding method %q (want nat, direct or tunnel)", s)
}
