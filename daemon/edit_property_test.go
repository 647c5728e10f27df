package daemon

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"lvs/admin"
	"lvs/admin/ipvsadm"
	"lvs/config"
	"lvs/ipvs"
	"lvs/sched"
)

// propertyCf is the guide's NAT site plus a firewall-mark bundle (HTTP and
// HTTPS sharing mark 80, section 4.6) and IPv6 services (an address one and
// the firewall-mark one of mark 81, lvsadm's -f 81 -6), so that random edits
// meet every kind of service lvs.cf has.
const propertyCf = guideNAT + `nat_router6 = fd00:11:12::10 eth1:1
nat_nmask6 = 64
virtual web6 {
     active = 1
     address = 2001:db8:26::10 eth0:1
     port = 80
     persistent = 300
     pmask = 64
     scheduler = wlc
     server web6a {
         address = fd00:11:12::1
         active = 1
         weight = 1
     }
}
virtual mark6 {
     active = 1
     address = 2001:db8:26::13 eth0:1
     port = 80
     fwmark = 81
     scheduler = rr
     server mark6a {
         address = fd00:11:12::5
         active = 1
         weight = 1
     }
}
virtual shop {
     active = 1
     address = 192.168.26.13 eth0:1
     port = 80
     fwmark = 80
     persistent = 300
     pmask = 255.255.255.0
     scheduler = wlc
     server shop1 {
         address = 10.11.12.5
         active = 1
         weight = 1
     }
}
virtual shop-tls {
     active = 1
     address = 192.168.26.13 eth0:1
     port = 443
     fwmark = 80
     persistent = 300
     pmask = 255.255.255.0
     scheduler = wlc
     server shop1 {
         address = 10.11.12.5
         active = 1
         weight = 1
     }
     server shop2 {
         address = 10.11.12.6
         active = 1
         weight = 2
     }
}
`

// editGen makes random lvsadm command lines over a small universe of
// services and real servers, so that edits meet each other: mostly valid
// ipvsadm, some that ipvsadm refuses, some that only lvsd refuses.
type editGen struct{ r *rand.Rand }

func (g editGen) pick(s ...string) string { return s[g.r.IntN(len(s))] }

var genServices = []string{"-t 192.168.26.10:80", "-t 192.168.26.10:80", "-t 192.168.26.10:443", "-u 192.168.26.11:53",
	"-t 192.168.26.12:8080", "-f 80", "-f 80", "-f 90",
	"-t [2001:db8:26::10]:80", "-t [2001:db8:26::10]:80", "-u [2001:db8:26::11]:53", "-f 81 -6", "-f 81 -6", "-f 81", "-f 80 -6"}

// svcIs6 reports whether the service argument svc names an IPv6 service.
func svcIs6(svc string) bool { return strings.Contains(svc, "[") || strings.HasSuffix(svc, " -6") }

func (g editGen) line() string {
	svc := g.pick(genServices...)
	switch n := g.r.IntN(200); {
	case n < 60:
		return "-a " + svc + g.dest(svc) + g.destOpts()
	case n < 96:
		return "-e " + svc + g.dest(svc) + g.destOpts()
	case n < 120:
		return "-d " + svc + g.dest(svc)
	case n < 156:
		return "-A " + svc + g.schedOpts()
	case n < 176:
		return "-E " + svc + g.schedOpts()
	case n < 184:
		return "-D " + svc
	case n < 185:
		return "-C"
	}
	// Bad input: options in the wrong command, missing or bad values.
	return g.pick("-a "+svc, "-A "+svc+" -w 2", "-e "+svc+" -r 10.11.12.1 -w -1", "-a "+svc+" -r 10.11.12.1:99999",
		"-A -t 192.168.26.10 -s rr", "-E "+svc+" -s rr -b sh-port", "-d "+svc+" -r 10.11.12.1 -x 5", "-A -t 192.168.26.10:80 -M 255.0.255.0 -p",
		"-a "+svc+" -r 10.11.12.1 -w 65536", "-A "+svc+" -p -5", "-D", "-a -t [::1]:80 -r 10.11.12.1", "-A -u 192.168.26.11:53 -s rr -o",
		"-A -6 -f 81", "-E -t [2001:db8:26::10]:80 -p -M 129", "-A -t [2001:db8:26::12] -s rr", "-a "+svc+" -r [fd00:11:12::1]",
		"-E -f 81 -6 -p 60 -M 255.255.255.0")
}

