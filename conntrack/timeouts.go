package conntrack

import (
	"sync/atomic"
	"time"

	"lvs/ipvs"
)

// DefaultTCPTimeouts are the kernel's tcp_timeouts (ip_vs_proto_tcp.c).
var DefaultTCPTimeouts = [numStates]time.Duration{
	StateNone:        2 * time.Second,
	StateEstablished: 900 * time.Second,
	StateSynSent:     120 * time.Second,
	StateSynRecv:     60 * time.Second,
	StateFinWait:     120 * time.Second,
	StateTimeWait:    120 * time.Second,
	StateClose:       10 * time.Second,
	StateCloseWait:   60 * time.Second,
	StateLastAck:     30 * time.Second,
	StateListen:      120 * time.Second,
	StateSynAck:      120 * time.Second,
}

// Default timeouts of the other protocols: UDP as udp_timeouts
// (IP_VS_UDP_S_NORMAL, 5 min); ICMP as netfilter's nf_ct_icmp_timeout, since
// IPVS keeps no ICMP flows of its own.
const (
	DefaultUDPTimeout  = 300 * time.Second
	DefaultICMPTimeout = 30 * time.Second
)

// timeouts holds the live timeouts in ms; they change at run time and take
// effect when an entry's timer is next armed, as in the kernel.
type timeouts struct {
	tcp  [numStates]atomic.Int64
	udp  atomic.Int64
	icmp atomic.Int64
}

func (t *timeouts) init() {
	for s, d := range DefaultTCPTimeouts {
		t.tcp[s].Store(d.Milliseconds())
	}
	t.udp.Store(DefaultUDPTimeout.Milliseconds())
	t.icmp.Store(DefaultICMPTimeout.Milliseconds())
}

// of returns the timeout in ms of a flow of protocol p in state s.
func (t *timeouts) of(p ipvs.Proto, s State) int64 {
	switch p {
	case ipvs.TCP:
		if s < numStates {
			return t.tcp[s].Load()
		}
		return t.tcp[StateNone].Load()
	case ICMP:
		return t.icmp.Load()
	}
	return t.udp.Load()
}

// Timeouts are the values ipvsadm -L --timeout shows.
type Timeouts struct {
	TCP    time.Duration // ESTABLISHED
	TCPFin time.Duration // FIN_WAIT
	UDP    time.Duration
}

// SetTimeouts changes the ESTABLISHED, FIN_WAIT and UDP timeouts like
// ipvsadm --set tcp tcpfin udp (ip_vs_set_timeout): a zero leaves that value
// unchanged. Entries pick the new values up at their next packet.
func (t *Table) SetTimeouts(tcp, tcpfin, udp time.Duration) {
	if tcp > 0 {
		t.to.tcp[StateEstablished].Store(tcp.Milliseconds())
	}
	if tcpfin > 0 {
		t.to.tcp[StateFinWait].Store(tcpfin.Milliseconds())
	}
	if udp > 0 {
		t.to.udp.Store(udp.Milliseconds())
	}
}

// SetStateTimeout sets the timeout of one TCP state (the kernel's
// /proc/sys/net/ipv4/vs/timeout_* of old, or lvs.cf tuning); d ≤ 0 is ignored.
func (t *Table) SetStateTimeout(s State, d time.Duration) {
	if s < numStates && d > 0 {
		t.to.tcp[s].Store(d.Milliseconds())
	}
}

// SetICMPTimeout sets the timeout of ICMP flows; d ≤ 0 is ignored.
func (t *Table) SetICMPTimeout(d time.Duration) {
	if d > 0 {
		t.to.icmp.Store(d.Milliseconds())
	}
}

// Timeouts returns the current ESTABLISHED, FIN_WAIT and UDP timeouts.
func (t *Table) Timeouts() Timeouts {
	return Timeouts{
		TCP:    time.Duration(t.to.tcp[StateEstablished].Load()) * time.Millisecond,
		TCPFin: time.Duration(t.to.tcp[StateFinWait].Load()) * time.Millisecond,
		UDP:    time.Duration(t.to.udp.Load()) * time.Millisecond,
	}
}

// StateTimeout returns the current timeout of TCP state s.
func (t *Table) StateTimeout(s State) time.Duration {
	return time.Duration(t.to.of(ipvs.TCP, s)) * time.Millisecond
}
