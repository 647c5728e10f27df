package conntrack

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"sync/atomic"
	"time"

	"lvs/ipvs"
)

// Info is one entry as ipvsadm -L -c and the sync stream see it. Its
// Client, Virtual and Real are the full addresses for IPv6 flows too.
type Info struct {
	Conn
	FWMark   uint32
	Expires  time.Duration // time left before the entry expires
	InPkts   uint32        // client packets, modulo 2^14
	Controls uint32        // connections a template controls
	Addrs    Addrs         // the entry's addresses (Conn's cannot hold IPv6 ones)
}

// Client returns the client address and port.
func (in Info) Client() netip.AddrPort { return in.Addrs.Client }

// Virtual returns the virtual address and port.
func (in Info) Virtual() netip.AddrPort { return in.Addrs.Virtual }

// Real returns the real server address and port.
func (in Info) Real() netip.AddrPort { return in.Addrs.Real }

// String returns the entry as ipvsadm -L -c shows it.
func (in Info) String() string {
	return fmt.Sprintf("%s %s %s→%s→%s", in.Proto(), StateName(in.Proto(), in.State()), in.Client(), in.Virtual(), in.Real())
}

// Walk calls fn for every entry, templates included, shard by shard, until
// fn returns false. Each shard is locked only while its entries are copied
// out, never while fn runs; entries that change meanwhile may be seen in
// either state.
func (t *Table) Walk(now ipvs.Tick, fn func(Info) bool) {
	buf := make([]Info, 0, 256)
	for i := range t.shards {
		s := &t.shards[i]
		for from := uint32(1); ; {
			buf = buf[:0]
			s.mu.Lock()
			used := s.used
			for ; from < used && len(buf) < cap(buf); from++ {
				ref := mkRef(s.idx, from)
				if e := t.at(ref); e.live() {
					in := Info{Conn: e.load(ref), FWMark: t.mark(ref, e), Expires: left(e.expires, now),
						InPkts: e.flags >> pktShift, Addrs: t.addrsLocked(ref, e)}
					if e.template() {
						in.Controls = e.aux
					}
					buf = append(buf, in)
				}
			}
			s.mu.Unlock()
			for _, in := range buf {
				if !fn(in) {
					return
				}
			}
			if from >= used {
				break
			}
		}
	}
}

// Record is the sync form of one entry: what a backup director needs to
// recreate it (the fields of the IPVS sync v1 connection record, §3.6 of the
// reference), bound on the backup by <proto, virtual, real, fwmark> rather
// than by IDs, which are local to a daemon.
type Record struct {
	Proto    ipvs.Proto // ProtoAny for a firewall-mark template
	Template bool
	State    State
	Method   ipvs.Method
	Flags    Flags // only FlagNoOutput travels
	Client   netip.AddrPort
	Virtual  netip.AddrPort // for a firewall-mark template, the mark as an address
	Real     netip.AddrPort
	FWMark   uint32
	Timeout  time.Duration // time left, in whole milliseconds
	// NAT marks a flow of the NAT table (nat.Table: a masqueraded
	// connection or an FTP helper's data connection) rather than an entry
	// of this table: Client is the peer, Virtual the public address:port
	// the peer sees, Real the real server's side.
	NAT bool
}

// Record wire format, version 1 (IPv4), big endian, 40 bytes:
//
//	0 version(1) 1 type(bit 0: template, bit 1: NAT flow; other bits 0) 2 length(be16)
//	4 proto 5 state 6 method 7 reserved
//	8 flags(be16) 10 reserved(be16) 12 cport 14 vport 16 dport 18 reserved
//	20 fwmark(be32) 24 timeout ms(be32) 28 caddr 32 vaddr 36 daddr
//
// Version 2 (IPv6) is the same up to byte 28, then 16-byte addresses, 76
// bytes in all (IPVS's sync v1 has the same split into ip_vs_sync_v4 and
// ip_vs_sync_v6); a real server given as an IPv4-mapped address is IPv4
// (an IPv6 virtual service tunnelling to it), and so are a client and a
// virtual address both given IPv4-mapped beside an IPv6 real server (an
// IPv4 virtual service tunnelling to it). A record is written as
// version 2 when any of its addresses is IPv6, so a decoder of version 1
// refuses it by version (ErrBadRecord, with a readable length: ha's
// DecodeSync skips it) rather than misreading it.
//
//	28 caddr(16) 44 vaddr(16) 60 daddr(16)
//
// length counts the whole record; a decoder skips bytes it does not know
// beyond the fields of its version, so later versions can append fields.
// A decoder from before NAT flows refuses the type bit it does not know,
// and its DecodeSync skips such a record.
const (
	RecordVersion  = 1
	RecordLen      = 40
	RecordVersion6 = 2
	RecordLen6     = 76

	recType    = 1
	recLen     = 2
	recProto   = 4
	recState   = 5
	recMethod  = 6
	recFlags   = 8
	recCPort   = 12
	recVPort   = 14
	recDPort   = 16
	recFWMark  = 20
	recTimeout = 24
	recCAddr   = 28
	recVAddr   = 32
	recDAddr   = 36
	recCAddr6  = 28
	recVAddr6  = 44
	recDAddr6  = 60

	recTemplate = 1
	recNAT      = 2
)