// dest is -r with a real server of the universe, of the service's family
// but now and then of the other; a firewall-mark service gets no port (its
// servers take the client's).
func (g editGen) dest(svc string) string {
	v6 := svcIs6(svc) != (g.r.IntN(10) == 0)
	rip := fmt.Sprintf(" -r 10.11.12.%d", 1+g.r.IntN(7))
	if v6 {
		rip = fmt.Sprintf(" -r fd00:11:12::%d", 1+g.r.IntN(7))
	}
	port := g.pick("", "", ":80", ":8080", ":443")
	switch {
	case strings.HasPrefix(svc, "-f"):
		return rip
	case v6 && port != "":
		return " -r [" + rip[len(" -r "):] + "]" + port
	}
	return rip + port
}

func (g editGen) destOpts() string {
	s := g.pick("", "", "", " -m", " -g", " -i")
	if g.r.IntN(4) > 0 {
		s += fmt.Sprintf(" -w %d", g.r.IntN(6))
	}
	if g.r.IntN(5) == 0 {
		s += fmt.Sprintf(" -x %d -y %d", 10+g.r.IntN(90), g.r.IntN(10))
	}
	return s
}

func (g editGen) schedOpts() string {
	var s string
	switch n := g.r.IntN(12); {
	case n == 0:
		s = " -s sh -b sh-port"
	case n == 1:
		s = " -s mh -b mh-port"
	case n == 2:
		s = " -s bogus"
	case n < 8:
		s = " -s " + g.pick("rr", "wrr", "lc", "wlc", "sed", "nq", "lblc", "lblcr", "dh", "sh", "mh", "fo", "ovf")
	}
	switch g.r.IntN(6) {
	case 0:
		s += " -p"
	case 1:
		s += fmt.Sprintf(" -p %d", 1+g.r.IntN(900))
	case 2:
		s += fmt.Sprintf(" -p %d -M %s", 1+g.r.IntN(900), g.pick("255.255.255.0", "255.255.0.0", "255.255.255.255"))
	case 3:
		s += fmt.Sprintf(" -p %d -M %s", 1+g.r.IntN(900), g.pick("64", "48", "128"))
	}
	if g.r.IntN(20) == 0 {
		s += " -o"
	}
	return s
}

// editCheck runs edits against one testDaemon and checks, after each, the
// properties of lvsd's edit path.
type editCheck struct {
	t  *testing.T
	td *testDaemon
}

// snapshot is the running state an edit must keep or change as ipvsadm
// would: lvs.cf formatted, and the published table without counters.
type snapshot struct {
	cf    string
	table admin.Status
}

func (c editCheck) snapshot() snapshot {
	cf, st := c.td.running(c.t)
	return snapshot{cf, normal(st)}
}

// normal drops what an edit need not keep (the virtual's name, which the
// model cannot know) and sorts.
func normal(st admin.Status) admin.Status {
	st = tableOnly(st)
	for i := range st.Services {
		st.Services[i].Name = ""
		if st.Services[i].Dests == nil {
			st.Services[i].Dests = []admin.DestStatus{}
		}
	}
	if st.Services == nil {
		st.Services = []admin.ServiceStatus{}
	}
	return st
}

