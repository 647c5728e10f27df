package admin

import (
	"cmp"
	"net/netip"
	"slices"
	"time"

	"lvs/ipvs"
)

// Status is the virtual server table as the API reports it: what `lvsadm -L`
// and the web tool's routing table show. It is a plain copy, safe to encode.
type Status struct {
	Services []ServiceStatus `json:"services"`
	Timeouts Timeouts        `json:"timeouts"`
}

// Timeouts are the connection timeouts of `ipvsadm --set tcp tcpfin udp`.
type Timeouts struct {
	TCP    time.Duration `json:"tcp"`
	TCPFin time.Duration `json:"tcpfin"`
	UDP    time.Duration `json:"udp"`
}

// ServiceStatus is one virtual service and its destinations.
type ServiceStatus struct {
	Name        string        `json:"name,omitempty"`
	Proto       string        `json:"proto,omitempty"` // "TCP", "UDP"; empty for a firewall-mark service
	Addr        netip.Addr    `json:"addr,omitzero"`
	Port        uint16        `json:"port,omitempty"`
	FWMark      uint32        `json:"fwmark,omitempty"`
	IPv6        bool          `json:"ipv6,omitempty"` // an IPv6 firewall-mark service (-f N -6)
	Sched       string        `json:"sched"`
	SchedFlags  []string      `json:"sched_flags,omitempty"`
	Persistence time.Duration `json:"persistence,omitempty"`
	PMaskBits   int           `json:"pmask_bits,omitempty"`
	OnePacket   bool          `json:"ops,omitempty"`
	Stats       Counters      `json:"stats"`
	Dests       []DestStatus  `json:"dests"`
}

// Is6 reports whether s is an IPv6 service (ipvsadm's AF_INET6): its
// address is, or it is an IPv6 firewall-mark service.
func (s *ServiceStatus) Is6() bool { return s.IPv6 || s.Addr.Is6() }

// DestStatus is one destination (real server) of a service.
type DestStatus struct {
	Addr       netip.Addr `json:"addr"`
	Port       uint16     `json:"port"`
	Forward    string     `json:"forward"` // Masq, Route, Tunnel
	Weight     int32      `json:"weight"`
	UThreshold uint32     `json:"uthreshold,omitempty"`
	LThreshold uint32     `json:"lthreshold,omitempty"`
	Active     int32      `json:"active_conns"`
	Inactive   int32      `json:"inactive_conns"`
	Persist    int32      `json:"persistent_conns"`
	Overloaded bool       `json:"overloaded,omitempty"`
	Stats      Counters   `json:"stats"`
}

// Counters are cumulative traffic counters, with rates filled in by the
// daemon's rate estimator when it has one.
type Counters struct {
	Conns    uint64 `json:"conns"`
	InPkts   uint64 `json:"in_pkts"`
	OutPkts  uint64 `json:"out_pkts"`
	InBytes  uint64 `json:"in_bytes"`
	OutBytes uint64 `json:"out_bytes"`
	CPS      uint64 `json:"cps"`
	InPPS    uint64 `json:"in_pps"`
	OutPPS   uint64 `json:"out_pps"`
	InBPS    uint64 `json:"in_bps"`
	OutBPS   uint64 `json:"out_bps"`
}

// StatusFromTable copies a table snapshot and its live counters.
func StatusFromTable(t *ipvs.Table) Status {
	var st Status
	for _, s := range t.Services() {
		ss := ServiceStatus{Name: s.Name, Sched: s.SchedName, Persistence: s.Persistence,
			PMaskBits: s.PMaskBits, OnePacket: s.OnePacket, Stats: countersOf(s.C)}
		if s.Key.FWMark != 0 {
			ss.FWMark, ss.IPv6 = s.Key.FWMark, s.Key.IPv6
		} else {
			ss.Proto, ss.Addr, ss.Port = s.Key.Proto.String(), s.Key.Addr, s.Key.Port
		}
		ss.SchedFlags = SchedFlagNames(s.SchedName, s.SchedOpts.Flags)
		for _, d := range s.Dests {
			ss.Dests = append(ss.Dests, DestStatus{Addr: d.Addr, Port: d.Port, Forward: d.Method.String(),
				Weight: d.Weight, UThreshold: d.UThreshold, LThreshold: d.LThreshold,
				Active: d.C.Active.Load(), Inactive: d.C.Inactive.Load(), Persist: d.C.Persist.Load(),
				Overloaded: d.C.Overloaded(), Stats: countersOf(d.C)})
		}
		st.Services = append(st.Services, ss)
	}
	return st
}

func countersOf(c *ipvs.Counters) Counters {
	return Counters{Conns: c.Conns.Load(), InPkts: c.InPkts.Load(), OutPkts: c.OutPkts.Load(),
		InBytes: c.InBytes.Load(), OutBytes: c.OutBytes.Load()}
}

// SchedFlagNames returns the -b flag names of f as ipvsadm spells them for
// scheduler sched.
func SchedFlagNames(sched string, f ipvs.SchedFlags) []string {
	prefix := "flag"
	if sched == "sh" || sched == "mh" {
		prefix = sched
	}
	var out []string
	if f&ipvs.SchedFlag1 != 0 {
		out = append(out, prefix+"-fallback")
	}
	if f&ipvs.SchedFlag2 != 0 {
		out = append(out, prefix+"-port")
	}
	if f&ipvs.SchedFlag3 != 0 {
		out = append(out, "flag-3")
	}
	return out
}

// familyRank orders families as ipvs_cmp_services: AF_INET (2) before
// AF_INET6 (10).
func familyRank(s *ServiceStatus) int {
	if s.Is6() {
		return 10
	}
	return 2
}

// protoRank orders protocols as ipvs_cmp_services: TCP (6) before UDP (17).
func protoRank(p string) int {
	switch p {
	case "TCP":
		return 6
	case "UDP":
		return 17
	}
	return 0
}

// Sort orders services and their destinations as ipvsadm does by default
// (ipvs_cmp_services, ipvs_cmp_dests): firewall mark, family (IPv4
// first), protocol, address, port; destinations by address then port.
func (st *Status) Sort() {
	slices.SortStableFunc(st.Services, func(a, b ServiceStatus) int {
		return cmp.Or(cmp.Compare(a.FWMark, b.FWMark), cmp.Compare(familyRank(&a), familyRank(&b)),
			cmp.Compare(protoRank(a.Proto), protoRank(b.Proto)),
			a.Addr.Compare(b.Addr), cmp.Compare(a.Port, b.Port))
	})
	for i := range st.Services {
		slices.SortStableFunc(st.Services[i].Dests, func(a, b DestStatus) int {
			return cmp.Or(a.Addr.Compare(b.Addr), cmp.Compare(a.Port, b.Port))
		})
	}
}

// AddCounters adds b to a, as the kernel's ip_vs_stats total.
func AddCounters(a, b Counters) Counters {
	return Counters{Conns: a.Conns + b.Conns, InPkts: a.InPkts + b.InPkts, OutPkts: a.OutPkts + b.OutPkts,
		InBytes: a.InBytes + b.InBytes, OutBytes: a.OutBytes + b.OutBytes,
		CPS: a.CPS + b.CPS, InPPS: a.InPPS + b.InPPS, OutPPS: a.OutPPS + b.OutPPS,
		InBPS: a.InBPS + b.InBPS, OutBPS: a.OutBPS + b.OutBPS}
}
