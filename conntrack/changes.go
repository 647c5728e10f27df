package conntrack

import "lvs/ipvs"

// Connection sync streams what changes, as the IPVS sync daemon does from
// the packet path (ip_vs_sync_conn): a new entry (connection or persistence
// template) and every TCP state change. The table logs those in a small
// array per shard, under the shard lock the change already holds, while
// LogChanges is on (on the active router of a pair with syncdaemon); the
// sync sender drains the logs every few hundred milliseconds. A log that
// fills up is marked lost, and the sender falls back to a full dump.
// Established packets that change nothing log nothing.

// changeCap is how many changes a shard keeps between drains: 256 shards ×
// 64 is 16,384 changes per drain, 80,000 a second at a 200 ms drain.
const changeCap = 64

type changeLog struct {
	refs, gens [changeCap]uint32
	n          int
	lost       bool
}

// LogChanges turns the change log on or off; off empties it.
func (t *Table) LogChanges(on bool) {
	t.logOn.Store(on)
	if !on {
		for i := range t.shards {
			s := &t.shards[i]
			s.mu.Lock()
			s.chg = changeLog{}
			s.mu.Unlock()
		}
	}
}

// noteChange logs entry ref (generation gen) of shard a, whose lock the
// caller holds.
func (t *Table) noteChange(a *shard, ref, gen uint32) {
	if !t.logOn.Load() {
		return
	}
	l := &a.chg
	if l.n == changeCap {
		l.lost = true
		return
	}
	l.refs[l.n], l.gens[l.n] = ref, gen
	l.n++
}

// DrainChanges empties the change logs into buf as sync records of the
// entries still live (an entry that changed twice appears twice) and
// returns it, with lost set when a log overflowed since the last drain (the
// caller then sends a full dump).
func (t *Table) DrainChanges(now ipvs.Tick, buf []Record) (_ []Record, lost bool) {
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		for j := range s.chg.n {
			ref := s.chg.refs[j]
			e := t.at(ref)
			if e == nil || e.gen != s.chg.gens[j] || !e.live() {
				continue
			}
			c := e.load(ref)
			if c.Flags()&(FlagInvalid|FlagOnePacket) != 0 {
				continue
			}
			buf = append(buf, recordOf(c, t.addrsLocked(ref, e), t.mark(ref, e), left(e.expires, now)))
		}
		lost = lost || s.chg.lost
		s.chg.n, s.chg.lost = 0, false
		s.mu.Unlock()
	}
	return buf, lost
}