// step applies line through lvsd's Apply and checks every property.
func (c editCheck) step(i int, line string) {
	t := c.t
	t.Helper()
	if !noLookups(line) {
		return // host names would be looked up: no DNS from tests
	}
	cmd, err := ipvsadm.ParseArgs(strings.Fields(line))
	if err != nil || !cmd.Kind.IsEdit() {
		return // lvsadm refuses it, or does not send it to Apply
	}
	before := c.snapshot()
	want, wantErr := expect(before.table, cmd, line)
	err = c.td.Apply(context.Background(), []ipvsadm.Command{cmd})
	after := c.snapshot()
	where := fmt.Sprintf("step %d: lvsadm %s", i, line)
	if errors.Is(err, ErrInternal) {
		t.Fatalf("%s: %v", where, err)
	}
	switch {
	case wantErr != nil && err == nil:
		t.Fatalf("%s succeeded, want %v", where, wantErr)
	case wantErr != nil && wantErr != errRefused && !errors.Is(err, wantErr):
		t.Fatalf("%s = %v, want %v", where, err, wantErr)
	case wantErr == nil && err != nil:
		t.Fatalf("%s = %v, want success", where, err)
	}
	if err != nil {
		if !reflect.DeepEqual(after, before) {
			t.Fatalf("%s failed (%v) but changed the running state:\n%s\nwas\n%s", where, err, after.cf, before.cf)
		}
		return
	}
	if !reflect.DeepEqual(after.table, want) {
		t.Fatalf("%s: table\n%s\nwant (ipvsadm's result)\n%s", where, rules(after.table), rules(want))
	}
	c.invariants(where, after)
}

// stepCommand applies a command as any API client may send it, unchecked
// by lvsadm: it must be refused or leave a valid, consistent state.
func (c editCheck) stepCommand(i int, cmd ipvsadm.Command) {
	t := c.t
	before := c.snapshot()
	err := c.td.Apply(context.Background(), []ipvsadm.Command{cmd})
	after := c.snapshot()
	where := fmt.Sprintf("step %d: Apply(%+v)", i, cmd)
	switch {
	case errors.Is(err, ErrInternal):
		t.Fatalf("%s: %v", where, err)
	case err != nil && !reflect.DeepEqual(after, before):
		t.Fatalf("%s failed (%v) but changed the running state", where, err)
	case err == nil:
		c.invariants(where, after)
	}
}

// invariants: the published table is the one lvsd builds from its
// configuration, and that configuration, formatted, is a file `lvsd -t`
// accepts which builds the same table again.
func (c editCheck) invariants(where string, now snapshot) {
	t := c.t
	t.Helper()
	var fresh, reloaded *ipvs.Table
	var loadErr error
	if err := c.td.do(context.Background(), func() {
		empty := ipvs.NewTable(ipvs.NewRegistry(), sched.New)
		if fresh, loadErr = Reconcile(empty, c.td.hv.desired(c.td.cfg)); loadErr != nil {
			return
		}
		l, err := loadText(c.td.opts, c.td.opts.configFile(), config.Format(c.td.cfg))
		if err != nil || len(l.errs) > 0 {
			loadErr = fmt.Errorf("lvs.cf as formatted does not load: %v %v", err, l.errs)
			return
		}
		reloaded, loadErr = Reconcile(empty, c.td.hv.desired(l.cfg))
	}); err != nil {
		t.Fatal(err)
	}
	if loadErr != nil {
		t.Fatalf("%s: %v\n%s", where, loadErr, now.cf)
	}
	if got := normal(admin.StatusFromTable(fresh)); !reflect.DeepEqual(got, now.table) {
		t.Fatalf("%s: the running table\n%s\nis not the one its lvs.cf builds\n%s", where, rules(now.table), rules(got))
	}
	if got := normal(admin.StatusFromTable(reloaded)); !reflect.DeepEqual(got, now.table) {
		t.Fatalf("%s: lvs.cf as formatted builds\n%s\nnot the running table\n%s\n%s", where, rules(got), rules(now.table), now.cf)
	}
}

// saved: lvsadm --save-config writes a file that `lvsd -t` accepts and
// that builds the running table.
func (c editCheck) saved(where string) {
	t := c.t
	t.Helper()
	ctx := context.Background()
	if _, err := c.td.SaveConfig(ctx); err != nil {
		t.Fatalf("%s: SaveConfig: %v", where, err)
	}
	var out, errb bytes.Buffer
	if code := ConfigTest(c.td.opts, &out, &errb); code != ExitOK {
		t.Fatalf("%s: lvsd -t on the saved lvs.cf = %d:\n%s%s", where, code, out.String(), errb.String())
	}
	var got admin.Status
	var err error
	if e := c.td.do(ctx, func() {
		var l *loaded
		if l, err = load(c.td.opts); err != nil {
			return
		}
		var tb *ipvs.Table
		if tb, err = Reconcile(ipvs.NewTable(ipvs.NewRegistry(), sched.New), c.td.hv.desired(l.cfg)); err == nil {
			got = normal(admin.StatusFromTable(tb))
		}
	}); e != nil || err != nil {
		t.Fatalf("%s: reading the saved lvs.cf back: %v %v", where, e, err)
	}
	if now := c.snapshot(); !reflect.DeepEqual(got, now.table) {
		t.Fatalf("%s: the saved lvs.cf builds\n%s\nnot the running table\n%s", where, rules(got), rules(now.table))
	}
}