// Errors of ParseRecord and Import.
var (
	ErrShortRecord = errors.New("sync record truncated")
	ErrBadRecord   = errors.New("malformed sync record")
	ErrNATRecord   = errors.New("a NAT flow's sync record (nat.Table imports it)")
)

// AppendRecord appends the wire form of r to dst: version 2 (RecordLen6
// bytes) when any address is IPv6, else version 1 (RecordLen), where an
// invalid address encodes as 0.0.0.0.
func AppendRecord(dst []byte, r Record) []byte {
	var b [RecordLen6]byte
	n := RecordLen
	b[0] = RecordVersion
	if r.Client.Addr().Is6() || r.Virtual.Addr().Is6() || r.Real.Addr().Is6() {
		n, b[0] = RecordLen6, RecordVersion6
	}
	if r.Template {
		b[recType] = recTemplate
	}
	if r.NAT {
		b[recType] |= recNAT
	}
	binary.BigEndian.PutUint16(b[recLen:], uint16(n))
	b[recProto], b[recState], b[recMethod] = byte(r.Proto), byte(r.State), byte(r.Method)
	binary.BigEndian.PutUint16(b[recFlags:], uint16(r.Flags&FlagNoOutput))
	binary.BigEndian.PutUint16(b[recCPort:], r.Client.Port())
	binary.BigEndian.PutUint16(b[recVPort:], r.Virtual.Port())
	binary.BigEndian.PutUint16(b[recDPort:], r.Real.Port())
	binary.BigEndian.PutUint32(b[recFWMark:], r.FWMark)
	binary.BigEndian.PutUint32(b[recTimeout:], uint32(min(max(r.Timeout.Milliseconds(), 0), 1<<32-1)))
	if n == RecordLen6 {
		put16(b[recCAddr6:], r.Client.Addr())
		put16(b[recVAddr6:], r.Virtual.Addr())
		put16(b[recDAddr6:], r.Real.Addr())
		return append(dst, b[:n]...)
	}
	put4(b[recCAddr:], r.Client.Addr())
	put4(b[recVAddr:], r.Virtual.Addr())
	put4(b[recDAddr:], r.Real.Addr())
	return append(dst, b[:n]...)
}

// put16 writes a as 16 bytes (IPv4 as IPv4-mapped, invalid as ::).
func put16(b []byte, a netip.Addr) {
	if a.IsValid() {
		x := a.As16()
		copy(b, x[:])
	}
}

func put4(b []byte, a netip.Addr) {
	v, _ := pack4(a)
	binary.BigEndian.PutUint32(b, v)
}

