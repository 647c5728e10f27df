package ha

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// pair drives a primary and a backup Node over a Pipe with one fake clock,
// executing their actions as the daemon would and checking, after every
// step, who holds the addresses.
type pair struct {
	t     *testing.T
	set   Settings
	now   time.Time
	pipe  *Pipe
	nodes [2]*pairNode // 0 primary, 1 backup

	bothSince time.Time     // both hold the addresses since (zero: not both)
	bothMax   time.Duration // longest both-hold episode that ended (or is running)
	trace     []string
}

type pairNode struct {
	role  Role
	n     *Node
	end   *PipeEnd
	up    bool // stepped; false = killed (or SIGSTOPped)
	holds bool // executed ClaimAddresses without a ReleaseAddresses since
	garps int
}

func newPair(t *testing.T, mod func(*Settings)) *pair {
	s := testSettings()
	if mod != nil {
		mod(&s)
	}
	pp := NewPipeFor(s)
	p := &pair{t: t, set: s, now: t0, pipe: pp}
	p.nodes[0] = &pairNode{role: RolePrimary, end: pp.A}
	p.nodes[1] = &pairNode{role: RoleBackup, end: pp.B}
	return p
}

// start (re)starts node i with a fresh Node, as a restarted lvsd.
func (p *pair) start(i int) {
	pn := p.nodes[i]
	n, err := NewNode(p.set, pn.role)
	if err != nil {
		p.t.Fatal(err)
	}
	pn.n, pn.up = n, true
	p.drain(i) // a restarted process does not see its predecessor's socket buffer
	p.step(i, Start{})
}

// kill stops node i without a goodbye (kill -9: the addresses go with the
// process; SIGSTOP keeps them, see freeze).
func (p *pair) kill(i int) {
	p.nodes[i].up, p.nodes[i].holds = false, false
	p.checkBoth()
}

// freeze stops stepping node i but leaves its addresses claimed.
func (p *pair) freeze(i int) { p.nodes[i].up = false }

// thaw resumes a frozen node with its state intact.
func (p *pair) thaw(i int) {
	p.nodes[i].up = true
	p.drain(i) // SIGCONT: the backlog is old; keep it simple and drop it
}

func (p *pair) drain(i int) {
	buf := make([]byte, MaxDatagram)
	for _, ch := range p.nodes[i].end.Channels() {
		for {
			if _, _, ok := p.nodes[i].end.TryRecv(ch, buf); !ok {
				break
			}
		}
	}
}

func (p *pair) step(i int, ev Event) {
	pn := p.nodes[i]
	_, acts := pn.n.Step(p.now, ev)
	for _, a := range acts {
		switch a := a.(type) {
		case SendHeartbeat:
			pn.end.Send(a.Channel, a.Data)
		case ClaimAddresses:
			pn.holds = true
		case ReleaseAddresses:
			pn.holds = false
		case SendGARP:
			pn.garps++
		case Log:
			p.trace = append(p.trace, fmt.Sprintf("+%v %s: %s", p.now.Sub(t0), pn.role, a.Msg))
		}
		p.checkBoth()
	}
}

// checkBoth tracks how long both routers hold the addresses.
func (p *pair) checkBoth() {
	both := p.nodes[0].holds && p.nodes[1].holds
	switch {
	case both && p.bothSince.IsZero():
		p.bothSince = p.now
	case both:
		p.bothMax = max(p.bothMax, p.now.Sub(p.bothSince))
	case !p.bothSince.IsZero():
		p.bothMax = max(p.bothMax, p.now.Sub(p.bothSince))
		p.bothSince = time.Time{}
	}
}

// deliver feeds every queued datagram to its running node until none is left.
func (p *pair) deliver() {
	buf := make([]byte, MaxDatagram)
	for moved := true; moved; {
		moved = false
		for i, pn := range p.nodes {
			if !pn.up {
				continue
			}
			for _, ch := range pn.end.Channels() {
				if n, from, ok := pn.end.TryRecv(ch, buf); ok {
					p.step(i, HeartbeatReceived{Channel: ch, From: from, Data: buf[:n]})
					moved = true
				}
			}
		}
	}
}