// rules is st as lvsadm -S -n writes it, for messages.
func rules(st admin.Status) string {
	var b strings.Builder
	ipvsadm.WriteList(&b, st, ipvsadm.FmtRule)
	return b.String()
}

// errRefused stands for an error lvsd has and ipvsadm has not (a
// forwarding method other than lvs.cf's network, -A -f, -o): any error
// will do.
var errRefused = errors.New("refused by lvsd")

// expect is ipvsadm's answer to cmd on table st (normal form): the table
// after it, or the error. A model of ipvsadm on the listing, independent of
// how lvsd gets there.
func expect(st admin.Status, cmd ipvsadm.Command, line string) (admin.Status, error) {
	st = normal(cloneStatus(st))
	k := cmd.Service
	// The kernel keys a firewall-mark service by mark and family (-6).
	si := slices.IndexFunc(st.Services, func(s admin.ServiceStatus) bool {
		return s.FWMark == k.FWMark && (k.FWMark != 0 && s.IPv6 == k.IPv6 ||
			k.FWMark == 0 && s.Proto == k.Proto.String() && s.Addr == k.Addr && s.Port == k.Port)
	})
	v6 := cmd.Is6()
	sched := func(s *admin.ServiceStatus) {
		s.Sched, s.Persistence, s.PMaskBits, s.SchedFlags = cmd.Sched.SchedName, cmd.Sched.Persistence, 32, nil
		if v6 {
			s.PMaskBits = 128
		}
		if s.Persistence > 0 {
			s.PMaskBits = cmd.Sched.PMaskBits
		}
		if _, flags, ok := strings.Cut(line, " -b "); ok {
			s.SchedFlags = strings.Split(strings.Fields(flags)[0], ",")
		}
	}
	switch cmd.Kind {
	case ipvsadm.KindClear:
		st.Services = []admin.ServiceStatus{}
		return st, nil
	case ipvsadm.KindAddService:
		if si >= 0 {
			return st, ipvs.ErrServiceExists
		}
		if k.FWMark != 0 || cmd.Sched.OnePacket {
			return st, errRefused
		}
		s := admin.ServiceStatus{Proto: k.Proto.String(), Addr: k.Addr, Port: k.Port, Dests: []admin.DestStatus{}}
		sched(&s)
		st.Services = append(st.Services, s)
		return normal(st), nil
	}
	if si < 0 {
		return st, ipvs.ErrNoService
	}
	s := &st.Services[si]
	switch cmd.Kind {
	case ipvsadm.KindEditService:
		if cmd.Sched.OnePacket {
			return st, errRefused
		}
		sched(s)
		return st, nil
	case ipvsadm.KindDelService:
		st.Services = slices.Delete(st.Services, si, si+1)
		return st, nil
	}
	d := cmd.DestSpec(ipvs.Masq)
	if k.FWMark == 0 && d.Port == 0 {
		// lvsd, not ipvsadm: a server of an address service has a port;
		// lvs.cf's server without one takes the virtual's.
		d.Port = k.Port
	}
	if cmd.MethodSet && d.Method != ipvs.Masq {
		return st, errRefused
	}
	di := slices.IndexFunc(s.Dests, func(x admin.DestStatus) bool { return x.Addr == d.Addr && x.Port == d.Port })
	nd := admin.DestStatus{Addr: d.Addr, Port: d.Port, Forward: "Masq", Weight: d.Weight, UThreshold: d.UThreshold, LThreshold: d.LThreshold}
	switch {
	case cmd.Kind == ipvsadm.KindAddDest && di >= 0:
		return st, ipvs.ErrDestExists
	case cmd.Kind != ipvsadm.KindAddDest && di < 0:
		return st, ipvs.ErrNoDest
	case cmd.Kind == ipvsadm.KindAddDest && d.Addr.Is6() != v6:
		return st, errRefused // NAT mixes no families (IPVS: only tunnels do)
	case cmd.Kind == ipvsadm.KindAddDest:
		s.Dests = append(s.Dests, nd)
	case cmd.Kind == ipvsadm.KindEditDest:
		s.Dests[di] = nd
	case cmd.Kind == ipvsadm.KindDelDest:
		s.Dests = slices.Delete(s.Dests, di, di+1)
	}
	return normal(st), nil
}