// ParseRecord decodes one record from the front of b and returns it with
// the number of bytes it took. It never panics on any input.
func ParseRecord(b []byte) (Record, int, error) {
	if len(b) < 4 {
		return Record{}, 0, ErrShortRecord
	}
	minLen := RecordLen
	switch b[0] {
	case RecordVersion:
	case RecordVersion6:
		minLen = RecordLen6
	default:
		return Record{}, 0, fmt.Errorf("%w: version %d, want %d or %d", ErrBadRecord, b[0], RecordVersion, RecordVersion6)
	}
	n := int(binary.BigEndian.Uint16(b[recLen:]))
	if n < minLen {
		return Record{}, 0, fmt.Errorf("%w: length %d below %d", ErrBadRecord, n, minLen)
	}
	if len(b) < n {
		return Record{}, 0, ErrShortRecord
	}
	if b[recType]&^(recTemplate|recNAT) != 0 || b[recType] == recTemplate|recNAT {
		return Record{}, 0, fmt.Errorf("%w: type %#x", ErrBadRecord, b[recType])
	}
	r := Record{
		Proto: ipvs.Proto(b[recProto]), Template: b[recType]&recTemplate != 0, NAT: b[recType]&recNAT != 0, State: State(b[recState]),
		Method: ipvs.Method(b[recMethod]), Flags: Flags(binary.BigEndian.Uint16(b[recFlags:])),
		Client:  netip.AddrPortFrom(unpack4(binary.BigEndian.Uint32(b[recCAddr:])), binary.BigEndian.Uint16(b[recCPort:])),
		Virtual: netip.AddrPortFrom(unpack4(binary.BigEndian.Uint32(b[recVAddr:])), binary.BigEndian.Uint16(b[recVPort:])),
		Real:    netip.AddrPortFrom(unpack4(binary.BigEndian.Uint32(b[recDAddr:])), binary.BigEndian.Uint16(b[recDPort:])),
		FWMark:  binary.BigEndian.Uint32(b[recFWMark:]),
		Timeout: time.Duration(binary.BigEndian.Uint32(b[recTimeout:])) * time.Millisecond,
	}
	if b[0] == RecordVersion6 {
		r.Client = netip.AddrPortFrom(netip.AddrFrom16([16]byte(b[recCAddr6:])), r.Client.Port())
		r.Virtual = netip.AddrPortFrom(netip.AddrFrom16([16]byte(b[recVAddr6:])), r.Virtual.Port())
		r.Real = netip.AddrPortFrom(netip.AddrFrom16([16]byte(b[recDAddr6:])).Unmap(), r.Real.Port())
		if c, v := r.Client.Addr(), r.Virtual.Addr(); c.Is4In6() && v.Is4In6() && r.Real.Addr().Is6() {
			// An IPv4 flow tunnelled to an IPv6 real server.
			r.Client = netip.AddrPortFrom(c.Unmap(), r.Client.Port())
			r.Virtual = netip.AddrPortFrom(v.Unmap(), r.Virtual.Port())
		}
	}
	switch {
	case r.Proto != ipvs.TCP && r.Proto != ipvs.UDP && r.Proto != ICMP && r.Proto != ipvs.ProtoAny:
		return Record{}, 0, fmt.Errorf("%w: protocol %d", ErrBadRecord, r.Proto)
	case r.Proto == ipvs.ProtoAny && !r.Template:
		return Record{}, 0, fmt.Errorf("%w: protocol 0 on a connection", ErrBadRecord)
	case r.State >= numStates:
		return Record{}, 0, fmt.Errorf("%w: state %d", ErrBadRecord, r.State)
	case r.Method > ipvs.Tunnel:
		return Record{}, 0, fmt.Errorf("%w: method %d", ErrBadRecord, r.Method)
	case r.Flags&^FlagNoOutput != 0:
		return Record{}, 0, fmt.Errorf("%w: flags %#x", ErrBadRecord, uint16(r.Flags))
	}
	return r, n, nil
}

// Record returns the sync record of entry h at time now.
func (t *Table) Record(h Handle, now ipvs.Tick) (Record, bool) {
	a, ref, e, ok := t.lockHome(h)
	if !ok {
		return Record{}, false
	}
	r := recordOf(e.load(ref), t.addrsLocked(ref, e), t.mark(ref, e), left(e.expires, now))
	a.mu.Unlock()
	return r, true
}

func recordOf(c Conn, a Addrs, mark uint32, left time.Duration) Record {
	return Record{Proto: c.Proto(), Template: c.Flags()&FlagTemplate != 0, State: c.State(), Method: c.Method(),
		Flags: c.Flags() & FlagNoOutput, Client: a.Client, Virtual: a.Virtual, Real: a.Real, FWMark: mark,
		Timeout: left.Truncate(time.Millisecond)}
}

// Records calls fn with the sync record of every valid entry (bulk sync to
// a backup that joins), until fn returns false.
func (t *Table) Records(now ipvs.Tick, fn func(Record) bool) {
	t.Walk(now, func(in Info) bool {
		if in.Flags()&(FlagInvalid|FlagOnePacket) != 0 {
			return true
		}
		return fn(recordOf(in.Conn, in.Addrs, in.FWMark, in.Expires))
	})
}

