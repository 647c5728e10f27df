package config

import (
	"fmt"
	"net/netip"
	"reflect"
	"slices"
)

// VirtualKey identifies a virtual service across reloads, as Piranha's lvs
// does on SIGHUP: the firewall mark (then Address is unset) or the VIP,
// with protocol and port.
type VirtualKey struct {
	FWMark   uint32
	Address  netip.Addr
	Protocol Protocol
	Port     uint16
}

// String returns "tcp 192.168.26.10:80" or "fwmark 80 tcp port 80".
func (k VirtualKey) String() string {
	if k.FWMark != 0 {
		return fmt.Sprintf("fwmark %d %s port %d", k.FWMark, k.Protocol, k.Port)
	}
	return fmt.Sprintf("%s %s", k.Protocol, netip.AddrPortFrom(k.Address, k.Port))
}

// Key returns the identity of v used by Diff.
func (v *Virtual) Key() VirtualKey {
	k := VirtualKey{FWMark: v.FWMark, Protocol: v.Protocol, Port: v.Port}
	if v.FWMark == 0 {
		k.Address = v.Address
	}
	return k
}

// ServerKey identifies a real server of a virtual service across reloads.
func (v *Virtual) ServerKey(s *Server) netip.AddrPort {
	return netip.AddrPortFrom(s.Address, v.RealPort(s))
}

// Changes is what differs between two configurations, for live reload.
// It compares what runs: active virtual servers and their active real
// servers. A virtual or real server that becomes inactive is Removed; one
// that becomes active is Added.
type Changes struct {
	Globals []string // global keys whose values differ, e.g. "keepalive"
	Rules   bool     // the fwmark_rule or masquerade blocks differ

	Added   []*Virtual // in new, not in old (new's pointers)
	Removed []*Virtual // in old, not in new (old's pointers)
	Changed []*VirtualChange
}

// VirtualChange is one virtual service present in both configurations with
// different settings or real servers.
type VirtualChange struct {
	Old, New *Virtual
	Fields   []string // lvs.cf keys that differ ("scheduler", "persistent"), and "name"

	AddedServers   []*Server
	RemovedServers []*Server
	ChangedServers []*ServerChange
}

// ServerChange is one real server present in both with different settings.
type ServerChange struct {
	Old, New *Server
	Fields   []string // "weight", "uthreshold", "name", …
}

// IsEmpty reports whether nothing differs.
func (c Changes) IsEmpty() bool {
	return len(c.Globals) == 0 && !c.Rules && len(c.Added) == 0 && len(c.Removed) == 0 && len(c.Changed) == 0
}

// Diff compares old and new. A nil configuration counts as empty.
func Diff(old, new *Config) Changes {
	if old == nil {
		old = &Config{}
	}
	if new == nil {
		new = &Config{}
	}
	var ch Changes
	ch.Globals = fieldDiff(globalKeys, old, new)
	ch.Rules = !reflect.DeepEqual(stripRules(old.Rules("")), stripRules(new.Rules("")))
	oldV := activeByKey(old)
	newV := activeByKey(new)
	for _, v := range new.ActiveVirtuals() {
		o, ok := oldV[v.Key()]
		if !ok {
			ch.Added = append(ch.Added, v)
			continue
		}
		if newV[v.Key()] != v {
			continue // a duplicate key: validation reports it; the first wins
		}
		if vc := diffVirtual(o, v); vc != nil {
			ch.Changed = append(ch.Changed, vc)
		}
	}
	for _, v := range old.ActiveVirtuals() {
		if _, ok := newV[v.Key()]; !ok && oldV[v.Key()] == v {
			ch.Removed = append(ch.Removed, v)
		}
	}
	return ch
}

func activeByKey(c *Config) map[VirtualKey]*Virtual {
	m := map[VirtualKey]*Virtual{}
	for _, v := range c.ActiveVirtuals() {
		if _, dup := m[v.Key()]; !dup {
			m[v.Key()] = v
		}
	}
	return m
}

func diffVirtual(o, n *Virtual) *VirtualChange {
	vc := &VirtualChange{Old: o, New: n, Fields: fieldDiff(virtualKeys, o, n, "active", "fwmark", "protocol", "port")}
	if o.Name != n.Name {
		vc.Fields = append(vc.Fields, "name")
	}
	oldS := map[netip.AddrPort]*Server{}
	for _, s := range o.Servers {
		if _, dup := oldS[o.ServerKey(s)]; s.Active && !dup {
			oldS[o.ServerKey(s)] = s
		}
	}
	newS := map[netip.AddrPort]bool{}
	for _, s := range n.Servers {
		k := n.ServerKey(s)
		if !s.Active || newS[k] {
			continue
		}
		newS[k] = true
		os, ok := oldS[k]
		if !ok {
			vc.AddedServers = append(vc.AddedServers, s)
			continue
		}
		f := fieldDiff(serverKeys, os, s, "active", "port")
		if os.Name != s.Name {
			f = append(f, "name")
		}
		if len(f) > 0 {
			vc.ChangedServers = append(vc.ChangedServers, &ServerChange{Old: os, New: s, Fields: f})
		}
	}
	for _, s := range o.Servers {
		if k := o.ServerKey(s); oldS[k] == s && !newS[k] {
			vc.RemovedServers = append(vc.RemovedServers, s)
		}
	}
	if len(vc.Fields) == 0 && len(vc.AddedServers) == 0 && len(vc.RemovedServers) == 0 && len(vc.ChangedServers) == 0 {
		return nil
	}
	return vc
}

// fieldDiff lists the keys whose formatted values differ, leaving out the
// keys named in identity (they are part of the key Diff matches on).
func fieldDiff[T any](defs []keyDef[T], o, n *T, identity ...string) []string {
	var out []string
	for i := range defs {
		d := &defs[i]
		if slices.Contains(identity, d.name) {
			continue
		}
		ov, ook := d.get(o)
		nv, nok := d.get(n)
		if ov != nv || ook != nok {
			out = append(out, d.name)
		}
	}
	return out
}

func stripRules(r *Rules) *Rules {
	for i := range r.Marks {
		r.Marks[i].File, r.Marks[i].Line = "", 0
	}
	for i := range r.Masquerades {
		r.Masquerades[i].File, r.Masquerades[i].Line = "", 0
	}
	return r
}
