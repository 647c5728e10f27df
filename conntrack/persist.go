package conntrack

import (
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
// snet is the client address masked by the service's -M prefix.
func templateKey(s *ipvs.Service, k Key, k0 uint64) (tk0, tk1 uint64) {
	snet, _ := pack4(s.PersistPrefix(k.Client.Addr()))
	proto, vaddr, vport := k.Proto, uint32(k0), uint16(0)
	if dport := k.Virtual.Port(); dport == s.Key.Port {
		if s.Key.Port != ftpPort {
			vport = dport
		}
	} else if s.Key.FWMark != 0 {
		proto, vaddr = ipvs.ProtoAny, s.Key.FWMark
	}
	return packK0(snet, vaddr), packK1(0, vport, proto, kindTemplate)
}

// schedulePersist is ip_vs_sched_persist: find or make the template, then
// the connection it controls.
func (t *Table) schedulePersist(s *ipvs.Service, k Key, k0, k1 uint64, mark uint32, fl TCPFlags,
	now ipvs.Tick) (Conn, Status) {
	tk0, tk1 := templateKey(s, k, k0)
	th := t.hash(tk0, tk1&^kindMask)
	c := t.shardOf(th)
	reserved := t.reserve(now) // before any lock: eviction locks other shards
	set := t.set.Load()
	c.mu.Lock()
	ref, te := t.find(c, th, tk0, tk1)
	var d *ipvs.Dest
	if te != nil {
		d = t.checkTemplate(c, s, te, set)
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
		if ref, te = t.newTemplate(c, s, d, tk0, tk1, th, tdport, mark, now); te == nil {
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
	h := t.hash(k0, k1&^kindMask)
	conn, st, fresh := t.newConn(s, d, k0, k1, h, dport, mark, ref, fl, now)
	if !fresh {
		t.releaseCtl(ref) // no entry was made, or a concurrent packet made it
	}
	return conn, st
}

// checkTemplate is ip_vs_check_template: the template's destination must
// still be available in s and, with expire_quiescent_template, have a
// weight. Otherwise the template is invalidated (never matched again, kept
// while it controls connections) and nil returned. Caller holds c.mu.
func (t *Table) checkTemplate(c *shard, s *ipvs.Service, te *entry, set *Settings) *ipvs.Dest {
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
	if d == nil || !d.Addr.Is4() {
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
func (t *Table) newTemplate(c *shard, s *ipvs.Service, d *ipvs.Dest, tk0, tk1, th uint64, tdport uint16,
	mark uint32, now ipvs.Tick) (uint32, *entry) {
	daddr, ok := pack4(d.Addr)
	local, e := c.alloc(t)
	if !ok || e == nil {
		t.count.Add(-1)
		t.st.full.Add(1)
		return 0, nil
	}
	ref := mkRef(c.idx, local)
	c.beginWrite()
	atomic.StoreUint64(&e.k0, tk0)
	atomic.StoreUint64(&e.k1, tk1)
	atomic.StoreUint64(&e.d, packD(daddr, tdport, d.Method, StateNone))
	atomic.StoreUint32(&e.svc, uint32(s.ID))
	atomic.StoreUint32(&e.dest, uint32(d.ID))
	atomic.StoreUint32(&e.flags, uint32(FlagTemplate)|uint32(FlagInactive)|flagLive)
	to := min(s.Persistence.Milliseconds(), maxTimeoutMs)
	e.epoch, e.aux, e.extra, e.expires = d.C.Epoch(), 0, uint32(to), deadline(now, to)
	t.linkFwd(c, ref, e, th)
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