// Import creates or refreshes the entry a sync record describes, bound to
// the destination of tbl with the record's real address (ip_vs_proc_conn):
// flagged FlagSync, in the record's state, expiring after its timeout. An
// entry of the same key bound elsewhere is replaced.
func (t *Table) Import(r Record, tbl *ipvs.Table, now ipvs.Tick) error {
	if r.NAT {
		return fmt.Errorf("importing %v: %w", r.Client, ErrNATRecord)
	}
	var s *ipvs.Service
	switch {
	case r.FWMark != 0 && r.Client.Addr().Is6():
		s = tbl.LookupMark6(r.FWMark)
	case r.FWMark != 0:
		s = tbl.LookupMark(r.FWMark)
	default:
		s = tbl.Lookup(r.Proto, r.Virtual.Addr(), r.Virtual.Port())
		if r.Template && r.Virtual.Port() == 0 && (s == nil || s.Key.Port != 0) {
			// An FTP template has vport 0 (ip_vs_sched_persist): its service
			// is the VIP's port 21, unless a port-0 service exists.
			if ftp := tbl.Service(ipvs.ServiceKey{Proto: r.Proto, Addr: r.Virtual.Addr(), Port: ftpPort}); ftp != nil && s == nil {
				s = ftp
			}
		}
	}
	if s == nil {
		return fmt.Errorf("importing %v: %w", r.Virtual, ipvs.ErrNoService)
	}
	var d *ipvs.Dest
	for _, x := range s.Dests {
		if x.Addr == r.Real.Addr() && (x.Port == r.Real.Port() || r.Real.Port() == 0 || x.Port == 0) {
			d = x
			break
		}
	}
	if d == nil {
		return fmt.Errorf("importing %v: %w", r.Real, ipvs.ErrNoDest)
	}
	kind := uint64(kindConn)
	if r.Template {
		kind = kindTemplate
	}
	var fk fkey
	var p spec
	if !t.packFwd(Key{Proto: r.Proto, Client: r.Client, Virtual: r.Virtual}, kind, &fk) ||
		!p.setDest(&fk, r.Real.Addr(), r.Real.Port(), r.Method, r.State) || r.State >= numStates {
		return fmt.Errorf("importing %v: %w", r.Client, ErrBadRecord)
	}
	if old, ok := t.findHandle(&fk); ok {
		if c, _ := t.Get(old); c.Dest() == d.ID && t.resync(old, r, now) {
			return nil
		}
		t.remove(old, removeDelete, now)
	}
	flags := FlagSync | r.Flags&FlagNoOutput
	if r.Template {
		flags |= FlagTemplate
	}
	p.k0, p.k1, p.h, p.svc, p.dest = fk.k0, fk.k1, fk.h, s.ID, d.ID
	p.c, p.fwmark, p.flags, p.timeout = d.C, r.FWMark, flags, max(r.Timeout.Milliseconds(), 1)
	if _, st, _ := t.insert(&p, false, 0, now); st == TableFull {
		return fmt.Errorf("importing %v: %w", r.Client, ErrTableFull)
	}
	return nil
}

// findHandle returns the handle of the entry with key fk.
func (t *Table) findHandle(fk *fkey) (Handle, bool) {
	s := t.shardOf(fk.h)
	return read(s, func() (Handle, bool) {
		ref, e := t.findKey(s, fk)
		if e == nil {
			return 0, false
		}
		return mkHandle(ref, atomic.LoadUint32(&e.gen)), true
	})
}

// resync moves entry h to the record's state and timeout, keeping the
// destination's active/inactive counts right.
func (t *Table) resync(h Handle, r Record, now ipvs.Tick) bool {
	a, _, e, ok := t.lockHome(h)
	if !ok {
		return false
	}
	defer a.mu.Unlock()
	a.beginWrite()
	defer a.endWrite()
	if e.flags&uint32(FlagTemplate) == 0 && e.proto() == ipvs.TCP {
		st := e.state()
		if act := r.State.active(); act != (e.flags&uint32(FlagInactive) == 0) {
			if c := t.reg.Dest(ipvs.DestID(e.dest)); c != nil {
				c.Move(act, e.epoch)
			}
			e.setFlag(uint32(FlagInactive), !act)
		}
		if st.halfOpen() != r.State.halfOpen() {
			if r.State.halfOpen() {
				t.halfOpen.Add(1)
			} else {
				t.halfOpen.Add(-1)
			}
		}
		e.setState(r.State)
	}
	to := max(r.Timeout.Milliseconds(), 1)
	e.expires = deadline(now, to)
	if e.template() {
		e.extra = uint32(min(to, maxTimeoutMs))
	}
	return true
}
