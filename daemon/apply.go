package daemon

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"

	"lvs/config"
	"lvs/ipvs"
)

// WantService is the state lvs.cf asks for one IPVS service: its settings and
// the destinations that should be in it, in order.
type WantService struct {
	Spec  ipvs.ServiceSpec
	Dests []ipvs.DestSpec
	// From lists the virtual blocks that make up this service: one, or
	// several sharing a firewall mark (the guide's HTTP+HTTPS bundle).
	From []*config.Virtual
}

// DestFilter decides, for one real server of one virtual block, whether it is
// in the table and with which weight. The health monitors provide it; nil
// means every active server is in with its configured weight.
type DestFilter func(v *config.Virtual, s *config.Server) (weight int32, in bool)

// Desired turns a configuration into the services lvsd should run.
//
// Only active virtual blocks and active servers count, as Piranha's lvs and
// nanny. Virtual blocks that share a firewall mark become one service, as
// IPVS has one service per mark (`ipvsadm -A -f MARK`). In it a real server
// is one destination (keyed by address) with port 0 — "the port the client
// asked for" — unless its server block names a port other than its virtual
// port, so the bundle keeps 80→80 and 443→443. Piranha instead added one
// destination per (block, server), so a connection to port 443 could be sent
// to the real server's port 80. A bundled server is in only while every one
// of its blocks' filters lets it in (the HTTPS check failing takes it out of
// the whole bundle), with the weight of its first block.
func Desired(c *config.Config, filter DestFilter) []WantService {
	method := methodOf(c.Network)
	var out []WantService
	byMark := map[ipvs.ServiceKey]int{}
	for _, v := range c.Virtuals {
		if !v.Active || !v.Address.IsValid() && v.FWMark == 0 {
			continue
		}
		spec := serviceSpec(v)
		if i, ok := byMark[spec.Key]; ok && v.FWMark != 0 {
			out[i].From = append(out[i].From, v)
			continue
		}
		w := WantService{Spec: spec, From: []*config.Virtual{v}}
		if v.FWMark != 0 {
			byMark[spec.Key] = len(out)
		}
		out = append(out, w)
	}
	for i := range out {
		out[i].Dests = wantDests(out[i], method, filter)
	}
	return out
}

func methodOf(n config.Network) ipvs.Method {
	switch n {
	case config.NetworkDirect:
		return ipvs.Route
	case config.NetworkTunnel:
		return ipvs.Tunnel
	}
	return ipvs.Masq
}

func serviceSpec(v *config.Virtual) ipvs.ServiceSpec {
	key := ipvs.ServiceKey{Proto: ipvs.Proto(v.Protocol), Addr: v.Address, Port: v.Port}
	switch {
	case v.FWMark != 0 && v.IsIPv6():
		key = ipvs.MarkKey6(v.FWMark) // a virtual block's family is its VIP's
	case v.FWMark != 0:
		key = ipvs.MarkKey(v.FWMark)
	}
	bits := 32 // no pmask: /32, or /128 for an IPv6 service (ipvsadm's defaults)
	if v.IsIPv6() {
		bits = 128
	}
	if v.PMask.IsValid() {
		bits = v.PMask.Bits()
	}
	return ipvs.ServiceSpec{Key: key, Name: v.Name, SchedSpec: ipvs.SchedSpec{
		SchedName:   v.Scheduler.String(),
		SchedOpts:   ipvs.SchedOptions{Flags: ipvs.SchedFlags(v.SchedFlags), MHTableSize: v.MHTableSize},
		Persistence: v.Persistent,
		PMaskBits:   bits,
	}}
}

