package fastpath

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/ringbuf"
)

// newFlowMaps are the maps of the new-flow path (newflow.go).
type newFlowMaps struct {
	services *ebpf.Map // hash: VIP, port, protocol → service value
	seq      *ebpf.Map // array: cycle slot → target index
	targets  *ebpf.Map // array: target index → templates and real server
	events   *ebpf.Map // ring buffer of NewFlow records
	reuse    *ebpf.Map // array: counter slot → SetFinReuse's switch (reuse.go)
	rd       *ringbuf.Reader
	rec      ringbuf.Record

	half    int // the half of seq and targets the services point at
	svcKeys map[[svcKeyLen]byte]bool
	last    []byte // what the last SetServices wrote, to skip a repeat
}

func (m *newFlowMaps) open(slots int) (err error) {
	if m.services, err = ebpf.NewMap(&ebpf.MapSpec{Name: "lvs_services", Type: ebpf.Hash,
		KeySize: svcKeyLen, ValueSize: svcValLen, MaxEntries: maxServices}); err != nil {
		return fmt.Errorf("creating the service map: %w", err)
	}
	if m.seq, err = ebpf.NewMap(&ebpf.MapSpec{Name: "lvs_seq", Type: ebpf.Array,
		KeySize: 4, ValueSize: 4, MaxEntries: 2 * seqHalf}); err != nil {
		return fmt.Errorf("creating the scheduling-cycle map: %w", err)
	}
	if m.targets, err = ebpf.NewMap(&ebpf.MapSpec{Name: "lvs_targets", Type: ebpf.Array,
		KeySize: 4, ValueSize: tgtSize, MaxEntries: 2 * targetHalf}); err != nil {
		return fmt.Errorf("creating the target map: %w", err)
	}
	if m.events, err = ebpf.NewMap(&ebpf.MapSpec{Name: "lvs_newflows", Type: ebpf.RingBuf,
		MaxEntries: eventRingLen}); err != nil {
		return fmt.Errorf("creating the new-flow ring: %w", err)
	}
	if m.reuse, err = ebpf.NewMap(&ebpf.MapSpec{Name: "lvs_reuse", Type: ebpf.Array,
		KeySize: 4, ValueSize: 4, MaxEntries: uint32(slots)}); err != nil {
		return fmt.Errorf("creating the port-reuse switch: %w", err)
	}
	if m.rd, err = ringbuf.NewReader(m.events); err != nil {
		return fmt.Errorf("reading the new-flow ring: %w", err)
	}
	m.rd.SetDeadline(time.Unix(1, 0)) // never block: NewFlows drains what is there
	m.svcKeys = map[[svcKeyLen]byte]bool{}
	return nil
}

func (m *newFlowMaps) close() []error {
	var errs []error
	if m.rd != nil {
		errs = append(errs, m.rd.Close())
	}
	for _, x := range []*ebpf.Map{m.services, m.seq, m.targets, m.events, m.reuse} {
		if x != nil {
			errs = append(errs, x.Close())
		}
	}
	return errs
}