func cloneStatus(st admin.Status) admin.Status {
	st.Services = slices.Clone(st.Services)
	for i := range st.Services {
		st.Services[i].Dests = slices.Clone(st.Services[i].Dests)
		st.Services[i].SchedFlags = slices.Clone(st.Services[i].SchedFlags)
	}
	return st
}

// randomCommand is a command as a buggy or hostile API client might send
// it: any kind, any key, any values.
func randomCommand(r *rand.Rand) ipvsadm.Command {
	kinds := []ipvsadm.Kind{ipvsadm.KindAddService, ipvsadm.KindEditService, ipvsadm.KindDelService, ipvsadm.KindClear,
		ipvsadm.KindAddDest, ipvsadm.KindEditDest, ipvsadm.KindDelDest, ipvsadm.KindList, ipvsadm.KindZero, "", "bogus"}
	addrs := []netip.Addr{{}, netip.MustParseAddr("192.168.26.10"), netip.MustParseAddr("192.168.26.14"),
		netip.MustParseAddr("10.11.12.1"), netip.MustParseAddr("10.11.12.7"), netip.MustParseAddr("::1"),
		netip.MustParseAddr("0.0.0.0"), netip.MustParseAddr("255.255.255.255"), netip.MustParseAddr("203.0.113.1")}
	ports := []uint16{0, 80, 443, 53, 65535}
	c := ipvsadm.Command{Kind: kinds[r.IntN(len(kinds))], HasService: r.IntN(2) == 0}
	c.Service = ipvs.ServiceKey{Proto: ipvs.Proto([]uint8{0, 6, 17, 1, 255}[r.IntN(5)]), Addr: addrs[r.IntN(len(addrs))], Port: ports[r.IntN(len(ports))]}
	if r.IntN(5) == 0 {
		c.Service = ipvs.MarkKey(uint32(r.IntN(3)) * 80)
	}
	c.Service.IPv6 = r.IntN(4) == 0 // on an address service, a key the table refuses
	c.Sched = ipvs.SchedSpec{SchedName: []string{"", "rr", "wlc", "sh", "nope", "mh"}[r.IntN(6)],
		Persistence: time.Duration(r.IntN(3)-1) * time.Duration(r.IntN(1000)) * time.Second,
		PMaskBits:   r.IntN(140) - 5, OnePacket: r.IntN(10) == 0,
		SchedOpts: ipvs.SchedOptions{Flags: ipvs.SchedFlags(r.IntN(8))}}
	c.Dest = ipvs.DestSpec{Addr: addrs[r.IntN(len(addrs))], Port: ports[r.IntN(len(ports))],
		Method: ipvs.Method(r.IntN(5)), Weight: int32(r.IntN(200_000) - 100_000),
		UThreshold: uint32(r.IntN(3)) * 1e9, LThreshold: uint32(r.IntN(3)) * 1e9}
	if r.IntN(2) == 0 {
		c.Dest.Weight = int32(r.IntN(5))
	}
	c.MethodSet = r.IntN(3) == 0
	return c
}

