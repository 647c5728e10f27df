package nat

import (
	"net/netip"
	"sync"
	"time"

	"lvs/ipvs"
)

// SeqAdj is the sequence-number correction of one direction of a TCP
// connection whose payload the helper resized, as nf_nat's seqadj
// (net/netfilter/nf_conntrack_seqadj.c): segments after the correction
// position are shifted by After, earlier ones (retransmissions) by Before.
type SeqAdj struct {
	Pos           uint32 // sequence number of the last resized segment, as the sender numbered it
	Before, After int32
}

// seqAfter is the kernel's after(a, b): a is later than b in sequence space.
func seqAfter(a, b uint32) bool { return int32(b-a) < 0 }

// Resize records that the segment starting at sequence number seq (as the
// sender numbered it) grew by d bytes (nf_ct_seqadj_set).
func (s *SeqAdj) Resize(seq uint32, d int32) {
	if d == 0 {
		return
	}
	if s.Before == s.After || seqAfter(seq, s.Pos) {
		s.Pos = seq
		s.Before = s.After
		s.After += d
	}
}

// Seq returns the corrected sequence number of a segment of this direction.
func (s *SeqAdj) Seq(seq uint32) uint32 {
	if seqAfter(seq, s.Pos) {
		return seq + uint32(s.After)
	}
	return seq + uint32(s.Before)
}

// Ack returns the corrected acknowledgement number of a segment of the
// other direction, which acknowledges corrected numbers.
func (s *SeqAdj) Ack(ack uint32) uint32 {
	if seqAfter(ack-uint32(s.Before), s.Pos) {
		return ack - uint32(s.After)
	}
	return ack - uint32(s.Before)
}

// Zero reports whether the correction changes nothing.
func (s *SeqAdj) Zero() bool { return s.Before == 0 && s.After == 0 }

// CtlKey names an FTP control connection: the client and the virtual
// address:port it connected to.
type CtlKey struct {
	Client, Virtual netip.AddrPort
}

// Ctl is the helper's state of one control connection: the correction of
// the server→client direction (227 replies are rewritten there; the
// client's PORT and EPRT need no rewrite through NAT, so the other
// direction keeps its numbers).
type Ctl struct {
	mu       sync.Mutex
	out      SeqAdj    // guarded by mu
	deadline ipvs.Tick // guarded by mu
}

// Out returns the current correction of the server→client direction.
func (c *Ctl) Out() SeqAdj {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.out
}

// ResizeOut records a server→client segment resized by d bytes and returns
// the correction to apply to it and to everything after.
func (c *Ctl) ResizeOut(seq uint32, d int32) SeqAdj {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.out.Resize(seq, d)
	return c.out
}

// expectation kinds.
const (
	expPassive uint8 = iota + 1 // client → VIP:port, to go to RIP:port
	expActive                   // RIP → client:port, to come from VIP:port
)

type expKey struct {
	kind uint8
	a    [16]byte // passive: the client; active: the real server (IPv4 as IPv4-mapped)
	b    netip.AddrPort
}

type expectation struct {
	to       netip.AddrPort
	st       Stats
	deadline ipvs.Tick
}

// Helper is the FTP helper's shared state: the control connections it
// corrects and the data connections it expects. Control connections are few
// and their packets small, so one mutex guards both maps; only packets of
// control connections and new connections no service takes come here.
type Helper struct {
	mu      sync.Mutex
	ctl     map[CtlKey]*Ctl        // guarded by mu
	exp     map[expKey]expectation // guarded by mu
	inserts int                    // guarded by mu: since the last sweep
	ttl     time.Duration          // how long an expectation waits
}

// Idle is how long a control connection's state outlives its last packet
// (longer than any TCP idle timeout lvsd uses).
const Idle = 2 * time.Hour

// ExpectTimeout is how long a data connection is expected after the reply
// or command that announced it (the kernel's ftp expectation lives 5 min).
const ExpectTimeout = 5 * time.Minute