// wantDests lists the destinations of one service from its virtual blocks.
func wantDests(w WantService, method ipvs.Method, filter DestFilter) []ipvs.DestSpec {
	type acc struct {
		spec ipvs.DestSpec
		out  bool // some block's filter keeps it out
	}
	var order []netip.AddrPort
	got := map[netip.AddrPort]*acc{}
	bundle := w.Spec.Key.FWMark != 0
	for _, v := range w.From {
		for _, s := range v.Servers {
			if !s.Active || !s.Address.IsValid() {
				continue
			}
			port := v.RealPort(s)
			if bundle && port == v.Port {
				port = 0
			}
			weight, in := int32(s.Weight), true
			if filter != nil {
				weight, in = filter(v, s)
			}
			k := netip.AddrPortFrom(s.Address, port)
			a := got[k]
			if a == nil {
				a = &acc{spec: ipvs.DestSpec{Addr: s.Address, Port: port, Method: method, Weight: weight,
					UThreshold: uint32(max(0, s.UThreshold)), LThreshold: uint32(max(0, s.LThreshold))}}
				got[k] = a
				order = append(order, k)
			}
			a.out = a.out || !in
		}
	}
	var dests []ipvs.DestSpec
	for _, k := range order {
		if a := got[k]; !a.out {
			dests = append(dests, a.spec)
		}
	}
	return dests
}

// Reconcile edits table t until it holds exactly the wanted services, and
// returns the new snapshot. Services and destinations that stay are edited in
// place, never removed and re-added, so their connections, counters and
// persistence survive (a reload is a diff, not a flush).
func Reconcile(t *ipvs.Table, want []WantService) (*ipvs.Table, error) {
	keep := map[ipvs.ServiceKey]bool{}
	var err error
	for _, w := range want {
		keep[w.Spec.Key] = true
		if t, err = reconcileService(t, w); err != nil {
			return nil, err
		}
	}
	for _, s := range slices.Clone(t.Services()) {
		if !keep[s.Key] {
			if t, err = t.DeleteService(s.Key); err != nil {
				return nil, err
			}
		}
	}
	return t, nil
}

func reconcileService(t *ipvs.Table, w WantService) (*ipvs.Table, error) {
	var err error
	cur := t.Service(w.Spec.Key)
	switch {
	case cur == nil:
		if t, err = t.AddService(w.Spec); err != nil {
			return nil, err
		}
	case cur.SchedSpec != w.Spec.SchedSpec || cur.Name != w.Spec.Name:
		if t, err = t.EditService(w.Spec.Key, w.Spec.SchedSpec, w.Spec.Name); err != nil {
			return nil, err
		}
	}
	k := w.Spec.Key
	wantSet := map[netip.AddrPort]bool{}
	for _, d := range w.Dests {
		ap := netip.AddrPortFrom(d.Addr, d.Port)
		if wantSet[ap] {
			return nil, fmt.Errorf("service %v lists destination %v twice", k, ap)
		}
		wantSet[ap] = true
		old := t.Service(k).Dest(d.Addr, d.Port)
		switch {
		case old == nil:
			t, err = t.AddDest(k, d)
		case old.Method != d.Method || old.Weight != d.Weight || old.UThreshold != d.UThreshold || old.LThreshold != d.LThreshold:
			t, err = t.EditDest(k, d)
		}
		if err != nil {
			return nil, err
		}
	}
	for _, d := range slices.Clone(t.Service(k).Dests) {
		if !wantSet[d.AddrPort()] {
			if t, err = t.DeleteDest(k, d.Addr, d.Port); err != nil {
				return nil, err
			}
		}
	}
	return t, nil
}

// sortedKeys is used by tests and status output: services in a stable order.
func sortedKeys(t *ipvs.Table) []ipvs.ServiceKey {
	var ks []ipvs.ServiceKey
	for _, s := range t.Services() {
		ks = append(ks, s.Key)
	}
	slices.SortFunc(ks, func(a, b ipvs.ServiceKey) int {
		return cmp.Or(cmp.Compare(a.FWMark, b.FWMark), a.Addr.Compare(b.Addr), cmp.Compare(a.Port, b.Port), cmp.Compare(a.Proto, b.Proto))
	})
	return ks
}

func ipvsDest(a netip.Addr, port uint16, m ipvs.Method, weight int32) ipvs.DestSpec {
	return ipvs.DestSpec{Addr: a, Port: port, Method: m, Weight: weight}
}