// SetServices makes svcs the services whose new TCP connections the fast
// path schedules (and none other): from the next SYN on, each service
// starts its cycle from the head. A service that does not fit (cycles and
// targets beyond the maps' halves) is left to the Go path. Setting the same
// services again changes nothing, so the cycles go on.
func (f *FastPath) SetServices(svcs []Service) error {
	f.nmu.Lock()
	defer f.nmu.Unlock()
	m := &f.nf
	type svcRec struct {
		key [svcKeyLen]byte
		val [svcValLen]byte
	}
	half := 1 - m.half
	seqBase, tgtBase := half*seqHalf, half*targetHalf
	var recs []svcRec
	var seqVals []uint32
	var tgts [][tgtSize]byte
	keys := map[[svcKeyLen]byte]bool{}
	for _, s := range svcs {
		six := s.VIP.Addr().Is6() && !s.VIP.Addr().Is4In6()
		if len(s.Seq) == 0 || len(seqVals)+len(s.Seq) > seqHalf || len(tgts)+len(s.Targets) > targetHalf ||
			!s.VIP.Addr().Is4() && !six || len(recs) == maxServices || s.Proto != protoTCP && s.Proto != protoUDP ||
			!sameFamily(s, six) {
			continue
		}
		var r svcRec
		if six {
			// Keyed by its VIP's fold (newflow6.go): a second service of
			// the same key stays in Go.
			r.key = svc6Key(s.VIP, s.Proto)
			a := s.VIP.Addr().As16()
			copy(r.val[svcVIP6:], a[:])
		} else {
			a := s.VIP.Addr().As4()
			copy(r.key[:], a[:])
			binary.BigEndian.PutUint16(r.key[4:], s.VIP.Port())
			r.key[6] = s.Proto
		}
		if keys[r.key] {
			continue
		}
		keys[r.key] = true
		le := binary.LittleEndian
		le.PutUint32(r.val[svcIn:], uint32(s.In))
		le.PutUint32(r.val[svcSeqBase:], uint32(seqBase+len(seqVals)))
		le.PutUint32(r.val[svcSeqLen:], uint32(len(s.Seq)))
		le.PutUint32(r.val[svcHash:], uint32(s.Hash))
		for _, x := range s.Seq {
			seqVals = append(seqVals, uint32(tgtBase+len(tgts)+x))
		}
		for _, t := range s.Targets {
			var b [tgtSize]byte
			marshalTarget(t, s.VIP, s.Proto, &b)
			tgts = append(tgts, b)
		}
		recs = append(recs, r)
	}
	// The same services as last time (in the other half): nothing to do.
	var sig bytes.Buffer
	for _, r := range recs {
		sig.Write(r.key[:])
		sig.Write(r.val[svcIn : svcIn+4])
		sig.Write(r.val[svcVIP6:])
		binary.Write(&sig, binary.LittleEndian, r.val[svcSeqLen:svcSeqLen+4])
		binary.Write(&sig, binary.LittleEndian, r.val[svcHash:svcHash+4])
	}
	for _, v := range seqVals {
		binary.Write(&sig, binary.LittleEndian, v-uint32(tgtBase))
	}
	for _, t := range tgts {
		sig.Write(t[:])
	}
	if m.last != nil && bytes.Equal(sig.Bytes(), m.last) {
		return nil
	}
	for i := range tgts {
		if err := m.targets.Update(uint32(tgtBase+i), tgts[i][:], ebpf.UpdateAny); err != nil {
			return fmt.Errorf("writing fast-path scheduling targets: %w", err)
		}
	}
	for i, v := range seqVals {
		if err := m.seq.Update(uint32(seqBase+i), v, ebpf.UpdateAny); err != nil {
			return fmt.Errorf("writing fast-path scheduling cycles: %w", err)
		}
	}
	now := map[[svcKeyLen]byte]bool{}
	for _, r := range recs {
		if err := m.services.Update(r.key[:], r.val[:], ebpf.UpdateAny); err != nil {
			return fmt.Errorf("writing fast-path services: %w", err)
		}
		now[r.key] = true
	}
	var errs []error
	for k := range m.svcKeys {
		if !now[k] {
			if err := m.services.Delete(k[:]); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
				errs = append(errs, fmt.Errorf("removing a fast-path service: %w", err))
			}
		}
	}
	m.svcKeys, m.half, m.last = now, half, sig.Bytes()
	return errors.Join(errs...)
}

// SetFinReuse turns on (or off: the default) the program's reuse of a
// half-closed direct-routing flow to destination id by a SYN from the same
// client port (reuse.go): lvsd turns it on only while its Go path would
// send that SYN to the same real server too. The switch sits at the
// client direction's counter slot, 2·id; an id beyond the slots is
// refused.
func (f *FastPath) SetFinReuse(id uint32, on bool) error {
	var v uint32
	if on {
		v = 1
	}
	if int(id)*2 >= f.slots {
		return fmt.Errorf("fast-path port reuse: destination %d beyond the %d counter slots", id, f.slots)
	}
	if err := f.nf.reuse.Update(id*2, v, ebpf.UpdateAny); err != nil {
		return fmt.Errorf("writing the fast path's port-reuse switch: %w", err)
	}
	return nil
}

// sameFamily reports whether every real server of s is of its VIP's
// family (six: IPv6), as the program's templates of that family need.
func sameFamily(s Service, six bool) bool {
	for _, t := range s.Targets {
		if a := t.Real.Addr(); a.Is6() && !a.Is4In6() != six || !a.Is4() && !a.Is6() {
			return false
		}
	}
	return true
}

// PendingNewFlows reports whether the fast path has scheduled flows that
// NewFlows has not yet handed over. It costs two atomic loads.
func (f *FastPath) PendingNewFlows() bool { return f.nf.rd.AvailableBytes() > 0 }

// NewFlows hands fn every flow the fast path scheduled since the last
// call, in order, and returns how many. It does not block; calls are
// serialised.
func (f *FastPath) NewFlows(fn func(NewFlow)) int {
	f.nmu.Lock()
	defer f.nmu.Unlock()
	n := 0
	for {
		if err := f.nf.rd.ReadInto(&f.nf.rec); err != nil {
			return n // os.ErrDeadlineExceeded: drained
		}
		if nf, ok := parseNewFlow(f.nf.rec.RawSample); ok {
			fn(nf)
			n++
		}
	}
}

// Acked reports whether the client sent a segment after the SYN of k, a
// client direction the fast path scheduled (false, true: not yet); false,
// false when there is no such entry.
func (f *FastPath) Acked(k Key) (acked, ok bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	val, ok := f.lookup(k)
	if !ok {
		return false, false
	}
	return binary.LittleEndian.Uint32(val[valFlags:])&flagAcked != 0, true
}
