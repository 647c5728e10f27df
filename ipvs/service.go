package ipvs

import (
	"net/netip"
	"time"
)

// Dest is a destination (real server) of a service in one Table snapshot.
// It is immutable: an edit makes a new Dest with the same ID and Counters.
type Dest struct {
	ID         DestID
	Addr       netip.Addr
	Port       uint16
	Method     Method
	Weight     int32  // 0: quiesced, no new connections
	LastWeight int32  // last non-zero weight (mh keeps a quiesced dest's slots by it)
	UThreshold uint32 // -x: overloaded at this many connections (0: no limit)
	LThreshold uint32 // -y: no longer overloaded below this many
	C          *Counters
}

// AddrPort returns the destination's address and port.
func (d *Dest) AddrPort() netip.AddrPort { return netip.AddrPortFrom(d.Addr, d.Port) }

// Available reports whether a scheduler may give this destination a new
// connection: weight above 0 and not overloaded.
func (d *Dest) Available() bool { return d.Weight > 0 && !d.C.Overloaded() }

// DestSpec is what an administrator sets on a destination (ipvsadm -a/-e).
type DestSpec struct {
	Addr       netip.Addr
	Port       uint16
	Method     Method
	Weight     int32
	UThreshold uint32
	LThreshold uint32
}

// Service is a virtual service in one Table snapshot. It is immutable; its
// Sched carries the scheduler's own (internally synchronised) state across
// snapshots, as the kernel's sched_data does.
type Service struct {
	ID    ServiceID
	Key   ServiceKey
	Name  string // the lvs.cf virtual server name, if any
	Sched Scheduler
	SchedSpec
	Dests []*Dest // in insertion order, which is the order schedulers walk
	C     *Counters
}

// SchedSpec is what an administrator sets on a service (ipvsadm -A/-E).
type SchedSpec struct {
	SchedName   string
	SchedOpts   SchedOptions
	Persistence time.Duration // 0: not persistent (ipvsadm -p)
	PMaskBits   int           // persistence granularity as a prefix length (-M); 32 when unset
	OnePacket   bool          // -o: schedule every UDP datagram on its own
}

// ServiceSpec describes a new service.
type ServiceSpec struct {
	Key  ServiceKey
	Name string
	SchedSpec
}

// Dest returns the destination with the given address and port, or nil.
func (s *Service) Dest(addr netip.Addr, port uint16) *Dest {
	for _, d := range s.Dests {
		if d.Addr == addr && d.Port == port {
			return d
		}
	}
	return nil
}

// Persistent reports whether the service uses persistence templates.
func (s *Service) Persistent() bool { return s.Persistence > 0 }

// PersistPrefix returns the client network that shares a persistence
// template with addr (the kernel's caddr & netmask).
func (s *Service) PersistPrefix(addr netip.Addr) netip.Addr {
	bits := s.PMaskBits
	if bits <= 0 || bits > addr.BitLen() {
		bits = addr.BitLen()
	}
	p, _ := addr.Prefix(bits)
	return p.Addr()
}
