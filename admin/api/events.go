package api

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"

	"lvs/admin"
)

// Event lines copy keepalived's notify FIFOs (check_api.c notify_fifo_vs and
// notify_fifo_rs, vrrp_notify.c): one event per line, trivial to grep, to
// feed a script, or to test.
//
//	VS [192.168.26.10]:tcp:80 UP
//	RS [10.11.12.1]:tcp:80 [192.168.26.10]:tcp:80 DOWN
//	INSTANCE "lvs" MASTER 100

// VirtualAddr names a virtual service in event lines: protocol, address and
// port, or a firewall mark.
type VirtualAddr struct {
	Proto  string // "tcp" or "udp", any case; "" means tcp, keepalived's default protocol
	Addr   netip.Addr
	Port   uint16
	FWMark uint32 // non-zero for a firewall-mark service
}

// VirtualOf returns the event-line name of a service of the table. A
// firewall-mark service is named by its mark.
func VirtualOf(s admin.ServiceStatus) VirtualAddr {
	return VirtualAddr{Proto: s.Proto, Addr: s.Addr, Port: s.Port, FWMark: s.FWMark}
}

func (v VirtualAddr) proto() string {
	if v.Proto == "" {
		return "tcp"
	}
	return strings.ToLower(v.Proto)
}

// String formats v as keepalived's format_vs: "[192.168.26.10]:tcp:80"
// (inet_sockaddrtotrio, brackets for IPv4 too), or "FWM 80".
func (v VirtualAddr) String() string {
	if v.FWMark != 0 {
		return fmt.Sprintf("FWM %d", v.FWMark)
	}
	return trio(v.Addr, v.proto(), v.Port)
}

// trio is keepalived's inet_sockaddrtotrio: "[addr]:proto:port".
func trio(a netip.Addr, proto string, port uint16) string {
	return fmt.Sprintf("[%s]:%s:%d", a, proto, port)
}

func upDown(up bool) string {
	if up {
		return "UP"
	}
	return "DOWN"
}

// VSLine formats a virtual service's quorum change: "VS [192.168.26.10]:tcp:80 UP"
// when its first real server comes up, "… DOWN" when its last one fails.
func VSLine(v VirtualAddr, up bool) string {
	return "VS " + v.String() + " " + upDown(up)
}

// RSLine formats a real server's health change:
// "RS [10.11.12.1]:tcp:80 [192.168.26.10]:tcp:80 DOWN". The real server
// takes the virtual service's protocol, as keepalived's format_rs does.
func RSLine(rs netip.AddrPort, v VirtualAddr, up bool) string {
	return "RS " + trio(rs.Addr(), v.proto(), rs.Port()) + " " + v.String() + " " + upDown(up)
}

// Role priorities in role lines: pulse prefers the primary router, as VRRP
// prefers the higher priority.
const (
	PrimaryPriority = 100
	BackupPriority  = 50
)

// RoleLine formats a router state change as keepalived's vrrp_notify_fifo:
// `INSTANCE "lvs" MASTER 100`. instance is the lvs.cf service name. The
// state word is MASTER when active, BACKUP when standby, FAULT when a local
// failure keeps a standby router from taking over, STOP when stopping or
// not started. The priority is PrimaryPriority or BackupPriority by role.
func RoleLine(instance string, h admin.HAStatus) string {
	word := "STOP"
	switch {
	case h.State == "active":
		word = "MASTER"
	case h.State == "standby" && len(h.Faults) > 0:
		word = "FAULT"
	case h.State == "standby":
		word = "BACKUP"
	}
	prio := PrimaryPriority
	if h.Role == "backup" {
		prio = BackupPriority
	}
	return fmt.Sprintf("INSTANCE %q %s %d", instance, word, prio)
}

// Event is one line of the event stream.
type Event struct {
	// Seq numbers published events 1, 2, 3…; it is 0 on a loss notice.
	Seq  uint64    `json:"seq"`
	Time time.Time `json:"time"`
	Line string    `json:"line"`
	// Lost is the number of events a slow subscriber missed; set only on a
	// loss notice, whose Line is "lost N events".
	Lost uint64 `json:"lost,omitempty"`
}

// ErrEventsClosed is returned by Subscription.Next once the log or the
// subscription is closed and every buffered event has been read.
var ErrEventsClosed = errors.New("event log closed")

// EventLog broadcasts event lines to subscribers and keeps the last few for
// late readers. Publish never blocks: each subscriber has a bounded buffer,
// and one that falls behind loses its oldest events and is told how many.
// All methods are safe for concurrent use.
type EventLog struct {
	now func() time.Time

	mu      sync.Mutex                 // guards the fields below
	seq     uint64                     // of the last event published
	hist    []Event                    // ring of the last cap(hist) events
	histPos int                        // next slot of hist to write once full
	subs    map[*Subscription]struct{} // open subscriptions
	closed  bool
}