// TestEditProperties applies random sequences of lvsadm edits, with fixed
// seeds, through lvsd's Apply (what the control socket, the JSON API and
// lvsadm reach) and checks after each: nothing panics; the result is
// ipvsadm's (the error, or the table); a refused edit changes nothing; the
// published table is the one lvsd builds from its configuration; that
// configuration formats into a file that loads as `lvsd -t` loads it and
// builds the same table.
func TestEditProperties(t *testing.T) {
	steps := 300
	if testing.Short() {
		steps = 60
	}
	for seed := uint64(1); seed <= 8; seed++ {
		t.Run(fmt.Sprintf("seed%d", seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, 16))
			c := editCheck{t: t, td: newTestDaemon(t, propertyCf)}
			g := editGen{r: r}
			for i := range steps {
				if r.IntN(10) == 0 {
					c.stepCommand(i, randomCommand(r))
					continue
				}
				line := g.line()
				if !noLookups(line) {
					t.Fatalf("the generator made %q, which lvsadm would look up", line)
				}
				c.step(i, line)
				if i%25 == 24 {
					c.saved(fmt.Sprintf("after step %d", i))
				}
			}
			if n := c.td.logs.count("panic"); n != 0 {
				t.Errorf("%d log lines mention a panic", n)
			}
		})
	}
}

// FuzzEdits runs sequences of lvsadm lines (one per input line) through
// lvsd's Apply with the properties of TestEditProperties.
func FuzzEdits(f *testing.F) {
	f.Add([]byte("-a -t 192.168.26.10:80 -r 10.11.12.4:80 -m -w 1\n-e -t 192.168.26.10:80 -r 10.11.12.4:80 -m -w 3\n-d -t 192.168.26.10:80 -r 10.11.12.1:80"))
	f.Add([]byte("-E -f 80 -s sh -b sh-port -p 60\n-a -f 80 -r 10.11.12.7 -w 4\n-d -f 80 -r 10.11.12.5\n-D -f 80"))
	f.Add([]byte("-C\n-A -u 192.168.26.11:53 -s rr\n-a -u 192.168.26.11:53 -r 10.11.12.1:5353\n-A -f 90"))
	f.Add([]byte("-a -t [2001:db8:26::10]:80 -r [fd00:11:12::2]:8080 -w 2\n-E -t [2001:db8:26::10]:80 -s rr -p 60 -M 48\n-a -f 81 -6 -r fd00:11:12::6\n-D -f 81\n-d -f 81 -6 -r fd00:11:12::5"))
	g := editGen{r: rand.New(rand.NewPCG(16, 2))}
	for range 4 {
		var b bytes.Buffer
		for range 12 {
			b.WriteString(g.line() + "\n")
		}
		f.Add(b.Bytes())
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		lines := strings.Split(string(in), "\n")
		if len(lines) > 32 {
			lines = lines[:32]
		}
		c := editCheck{t: t, td: newTestDaemon(t, propertyCf)}
		for i, line := range lines {
			c.step(i, line)
		}
		c.saved("at the end")
	})
}

// noLookups reports whether lvsadm can parse line without looking a host
// name up (tests send no DNS queries): options stand alone (no attached
// values), and every other word is a number, an IP address with or
// without a port, or a scheduler's or flag's name.
func noLookups(line string) bool {
	prev := ""
	for _, f := range strings.Fields(line) {
		last := prev
		prev = f
		if strings.HasPrefix(f, "-") {
			if isNumber(f[1:]) && slices.Contains([]string{"-w", "-p", "-x", "-y"}, last) {
				continue // a negative value, where no address is expected
			}
			if !optionWord.MatchString(f) {
				return false
			}
			continue
		}
		if isNumber(f) || slices.Contains(sched.Names(), f) ||
			slices.Contains([]string{"sh-port", "sh-fallback", "mh-port", "mh-fallback", "bogus"}, f) {
			continue
		}
		if _, err := netip.ParseAddr(f); err == nil {
			continue
		}
		if _, err := netip.ParseAddrPort(f); err == nil {
			continue
		}
		if _, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(f, "["), "]")); err == nil {
			continue // "[v6]" without a port: lvsadm refuses it, looking nothing up
		}
		host, port, ok := strings.Cut(f, ":")
		if _, err := netip.ParseAddr(host); err != nil || !ok || !isNumber(port) {
			return false
		}
	}
	return true
}

var optionWord = regexp.MustCompile(`^(-[A-Za-z6]|--[a-z][a-z0-9-]*)$`)

func isNumber(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}