// run advances the clock by d, waking each running node at its Next as the
// runner would; latency is zero.
func (p *pair) run(d time.Duration) {
	end := p.now.Add(d)
	for {
		p.deliver()
		next := end
		for _, pn := range p.nodes {
			if !pn.up {
				continue
			}
			if nx := pn.n.Next(); !nx.IsZero() && nx.Before(next) {
				next = nx
			}
		}
		p.now = next
		p.checkBoth()
		for i, pn := range p.nodes {
			if !pn.up {
				continue
			}
			if nx := pn.n.Next(); !nx.IsZero() && !nx.After(p.now) {
				p.step(i, Tick{})
			}
		}
		if !p.now.Before(end) {
			p.deliver()
			return
		}
	}
}

// runUntil runs until cond holds or limit passes and returns the time taken.
func (p *pair) runUntil(limit time.Duration, cond func() bool) time.Duration {
	start := p.now
	for !cond() {
		if p.now.Sub(start) >= limit {
			p.t.Fatalf("condition not met within %v\n%s", limit, strings.Join(p.trace, "\n"))
		}
		p.run(10 * time.Millisecond)
	}
	return p.now.Sub(start)
}

func (p *pair) holder() string {
	switch a, b := p.nodes[0].holds, p.nodes[1].holds; {
	case a && b:
		return "both"
	case a:
		return "primary"
	case b:
		return "backup"
	}
	return "none"
}

func (p *pair) wantHolder(want string) {
	p.t.Helper()
	if got := p.holder(); got != want {
		p.t.Fatalf("at +%v: addresses held by %s, want %s\n%s", p.now.Sub(t0), got, want, strings.Join(p.trace, "\n"))
	}
}

func TestPairStartupOrders(t *testing.T) {
	tests := []struct {
		name  string
		first int           // -1: both at once
		gap   time.Duration // before the second starts
		want  string        // after things settle
		mod   func(*Settings)
	}{
		{"both at once", -1, 0, "primary", nil},
		{"primary first", 0, 10 * time.Second, "primary", nil},
		{"backup first, failback", 1, 10 * time.Second, "primary", nil},
		{"backup first, failback = 0", 1, 10 * time.Second, "backup", func(s *Settings) { s.Failback = false }},
		{"primary second within deadtime", 1, 2 * time.Second, "primary", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPair(t, tt.mod)
			if tt.first < 0 {
				p.start(0)
				p.start(1)
			} else {
				p.start(tt.first)
				p.run(tt.gap)
				p.start(1 - tt.first)
			}
			p.run(30 * time.Second)
			p.wantHolder(tt.want)
			if p.bothMax > 0 || !p.bothSince.IsZero() {
				t.Errorf("both held the addresses for %v", p.bothMax)
			}
			if tt.first < 0 && p.nodes[1].n.Status(p.now).Takeovers != 0 {
				t.Errorf("backup took over during a simultaneous start")
			}
		})
	}
}