// NewEventLog returns a log that keeps the last history events (for
// Recent and SubscribeAfter). now stamps events; nil means time.Now.
func NewEventLog(history int, now func() time.Time) *EventLog {
	if now == nil {
		now = time.Now
	}
	return &EventLog{now: now, hist: make([]Event, 0, max(history, 0)), subs: map[*Subscription]struct{}{}}
}

// oneLine turns line breaks into spaces.
var oneLine = strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ")

// Publish stamps line, keeps it and hands it to every subscriber. Line
// breaks inside line become spaces, so that one event stays one line.
// Publishing to a closed log does nothing and returns the zero Event.
func (l *EventLog) Publish(line string) Event {
	line = oneLine.Replace(line)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return Event{}
	}
	l.seq++
	ev := Event{Seq: l.seq, Time: l.now(), Line: line}
	switch {
	case cap(l.hist) == 0:
	case len(l.hist) < cap(l.hist):
		l.hist = append(l.hist, ev)
	default:
		l.hist[l.histPos] = ev
		l.histPos = (l.histPos + 1) % len(l.hist)
	}
	for s := range l.subs {
		s.push(ev)
	}
	return ev
}

// Recent returns the kept events, oldest first.
func (l *EventLog) Recent() []Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.recent()
}

func (l *EventLog) recent() []Event {
	out := make([]Event, 0, len(l.hist))
	out = append(out, l.hist[l.histPos:]...)
	return append(out, l.hist[:l.histPos]...)
}

// Subscribe returns a subscription to the events published from now on,
// buffering at most buffer of them (at least 1).
func (l *EventLog) Subscribe(buffer int) *Subscription {
	return l.subscribe(buffer, nil)
}

// SubscribeAfter is Subscribe, first replaying the kept events numbered
// above seq (an SSE client's Last-Event-ID). Events older than the history
// count as lost.
func (l *EventLog) SubscribeAfter(buffer int, seq uint64) *Subscription {
	return l.subscribe(buffer, &seq)
}

func (l *EventLog) subscribe(buffer int, after *uint64) *Subscription {
	s := &Subscription{log: l, wake: make(chan struct{}, 1), ring: make([]Event, max(buffer, 1))}
	l.mu.Lock()
	defer l.mu.Unlock()
	if after != nil && *after < l.seq {
		kept := l.recent()
		if len(kept) == 0 || kept[0].Seq > *after+1 {
			first := l.seq + 1
			if len(kept) > 0 {
				first = kept[0].Seq
			}
			s.lost = first - *after - 1
		}
		for _, ev := range kept {
			if ev.Seq > *after {
				s.push(ev)
			}
		}
	}
	if l.closed {
		s.closed = true
	} else {
		l.subs[s] = struct{}{}
	}
	return s
}

// Close ends every subscription: their readers get what is buffered, then
// ErrEventsClosed. Later Publish calls do nothing.
func (l *EventLog) Close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	for s := range l.subs {
		s.close()
		delete(l.subs, s)
	}
}

// Subscription is one reader of an EventLog. Next may be called by one
// goroutine at a time; Close from any.
type Subscription struct {
	log  *EventLog
	wake chan struct{} // capacity 1: something to read, or closed

	mu     sync.Mutex // guards the fields below
	ring   []Event    // buffered events, n of them from head
	head   int
	n      int
	lost   uint64 // events dropped since the last loss notice
	closed bool
}

// push buffers ev, dropping the oldest buffered event when full. The caller
// holds log.mu.
func (s *Subscription) push(ev Event) {
	s.mu.Lock()
	if s.n == len(s.ring) {
		s.head = (s.head + 1) % len(s.ring)
		s.n--
		s.lost++
	}
	s.ring[(s.head+s.n)%len(s.ring)] = ev
	s.n++
	s.mu.Unlock()
	s.signal()
}

func (s *Subscription) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *Subscription) close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.signal()
}

// Next returns the next event, waiting for one until ctx is done. After a
// loss it first returns a notice, `lost N events`, standing where the lost
// events stood. It returns ErrEventsClosed when closed and drained.
func (s *Subscription) Next(ctx context.Context) (Event, error) {
	for {
		s.mu.Lock()
		switch {
		case s.lost > 0:
			n := s.lost
			s.lost = 0
			s.mu.Unlock()
			return Event{Time: s.log.now(), Line: fmt.Sprintf("lost %d events", n), Lost: n}, nil
		case s.n > 0:
			ev := s.ring[s.head]
			s.ring[s.head] = Event{}
			s.head = (s.head + 1) % len(s.ring)
			s.n--
			s.mu.Unlock()
			return ev, nil
		case s.closed:
			s.mu.Unlock()
			return Event{}, ErrEventsClosed
		}
		s.mu.Unlock()
		select {
		case <-s.wake:
		case <-ctx.Done():
			return Event{}, ctx.Err()
		}
	}
}

// Close unsubscribes; Next then drains what is buffered.
func (s *Subscription) Close() {
	s.log.mu.Lock()
	delete(s.log.subs, s)
	s.log.mu.Unlock()
	s.close()
}