// NewHelper returns an empty helper.
func NewHelper() *Helper {
	return &Helper{ctl: map[CtlKey]*Ctl{}, exp: map[expKey]expectation{}, ttl: ExpectTimeout}
}

// Ctl returns the state of control connection k, creating it when create
// is set. A state whose connection has been idle for Idle is forgotten.
func (h *Helper) Ctl(k CtlKey, create bool, now ipvs.Tick) *Ctl {
	h.mu.Lock()
	defer h.mu.Unlock()
	c := h.ctl[k]
	if c == nil {
		if !create {
			return nil
		}
		c = &Ctl{}
		h.ctl[k] = c
		h.inserted(now)
	}
	c.mu.Lock()
	c.deadline = now + ipvs.Tick(Idle.Milliseconds())
	c.mu.Unlock()
	return c
}

// Forget drops the state of control connection k: a new connection from
// the same client port starts with no correction.
func (h *Helper) Forget(k CtlKey) {
	h.mu.Lock()
	delete(h.ctl, k)
	h.mu.Unlock()
}

// ExpectPassive registers the data connection a 227/229 reply announced:
// from client (any port) to virtual, to be sent to real and counted on st
// (the control connection's destination and service, as ip_vs_ftp binds a
// data connection to the control connection's destination).
func (h *Helper) ExpectPassive(client netip.Addr, virtual, real netip.AddrPort, st Stats, now ipvs.Tick) {
	h.expect(expKey{kind: expPassive, a: client.As16(), b: virtual}, real, st, now)
}

// TakePassive returns and forgets the real server of an expected passive
// data connection from client to virtual, and its counters.
func (h *Helper) TakePassive(client netip.Addr, virtual netip.AddrPort, now ipvs.Tick) (netip.AddrPort, Stats, bool) {
	return h.take(expKey{kind: expPassive, a: client.As16(), b: virtual}, now)
}

// ExpectActive registers the data connection a PORT/EPRT command
// announced: from real (any port) to the client's data address, to come
// from outer (VIP:vport-1, as ip_vs_ftp), counted on st.
func (h *Helper) ExpectActive(real netip.Addr, client, outer netip.AddrPort, st Stats, now ipvs.Tick) {
	h.expect(expKey{kind: expActive, a: real.As16(), b: client}, outer, st, now)
}

// TakeActive returns and forgets the outer address of an expected active
// data connection from real to client, and its counters.
func (h *Helper) TakeActive(real netip.Addr, client netip.AddrPort, now ipvs.Tick) (netip.AddrPort, Stats, bool) {
	return h.take(expKey{kind: expActive, a: real.As16(), b: client}, now)
}

func (h *Helper) expect(k expKey, to netip.AddrPort, st Stats, now ipvs.Tick) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.exp[k]; !ok {
		h.inserted(now)
	}
	h.exp[k] = expectation{to: to, st: st, deadline: now + ipvs.Tick(h.ttl.Milliseconds())}
}

func (h *Helper) take(k expKey, now ipvs.Tick) (netip.AddrPort, Stats, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	e, ok := h.exp[k]
	if !ok {
		return netip.AddrPort{}, Stats{}, false
	}
	delete(h.exp, k)
	if now > e.deadline {
		return netip.AddrPort{}, Stats{}, false
	}
	return e.to, e.st, true
}

// inserted counts an insert and sweeps the maps every 256 of them, so the
// helper needs no timer. The caller holds mu.
func (h *Helper) inserted(now ipvs.Tick) {
	if h.inserts++; h.inserts < 256 {
		return
	}
	h.inserts = 0
	for k, e := range h.exp {
		if now > e.deadline {
			delete(h.exp, k)
		}
	}
	for k, c := range h.ctl {
		c.mu.Lock()
		dead := now > c.deadline
		c.mu.Unlock()
		if dead {
			delete(h.ctl, k)
		}
	}
}

// Len returns the number of control connections and expectations held.
func (h *Helper) Len() (ctl, exp int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.ctl), len(h.exp)
}