// TestPairFailures kills, restarts, freezes and partitions the pair and
// checks the bounds: takeover within deadtime + keepalive, never two
// holders for longer than one keepalive after a heal, failback with no
// overlap.
func TestPairFailures(t *testing.T) {
	p := newPair(t, nil)
	bound := p.set.Deadtime + p.set.Keepalive
	p.start(0)
	p.start(1)
	p.run(5 * time.Second)
	p.wantHolder("primary")

	// kill -9 of the active router.
	p.kill(0)
	if took := p.runUntil(bound, func() bool { return p.holder() == "backup" }); took > bound {
		t.Errorf("takeover after kill took %v, want <= %v", took, bound)
	}
	p.run(10 * time.Second)
	if g := p.nodes[1].garps; g != 5 {
		t.Errorf("backup sent %d GARP rounds, want 5", g)
	}

	// The primary restarts: failback without overlap.
	p.start(0)
	p.runUntil(p.set.FailbackDelay+2*p.set.Keepalive+time.Second, func() bool { return p.holder() == "primary" })
	p.run(10 * time.Second)
	p.wantHolder("primary")
	if p.bothMax > 0 {
		t.Fatalf("both held the addresses for %v during failback", p.bothMax)
	}

	// One channel lost, each way in turn: nothing moves.
	p.pipe.Cut(true, ChannelPublic)
	p.pipe.Cut(false, ChannelPrivate)
	p.run(30 * time.Second)
	p.wantHolder("primary")
	p.pipe.Heal(true, ChannelPublic)
	p.pipe.Heal(false, ChannelPrivate)

	// Partition: the backup takes over (the split brain cannot be seen from
	// inside); heal: the backup stands down within one keepalive.
	p.pipe.Partition(true)
	p.runUntil(bound, func() bool { return p.holder() == "both" })
	p.run(20 * time.Second)
	p.bothMax, p.bothSince = 0, p.now // count only from the heal
	p.pipe.Partition(false)
	p.runUntil(p.set.Keepalive, func() bool { return p.holder() == "primary" })
	p.run(30 * time.Second)
	p.wantHolder("primary")
	if p.bothMax > p.set.Keepalive {
		t.Errorf("both held the addresses for %v after the heal, want <= %v", p.bothMax, p.set.Keepalive)
	}

	// SIGSTOP of the active router, then SIGCONT.
	p.freeze(0)
	p.runUntil(bound, func() bool { return p.nodes[1].holds })
	p.run(5 * time.Second)
	p.bothMax, p.bothSince = 0, p.now
	p.thaw(0)
	p.runUntil(p.set.Keepalive, func() bool { return p.holder() == "primary" })
	p.run(30 * time.Second)
	p.wantHolder("primary")
	if p.bothMax > p.set.Keepalive {
		t.Errorf("after SIGCONT both held the addresses for %v", p.bothMax)
	}

	// Orderly shutdown of the primary: the backup takes over at once.
	p.step(0, Shutdown{})
	p.deliver()
	p.wantHolder("backup")
}

// TestPairOneWay: heartbeats from the primary to the backup are lost for
// good. The backup takes over and cannot hear the primary, so the primary
// yields rather than fight over the ARP caches forever.
func TestPairOneWay(t *testing.T) {
	p := newPair(t, nil)
	p.start(0)
	p.start(1)
	p.run(5 * time.Second)
	p.wantHolder("primary")
	p.pipe.Cut(true, ChannelPublic)
	p.pipe.Cut(true, ChannelPrivate)
	p.run(p.set.Deadtime + 2*p.set.Deadtime + 2*p.set.Keepalive)
	p.wantHolder("backup")
	p.run(60 * time.Second)
	p.wantHolder("backup")
	if p.bothMax > p.set.Deadtime+p.set.Keepalive {
		t.Errorf("both held the addresses for %v", p.bothMax)
	}
}

func TestPairAdmin(t *testing.T) {
	p := newPair(t, nil)
	p.start(0)
	p.start(1)
	p.run(5 * time.Second)
	p.wantHolder("primary")
	p.step(1, AdminTakeover{})
	p.runUntil(2*p.set.Keepalive, func() bool { return p.holder() == "backup" })
	p.run(30 * time.Second)
	p.wantHolder("backup") // no failback after an admin takeover
	p.step(1, AdminStandDown{})
	p.runUntil(2*p.set.Keepalive, func() bool { return p.holder() == "primary" })
	p.run(30 * time.Second)
	p.wantHolder("primary")
	if p.bothMax > 0 {
		t.Errorf("both held the addresses for %v", p.bothMax)
	}
}
