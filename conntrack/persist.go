package conntrack

import (
	"encoding/binary"
	"net/netip"
	"sync/atomic"

	"lvs/ipvs"
)

// ftpPort is the control port whose persistent templates cover every port
// of the VIP (FTPPORT in ip_vs_core.c).
const ftpPort = 21

// templateKey returns the key words of the persistence template for a
// packet of flow k to service s, by the rules of ip_vs_sched_persist:
//
//   - to the service port:   <proto, snet, 0, vaddr, vport>
//   - FTP (service port 21): <proto, snet, 0, vaddr, 0>, so data ports follow
//   - firewall mark service: <IP, snet, 0, mark, 0>, so every port of the
//     mark sticks to one real server (the HTTP/HTTPS bundle)
//   - port-0 service:        <proto, snet, 0, vaddr, 0>
//
// snet is the client address masked by the service's -M prefix (a
// prefix length for IPv6, as ipvsadm's -M 64). fk is the flow's packed
// key; the template's goes to tk. An IPv6 firewall-mark template carries
// the mark in the first four bytes of its virtual address, as the kernel's
// union nf_inet_addr does.
func (t *Table) templateKey(s *ipvs.Service, k Key, fk *fkey, tk *fkey) {
	snet := s.PersistPrefix(k.Client.Addr())
	proto, vport, mark := k.Proto, uint16(0), false
	if dport := k.Virtual.Port(); dport == s.Key.Port {
		if s.Key.Port != ftpPort {
			vport = dport
		}
	} else if s.Key.FWMark != 0 {
		proto, mark = ipvs.ProtoAny, true
	}
	if fk.six {
		vaddr := k.Virtual.Addr()
		if mark {
			var b [16]byte
			binary.BigEndian.PutUint32(b[:], s.Key.FWMark)
			vaddr = netip.AddrFrom16(b)
		}
		t.pack6(tk, snet, vaddr, packK1(0, vport, proto, kindTemplate|kindV6))
		return
	}
	sn, _ := pack4(snet)
	vaddr := uint32(fk.k0)
	if mark {
		vaddr = s.Key.FWMark
	}
	*tk = fkey{k0: packK0(sn, vaddr), k1: packK1(0, vport, proto, kindTemplate)}
	tk.h = t.hash(tk.k0, tk.k1&^kindMask)
}

// schedulePersist is ip_vs_sched_persist: find or make the template, then
// the connection it controls.
func (t *Table) schedulePersist(s *ipvs.Service, k Key, fk *fkey, mark uint32, fl TCPFlags,
	now ipvs.Tick) (Conn, Status) {
	var tk fkey
	t.templateKey(s, k, fk, &tk)
	c := t.shardOf(tk.h)
	reserved := t.reserve(now) // before any lock: eviction locks other shards
	set := t.set.Load()
	c.mu.Lock()
	ref, te := t.findKey(c, &tk)
	var d *ipvs.Dest
	if te != nil {
		d = t.checkTemplate(c, s, te, fk.six, set)
	}
	if d == nil {
		c.flow = ipvs.Flow{Src: k.Client, Dst: k.Virtual, Now: now}
		d = s.Sched.Pick(s, &c.flow)
		if d == nil || !reserved {
			c.mu.Unlock()
			if reserved {
				t.count.Add(-1)
			}
			if d == nil {
				return Conn{}, NoDest
			}
			return Conn{}, TableFull // counted by reserve
		}
		var tdport uint16
		if k.Virtual.Port() == s.Key.Port && s.Key.Port != ftpPort {
			tdport = d.Port
		}
		if ref, te = t.newTemplate(c, s, d, &tk, tdport, now); te == nil {
			c.mu.Unlock()
			return Conn{}, TableFull
		}
	} else if reserved {
		t.count.Add(-1)
	}
	te.aux++ // the connection below; released if it is not made
	te.expires = deadline(now, int64(te.extra))
	c.mu.Unlock()

	dport := k.Virtual.Port()
	if dport == s.Key.Port && d.Port != 0 {
		dport = d.Port
	}
	conn, st, fresh := t.newConn(s, d, fk, dport, mark, ref, fl, now)
	if !fresh {
		t.releaseCtl(ref) // no entry was made, or a concurrent packet made it
	}
	return conn, st
}

// checkTemplate is ip_vs_check_template: the template's destination must
// still be available in s and, with expire_quiescent_template, have a
// weight. Otherwise the template is invalidated (never matched again, kept
// while it controls connections) and nil returned; so is one whose
// destination cannot serve the flow (an IPv4 flow needs an IPv4 real
// server or a tunnelled IPv6 one; six says the flow is IPv6). Caller
// holds c.mu.
func (t *Table) checkTemplate(c *shard, s *ipvs.Service, te *entry, six bool, set *Settings) *ipvs.Dest {
	id := ipvs.DestID(atomic.LoadUint32(&te.dest))
	var d *ipvs.Dest
	if cnt := t.reg.Dest(id); cnt != nil && cnt.Available() && !(set.ExpireQuiescentTemplate && cnt.Weight() == 0) {
		for _, x := range s.Dests {
			if x.ID == id {
				d = x
				break
			}
		}
	}
	if d == nil || !six && !d.Addr.Is4() && d.Method != ipvs.Tunnel || six && !d.Addr.IsValid() {
		c.beginWrite()
		atomic.StoreUint64(&te.k1, atomic.LoadUint64(&te.k1)|kindInvalid)
		te.setFlag(uint32(FlagInvalid), true)
		c.endWrite()
		t.st.invalid.Add(1)
		return nil
	}
	return d
}

// newTemplate makes a template in c, whose slot the caller reserved, with
// timeout = the service's persistence. Caller holds c.mu; the template is
// on no reply chain, so no other lock is needed.
func (t *Table) newTemplate(c *shard, s *ipvs.Service, d *ipvs.Dest, tk *fkey, tdport uint16,
	now ipvs.Tick) (uint32, *entry) {
	var p spec
	ok := p.setDest(tk, d.Addr, tdport, d.Method, StateNone)
	var local, l6 uint32
	var e *entry
	var r *addr6
	if ok {
		local, e = c.alloc(t)
	}
	if e != nil && p.rec() {
		if l6, r = c.alloc6(t); r == nil {
			c.release(local, e)
			e = nil
		}
	}
	if e == nil {
		t.count.Add(-1)
		t.st.full.Add(1)
		return 0, nil
	}
	ref := mkRef(c.idx, local)
	c.beginWrite()
	if r != nil {
		store6(r, &p.a)
		p.d |= uint64(l6) << 32
	}
	atomic.StoreUint64(&e.k0, tk.k0)
	atomic.StoreUint64(&e.k1, tk.k1)
	atomic.StoreUint64(&e.d, p.d)
	atomic.StoreUint32(&e.svc, uint32(s.ID))
	atomic.StoreUint32(&e.dest, uint32(d.ID))
	atomic.StoreUint32(&e.flags, uint32(FlagTemplate)|uint32(FlagInactive)|p.internal()|flagLive)
	to := min(s.Persistence.Milliseconds(), maxTimeoutMs)
	e.epoch, e.aux, e.extra, e.expires = d.C.Epoch(), 0, uint32(to), deadline(now, to)
	t.linkFwd(c, ref, e, tk.h)
	c.endWrite()
	d.C.Persist.Add(1)
	t.st.created.Add(1)
	t.noteChange(c, ref, e.gen)
	return ref, e
}

// netipFrom rebuilds an address and port from packed words.
func netipFrom(addr, port uint64) netip.AddrPort {
	return netip.AddrPortFrom(unpack4(uint32(addr)), uint16(port))
}
