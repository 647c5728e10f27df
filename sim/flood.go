package sim

import (
	"cmp"
	"context"
	"encoding/binary"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"
	"golang.org/x/sys/unix"

	"lvs/conntrack"
	"lvs/frame"
)

// The attack steps of issue 17: a flood (SYN, UDP or ICMP echo from random
// sources) and hostile frames (hostile.go), each for a bounded time while
// a legitimate client keeps requesting and downloading. The step measures
// lvsd through its own /metrics on the control socket and fails, like the
// drills, when a target is missed; its one-line result carries the figures.

// Attack step kinds.
const (
	FaultFlood   FaultKind = "flood"   // target floods attack.to from random sources
	FaultHostile FaultKind = "hostile" // target sends malformed frames at the active router
)

// Attack holds the parameters of a flood or hostile step.
type Attack struct {
	Proto    string         // flood: syn, udp or icmp
	To       netip.AddrPort // flood: the target (VIP:PORT; the port is unused for icmp)
	Sources  netip.Prefix   // flood: the random source addresses (routed back to target inside the site)
	Legit    string         // the client whose requests must be answered meanwhile
	Web      netip.AddrPort // its HTTP requests and downloads go there
	Echo     netip.AddrPort // and, when set, its UDP echo requests
	Duration time.Duration  // how long the attack lasts
	Short    time.Duration  // the duration in the short variant (Topology.Shorten)
	Settle   time.Duration  // how long to wait, after it, for the table to empty again
}

// attackFields are the step fields of flood and hostile steps.
var attackFields = []string{"protocol", "to", "sources", "legit", "web", "echo", "duration", "short", "settle"}

// attack decodes the attack parameters of a flood or hostile step.
func (d *dec) attack(n *yaml.Node, f map[string]*yaml.Node, kind FaultKind) *Attack {
	if kind != FaultFlood && kind != FaultHostile {
		for _, k := range attackFields {
			if f[k] != nil {
				d.errf(f[k], "%s is for flood and hostile steps, not %s", k, kind)
			}
		}
		return nil
	}
	a := &Attack{
		Legit:    d.str(d.need(n, f, "legit", string(kind)), "legit"),
		Web:      d.addrPort(d.need(n, f, "web", string(kind)), "web"),
		Duration: d.duration(d.need(n, f, "duration", string(kind)), "duration", maxDuration),
		Short:    d.duration(f["short"], "short", maxDuration),
		Settle:   d.duration(f["settle"], "settle", maxScenario),
	}
	if f["echo"] != nil {
		a.Echo = d.addrPort(f["echo"], "echo")
	}
	if f["to"] != nil {
		a.To = d.addrPort(f["to"], "to")
	}
	if kind == FaultFlood {
		a.Proto = d.oneOf(d.need(n, f, "protocol", "flood"), "protocol", "syn", "udp", "icmp")
		a.To = d.addrPort(d.need(n, f, "to", "flood"), "to")
		a.Sources = d.prefix(d.need(n, f, "sources", "flood"), "sources")
	}
	return a
}

// Shorten turns the topology into its short variant: every attack step
// lasts its short duration (when it has one) and does not wait for the
// table to empty. TestShippedSites runs the shipped sites this way.
func (t *Topology) Shorten() {
	for _, st := range t.Scenario {
		if f := st.Fault; f != nil && f.Attack != nil && f.Attack.Short > 0 {
			f.Attack.Duration, f.Attack.Settle = f.Attack.Short, 0
		}
	}
}

// lvsdSample is what the attack steps read from lvsd's /metrics.
type lvsdSample struct {
	Entries, Max, HalfOpen, Pressure float64
	Evicted, Full, Created           float64
	RSS                              float64
	RX, RingDrops                    float64
	RingDropsBy                      map[string]float64 // by interface
	Drops, Verdicts                  map[string]float64
}

// scrape reads node's lvsd /metrics over its control socket.
func (s *Site) scrape(ctx context.Context, node string) (map[string]*dto.MetricFamily, error) {
	sock := filepath.Join(s.Dir, node+".sock")
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		}}}
	defer hc.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://lvsd/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("reading lvsd's /metrics on %s: %w", node, err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("parsing lvsd's /metrics on %s: %w", node, err)
	}
	return fams, nil
}

// metricSum is the sum of every series of a gauge or counter family.
func metricSum(fams map[string]*dto.MetricFamily, name string) (v float64) {
	if f := fams[name]; f != nil {
		for _, m := range f.Metric {
			switch {
			case m.Gauge != nil:
				v += m.Gauge.GetValue()
			case m.Counter != nil:
				v += m.Counter.GetValue()
			}
		}
	}
	return v
}

// sample scrapes node's lvsd /metrics over its control socket.
func (s *Site) sample(ctx context.Context, node string) (lvsdSample, error) {
	fams, err := s.scrape(ctx, node)
	if err != nil {
		return lvsdSample{}, err
	}
	one := func(name string) float64 { return metricSum(fams, name) }
	by := func(name, label string) map[string]float64 {
		out := map[string]float64{}
		if f := fams[name]; f != nil {
			for _, m := range f.Metric {
				for _, l := range m.Label {
					if l.GetName() == label && m.Counter != nil {
						out[l.GetValue()] += m.Counter.GetValue()
					}
				}
			}
		}
		return out
	}
	return lvsdSample{
		Entries: one("lvs_connection_table_entries"), Max: one("lvs_connection_table_max_entries"),
		HalfOpen: one("lvs_connection_table_half_open_entries"), Pressure: one("lvs_connection_table_pressure"),
		Evicted: one("lvs_connection_table_evicted_total"), Full: one("lvs_connection_table_full_total"),
		Created: one("lvs_connection_table_created_total"), RSS: one("process_resident_memory_bytes"),
		RX: one("lvs_dataplane_rx_frames_total"), RingDrops: one("lvs_dataplane_ring_drops_total"),
		RingDropsBy: by("lvs_dataplane_ring_drops_total", "interface"),
		Drops:       by("lvs_packets_dropped_total", "reason"), Verdicts: by("lvs_dataplane_frames_total", "verdict"),
	}, nil
}

// deltas lists the counters of a label that grew between two samples.
func deltas(before, after map[string]float64) string {
	var out []string
	for k, v := range after {
		if d := v - before[k]; d > 0 {
			out = append(out, fmt.Sprintf("%s +%.0f", k, d))
		}
	}
	slices.Sort(out)
	if len(out) == 0 {
		return "none"
	}
	return strings.Join(out, ", ")
}

// legitResult is what the legitimate client saw during an attack.
type legitResult struct {
	requests, answered int
	// udpRequests and udpAnswered are the UDP echo requests among them.
	udpRequests, udpAnswered int
	downloads, intact        int
	corrupt                  int
	failures                 map[string]int
	// failedAt counts the failed requests by the second (after the
	// legitimate traffic started) in which they ended: where a loss sits
	// in the flood tells its cause.
	failedAt map[int]int
}

// legit runs the legitimate client's traffic for d: HTTP GETs at 20/s and
// two checksummed downloads paced to stay in flight the whole time, plus
// UDP echo requests when echo is set. The downloads take about 80% of d.
func (s *Site) legit(ctx context.Context, a *Attack, d time.Duration) legitResult {
	t0 := time.Now()
	// The rate spreads count requests over d; the duration bound is later,
	// so that it never cuts a request in flight (that would be the
	// harness's failure, not lvsd's).
	count := max(int(d.Seconds()*20), 1)
	size := int64(8 << 20)
	steps := []*Traffic{
		{Kind: TrafficHTTP, From: []string{a.Legit}, To: a.Web, Path: "/", Count: count, Concurrency: 2, Rate: 20,
			Duration: d + 15*time.Second, Timeout: 10 * time.Second},
		{Kind: TrafficDownload, From: []string{a.Legit}, To: a.Web, Size: size, Count: 2, Concurrency: 2,
			Pace: max(int64(float64(size)/(0.8*d.Seconds())), 64<<10), Duration: d + time.Minute, Timeout: d + time.Minute},
	}
	if a.Echo.IsValid() {
		steps = append(steps, &Traffic{Kind: TrafficUDP, From: []string{a.Legit}, To: a.Echo, Count: count, Concurrency: 2,
			Rate: 20, Duration: d + 15*time.Second, Timeout: 3 * time.Second})
	}
	res := make([]*TrafficResult, len(steps))
	var wg sync.WaitGroup
	for i, tr := range steps {
		wg.Go(func() { res[i] = s.runTraffic(ctx, tr, t0) })
	}
	wg.Wait()
	out := legitResult{failures: map[string]int{}, failedAt: map[int]int{}}
	for i, r := range res {
		for k, v := range r.Failures {
			out.failures[string(steps[i].Kind)+": "+k] += v
		}
		for _, ev := range r.Events {
			if ev.Err != "" {
				out.failedAt[int(ev.T/time.Second)]++
			}
		}
		if steps[i].Kind == TrafficDownload {
			out.downloads, out.intact, out.corrupt = r.Requests+r.NotRun, r.OK-r.Corrupt, r.Corrupt
			continue
		}
		out.requests += r.Requests
		out.answered += r.OK
		if steps[i].Kind == TrafficUDP {
			out.udpRequests, out.udpAnswered = r.Requests, r.OK
		}
	}
	return out
}

// check appends the failures of the legitimate traffic to errs: fewer
// than 99% answered, or a download lost or corrupt.
func (l legitResult) check(errs []string) []string {
	if l.requests == 0 || float64(l.answered) < 0.99*float64(l.requests) {
		errs = append(errs, fmt.Sprintf("legitimate requests answered %d/%d (< 99%%; failures %v)", l.answered, l.requests, l.failures))
	}
	if l.intact != l.downloads || l.corrupt > 0 {
		errs = append(errs, fmt.Sprintf("downloads intact %d/%d (%d corrupt; failures %v)", l.intact, l.downloads, l.corrupt, l.failures))
	}
	return errs
}

func (l legitResult) String() string {
	s := fmt.Sprintf("legitimate requests answered %d/%d (%.2f%%), downloads intact %d/%d",
		l.answered, l.requests, 100*float64(l.answered)/float64(max(l.requests, 1)), l.intact, l.downloads)
	if len(l.failedAt) > 0 {
		var at []string
		for _, sec := range slices.Sorted(maps.Keys(l.failedAt)) {
			at = append(at, fmt.Sprintf("+%ds %d", sec, l.failedAt[sec]))
		}
		s += " (failures ended at " + strings.Join(at, ", ") + ")"
	}
	return s
}

// peaks follows lvsd's table and RSS once a second until stop is closed.
type peaks struct {
	entries, halfOpen, rss, pressure float64
	errs                             int
	// ringDrops is lvsd's ring drops counter at each second of the watch
	// (NaN where the sample failed), to set beside legitResult.failedAt.
	ringDrops []float64
}

func (s *Site) watch(ctx context.Context, node string, stop <-chan struct{}) *peaks {
	p := &peaks{}
	t0 := time.Now()
	for {
		sec := int(time.Since(t0) / time.Second)
		for len(p.ringDrops) <= sec {
			p.ringDrops = append(p.ringDrops, math.NaN())
		}
		if sm, err := s.sample(ctx, node); err != nil {
			p.errs++
		} else {
			p.ringDrops[sec] = sm.RingDrops
			p.entries, p.halfOpen = max(p.entries, sm.Entries), max(p.halfOpen, sm.HalfOpen)
			p.rss, p.pressure = max(p.rss, sm.RSS), max(p.pressure, sm.Pressure)
		}
		select {
		case <-stop:
			return p
		case <-ctx.Done():
			return p
		case <-time.After(time.Second):
		}
	}
}

// expiry is how long the entries a flood creates live in lvsd's table
// without secure_tcp (conntrack's defaults, the kernel's): SYN_RECV and
// SYNACK for a SYN flood, the UDP and ICMP timeouts.
func expiry(proto string) time.Duration {
	switch proto {
	case "syn":
		return conntrack.DefaultTCPTimeouts[conntrack.StateSynAck]
	case "udp":
		return conntrack.DefaultUDPTimeout
	}
	return conntrack.DefaultICMPTimeout
}

// mib formats bytes in MiB.
func mib(b float64) string { return fmt.Sprintf("%.0f MiB", b/(1<<20)) }

// routerNode returns the name of the active router and its lvsd process
// check, or an error when the site has no lvsd.
func (s *Site) lvsdNode() (string, error) {
	if s.Router == nil || s.Router.Name() != "lvsd" || s.Topo.Site == nil {
		return "", fmt.Errorf("attack steps measure lvsd: the router here is not lvsd")
	}
	r := activeRouter(s.Topo, s.Topo.Site.Config)
	if r == nil {
		return "", fmt.Errorf("no active router")
	}
	return r.Name, nil
}

func (s *Site) lvsdAlive(node string) error {
	if p := s.Router.Process(node); p == nil || p.Exited() {
		return fmt.Errorf("lvsd on %s is no longer running", node)
	}
	return nil
}

// flood is the flood step: f.Target sends a.Proto frames from random
// addresses of a.Sources to a.To through its default gateway for
// a.Duration, as fast as it can, while a.Legit requests and downloads.
func (s *Site) flood(ctx context.Context, f *Fault) (string, error) {
	a := f.Attack
	rn, err := s.lvsdNode()
	if err != nil {
		return "", err
	}
	ns, err := s.node(f.Target)
	if err != nil {
		return "", err
	}
	tn := s.Topo.Node(f.Target)
	var gw netip.Addr
	for _, r := range tn.Routes {
		if r.Default {
			gw = r.Via
		}
	}
	ifName := tn.Interfaces[0].Name
	srcMAC, err := s.macOf(f.Target, ifName)
	if err != nil {
		return "", err
	}
	dstMAC, err := s.macOfAddr(gw)
	if err != nil {
		return "", fmt.Errorf("flood from %s: the default gateway: %w", f.Target, err)
	}
	base, err := s.sample(ctx, rn)
	if err != nil {
		return "", err
	}
	udp0 := s.udpLoss(a.Legit)
	stop := make(chan struct{})
	var pk *peaks
	var wg sync.WaitGroup
	wg.Go(func() { pk = s.watch(ctx, rn, stop) })
	var lg legitResult
	wg.Go(func() { lg = s.legit(ctx, a, a.Duration) })
	time.Sleep(time.Second) // the downloads are in flight before the flood starts
	g := &floodGen{proto: a.Proto, src: a.Sources, dst: a.To, srcMAC: srcMAC, dstMAC: dstMAC,
		rng: rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 17))}
	var st genStats
	genErr := ns.Do(func() error {
		var err error
		st, err = g.run(ctx, ifName, a.Duration-time.Second, maxFloodFrames)
		return err
	})
	end, endErr := s.sample(ctx, rn)
	close(stop)
	wg.Wait()
	udp1 := s.udpLoss(a.Legit)
	if genErr != nil {
		return "", genErr
	}
	var errs []string
	if err := s.lvsdAlive(rn); err != nil {
		return "", err
	}
	if endErr != nil {
		errs = append(errs, endErr.Error())
	}
	errs = lg.check(errs)
	limit := base.Max
	if pk.entries > limit {
		errs = append(errs, fmt.Sprintf("connection table peaked at %.0f entries, above its limit %.0f", pk.entries, limit))
	}
	rssBound := base.RSS + limit*conntrack.BytesPerEntry*2
	if pk.rss > rssBound {
		errs = append(errs, fmt.Sprintf("RSS peaked at %s, above baseline + 2×(max entries × %d bytes) = %s",
			mib(pk.rss), conntrack.BytesPerEntry, mib(rssBound)))
	}
	// After the flood: the table drains as the flood's entries expire.
	leftover := base.Entries + float64(lg.requests+lg.downloads) + 16
	after, t1 := end, time.Now()
	for a.Settle > 0 && after.Entries > leftover && time.Since(t1) < a.Settle {
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(2 * time.Second):
		}
		if sm, err := s.sample(ctx, rn); err == nil {
			after = sm
		}
	}
	settled := time.Since(t1)
	afterNote := fmt.Sprintf("%.0f entries and RSS %s %.0fs after", after.Entries, mib(after.RSS), settled.Seconds())
	switch {
	case a.Settle == 0:
		afterNote += " (short variant: expiry not awaited)"
	case after.Entries > leftover && a.Settle >= expiry(a.Proto):
		errs = append(errs, fmt.Sprintf("table not back near baseline %.0fs after the flood: %.0f entries (baseline %.0f, legitimate flows %d)",
			settled.Seconds(), after.Entries, base.Entries, lg.requests+lg.downloads))
	case after.Entries > leftover:
		afterNote += fmt.Sprintf(" (settle %v < the entries' timeout %v: not judged)", a.Settle, expiry(a.Proto))
	}
	if a.Settle > 0 && after.RSS > base.RSS+nearRSS(base.RSS) {
		errs = append(errs, fmt.Sprintf("RSS not back near baseline: %s after, baseline %s (near: + %s)",
			mib(after.RSS), mib(base.RSS), mib(nearRSS(base.RSS))))
	}
	secs := st.elapsed.Seconds()
	outside := "outside lvsd, UDP datagrams the kernel dropped for a full socket buffer: " + udp1.since(udp0)
	if a.Echo.IsValid() {
		outside = s.lossPlaces(a.Legit, base, end, udp0, udp1).where(lg.udpRequests-lg.udpAnswered, lg.udpRequests)
	}
	detail := fmt.Sprintf("%s flood from %s (%v) to %v for %.0fs: %d frames sent (%.0f/s, %d refused by the socket); "+
		"lvsd received %.0f frames (ring drops +%.0f: %s); %s; table: baseline %.0f, peak %.0f (half-open %.0f) of %.0f, "+
		"pressure %s, drop_entry evictions +%.0f, refused full +%.0f, created +%.0f; RSS baseline %s, peak %s; after: %s; drops: %s; %s",
		strings.ToUpper(a.Proto), f.Target, a.Sources, a.To, secs, st.sent, float64(st.sent)/max(secs, 1e-9), st.refused,
		end.RX-base.RX, end.RingDrops-base.RingDrops, deltas(base.RingDropsBy, end.RingDropsBy), lg, base.Entries, pk.entries, pk.halfOpen, limit,
		map[bool]string{true: "reached (secure_tcp on)", false: "not reached"}[pk.pressure > 0],
		end.Evicted-base.Evicted, end.Full-base.Full, end.Created-base.Created,
		mib(base.RSS), mib(pk.rss), afterNote, deltas(base.Drops, end.Drops), outside)
	s.logf("        %s", detail)
	s.logf("        lvsd ring drops per second of the step: %s", perSecond(pk.ringDrops))
	if len(errs) > 0 {
		return "", fmt.Errorf("%s — %s", strings.Join(errs, "; "), detail)
	}
	return detail, nil
}

// perSecond formats the growth of a counter sampled once a second.
func perSecond(c []float64) string {
	var parts []string
	for i := 1; i < len(c); i++ {
		if d := c[i] - c[i-1]; !math.IsNaN(d) {
			parts = append(parts, fmt.Sprintf("+%ds %.0f", i, d))
		}
	}
	return strings.Join(parts, ", ")
}

// udpCounts is, per node, the UDP datagrams its kernel dropped on receipt
// because the socket's buffer was full (/proc/net/snmp Udp RcvbufErrors).
type udpCounts map[string]uint64

// udpLoss reads udpCounts on the real servers and the legitimate client:
// where a UDP request or its echo is lost outside lvsd under a flood (the
// real servers' echo sockets take the flood too). A node it cannot read
// is left out.
func (s *Site) udpLoss(legit string) udpCounts {
	out := udpCounts{}
	for _, n := range s.Topo.Nodes {
		if n.Role != RoleReal && n.Name != legit {
			continue
		}
		ns, err := s.node(n.Name)
		if err != nil {
			continue
		}
		ns.Do(func() error {
			b, err := os.ReadFile("/proc/thread-self/net/snmp")
			if err != nil {
				return err
			}
			if v, ok := snmpField(string(b), "Udp:", "RcvbufErrors"); ok {
				out[n.Name] = v
			}
			return nil
		})
	}
	return out
}

// since formats the growth of each node's count from before, "none" when
// nothing grew.
func (c udpCounts) since(before udpCounts) string {
	var parts []string
	for _, n := range slices.Sorted(maps.Keys(c)) {
		if d := c[n] - before[n]; d > 0 {
			parts = append(parts, fmt.Sprintf("%s +%d", n, d))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// lossPlaces are the counters that grew during a flood step at each place
// a legitimate UDP echo request or its answer can be lost: the director
// (lvsd's drops by reason and its receive rings' drops), the real servers'
// echo sockets and the legitimate client's sockets (full receive
// buffers). Each also counts flood datagrams: a place whose counters did
// not grow lost none of the legitimate ones, one whose counters grew may
// have.
type lossPlaces struct {
	drops     map[string]float64 // lvsd's drops that grew, by reason
	ringDrops float64            // lvsd's receive-ring drops
	servers   map[string]uint64  // each real server's full-socket drops
	client    uint64             // the legitimate client's full-socket drops
}

// lossPlaces reads the growth of the counters of lossPlaces between the
// step's samples.
func (s *Site) lossPlaces(legit string, base, end lvsdSample, u0, u1 udpCounts) lossPlaces {
	p := lossPlaces{drops: map[string]float64{}, servers: map[string]uint64{},
		ringDrops: end.RingDrops - base.RingDrops, client: u1[legit] - u0[legit]}
	for k, v := range end.Drops {
		if d := v - base.Drops[k]; d > 0 {
			p.drops[k] = d
		}
	}
	for n, v := range u1 {
		if n != legit {
			p.servers[n] = v - u0[n]
		}
	}
	return p
}

// where says where the lost of sent legitimate UDP requests were lost:
// every place's counters, then the places whose counters grew.
func (p lossPlaces) where(lost, sent int) string {
	var drops []string
	var dropped float64
	for _, k := range slices.Sorted(maps.Keys(p.drops)) {
		drops = append(drops, fmt.Sprintf("%s +%.0f", k, p.drops[k]))
		dropped += p.drops[k]
	}
	var servers []string
	var full uint64
	for _, n := range slices.Sorted(maps.Keys(p.servers)) {
		servers = append(servers, fmt.Sprintf("%s +%d", n, p.servers[n]))
		full += p.servers[n]
	}
	s := fmt.Sprintf("legitimate UDP requests lost %d of %d; where, by the counters of each place: "+
		"director (lvsd) drops %s, its receive rings' drops +%.0f; real servers' full echo sockets %s; client's full sockets +%d — ",
		lost, sent, cmp.Or(strings.Join(drops, ", "), "none"), p.ringDrops, strings.Join(servers, ", "), p.client)
	var grew, quiet []string
	for _, pl := range []struct {
		name string
		n    float64
	}{{"the director", dropped + p.ringDrops}, {"the real servers", float64(full)}, {"the client", float64(p.client)}} {
		if pl.n > 0 {
			grew = append(grew, pl.name)
		} else {
			quiet = append(quiet, pl.name)
		}
	}
	switch {
	case lost <= 0:
		return s + "none lost"
	case len(grew) == 0:
		return s + fmt.Sprintf("none of these grew: the %d lost were lost where nothing counts (a link, the gateway), not at the director or a socket", lost)
	case len(quiet) == 0:
		return s + fmt.Sprintf("all of these grew (flood datagrams among them): the %d lost were lost at %s, or where nothing counts", lost, strings.Join(grew, ", "))
	}
	return s + fmt.Sprintf("they grew at %s (flood datagrams among them), not at %s: the %d lost were lost at %s, or where nothing counts (a link, the gateway)",
		strings.Join(grew, " and "), strings.Join(quiet, " or "), lost, strings.Join(grew, " or "))
}

// snmpField returns field of the /proc/net/snmp table whose lines start
// with prefix (a header line of names, then one of values).
func snmpField(text, prefix, field string) (uint64, bool) {
	var names []string
	for line := range strings.Lines(text) {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != prefix {
			continue
		}
		if names == nil {
			names = f
			continue
		}
		if i := slices.Index(names, field); i > 0 && i < len(f) {
			v, err := strconv.ParseUint(f[i], 10, 64)
			return v, err == nil
		}
		return 0, false
	}
	return 0, false
}

// nearRSS is how far above its baseline lvsd's RSS may stay after an
// attack and still count as back near it: 64 MiB or half the baseline.
func nearRSS(base float64) float64 { return max(64<<20, base/2) }

// macOf returns the MAC of node's interface.
func (s *Site) macOf(node, iface string) (net.HardwareAddr, error) {
	ns, err := s.node(node)
	if err != nil {
		return nil, err
	}
	l, err := ns.Netlink().LinkByName(iface)
	if err != nil {
		return nil, fmt.Errorf("finding %s on %s: %w", iface, node, err)
	}
	return l.Attrs().HardwareAddr, nil
}

// macOfAddr returns the MAC of the interface holding addr.
func (s *Site) macOfAddr(addr netip.Addr) (net.HardwareAddr, error) {
	for _, n := range s.Topo.Nodes {
		for _, i := range n.Interfaces {
			for _, p := range i.Addresses {
				if p.Addr() == addr {
					return s.macOf(n.Name, i.Name)
				}
			}
		}
	}
	return nil, fmt.Errorf("no node has the address %v", addr)
}

// maxFloodFrames bounds a flood by count as well as by time.
const maxFloodFrames = 200_000_000

// floodGen writes flood frames: Ethernet, IPv4 from a random address of
// src, and a TCP SYN, a UDP datagram or an ICMP echo request to dst, every
// checksum final.
type floodGen struct {
	proto          string
	src            netip.Prefix
	dst            netip.AddrPort
	srcMAC, dstMAC net.HardwareAddr
	rng            *rand.Rand
}

const floodFrameLen = 14 + 20 + 20 + 18 // room for the largest (UDP/ICMP with 18 bytes of payload)

// put writes one frame with a fresh random source into b and returns its length.
func (g *floodGen) put(b []byte) int {
	src := g.src.Addr().As4()
	host := g.rng.Uint32() & (^uint32(0) >> g.src.Bits())
	binary.BigEndian.PutUint32(src[:], binary.BigEndian.Uint32(src[:])|host)
	dst := g.dst.Addr().As4()
	var l4 []byte
	var proto uint8
	switch g.proto {
	case "syn":
		proto, l4 = unix.IPPROTO_TCP, b[34:54]
		clear(l4)
		binary.BigEndian.PutUint16(l4[0:], uint16(1024+g.rng.IntN(64512)))
		binary.BigEndian.PutUint16(l4[2:], g.dst.Port())
		binary.BigEndian.PutUint32(l4[4:], g.rng.Uint32())
		l4[12], l4[13] = 5<<4, 0x02 // data offset 5, SYN
		binary.BigEndian.PutUint16(l4[14:], 64240)
		binary.BigEndian.PutUint16(l4[16:], frame.Checksum(l4, frame.PseudoHeaderSum(src, dst, proto, len(l4))))
	case "udp":
		proto, l4 = unix.IPPROTO_UDP, b[34:floodFrameLen]
		binary.BigEndian.PutUint16(l4[0:], uint16(1024+g.rng.IntN(64512)))
		binary.BigEndian.PutUint16(l4[2:], g.dst.Port())
		binary.BigEndian.PutUint16(l4[4:], uint16(len(l4)))
		copy(l4[8:], "lvssim-flood")
		l4[6], l4[7] = 0, 0
		c := frame.Checksum(l4, frame.PseudoHeaderSum(src, dst, proto, len(l4)))
		if c == 0 {
			c = 0xffff
		}
		binary.BigEndian.PutUint16(l4[6:], c)
	default: // icmp
		proto, l4 = unix.IPPROTO_ICMP, b[34:floodFrameLen]
		clear(l4)
		l4[0] = 8 // echo request
		binary.BigEndian.PutUint32(l4[4:], g.rng.Uint32())
		copy(l4[8:], "lvssim-flood")
		binary.BigEndian.PutUint16(l4[2:], frame.Checksum(l4, 0))
	}
	putEthIPv4(b, g.dstMAC, g.srcMAC, src, dst, proto, len(l4), uint16(g.rng.Uint32()), 64)
	return 34 + len(l4)
}

// putEthIPv4 writes the Ethernet and IPv4 headers (20 bytes, DF clear)
// for an l4Len-byte payload, with a correct header checksum.
func putEthIPv4(b []byte, dstMAC, srcMAC net.HardwareAddr, src, dst [4]byte, proto uint8, l4Len int, id uint16, ttl uint8) {
	copy(b[0:6], dstMAC)
	copy(b[6:12], srcMAC)
	binary.BigEndian.PutUint16(b[12:], 0x0800)
	ip := b[14:34]
	ip[0], ip[1] = 0x45, 0
	binary.BigEndian.PutUint16(ip[2:], uint16(20+l4Len))
	binary.BigEndian.PutUint16(ip[4:], id)
	ip[6], ip[7], ip[8], ip[9] = 0, 0, ttl, proto
	ip[10], ip[11] = 0, 0
	copy(ip[12:16], src[:])
	copy(ip[16:20], dst[:])
	binary.BigEndian.PutUint16(ip[10:], frame.Checksum(ip, 0))
}

// genStats counts what a generator sent.
type genStats struct {
	sent, refused uint64
	elapsed       time.Duration
}

// genBatch is how many frames one sendmmsg carries.
const genBatch = 64

// openPacketSocket opens an AF_PACKET socket bound to iface of the calling
// thread's namespace, bypassing the qdisc.
func openPacketSocket(iface string) (int, error) {
	ifi, err := net.InterfaceByName(iface)
	if err != nil {
		return -1, err
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("opening a packet socket: %w", err)
	}
	unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_QDISC_BYPASS, 1)
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Ifindex: ifi.Index}); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("binding the packet socket to %s: %w", iface, err)
	}
	return fd, nil
}

// run sends frames on iface (of the calling thread's namespace) for d or
// limit frames, whichever comes first, in batches of genBatch.
func (g *floodGen) run(ctx context.Context, iface string, d time.Duration, limit uint64) (genStats, error) {
	fd, err := openPacketSocket(iface)
	if err != nil {
		return genStats{}, err
	}
	defer unix.Close(fd)
	return sendFrames(ctx, fd, d, limit, g.put)
}

// sendFrames sends the frames put writes, genBatch per sendmmsg, for d or
// limit frames.
func sendFrames(ctx context.Context, fd int, d time.Duration, limit uint64, put func([]byte) int) (genStats, error) {
	bufs := make([][]byte, genBatch)
	iovs := make([]unix.Iovec, genBatch)
	msgs := make([]unix.Mmsghdr, genBatch)
	for i := range bufs {
		bufs[i] = make([]byte, 2048)
		iovs[i].Base = &bufs[i][0]
		msgs[i].Hdr.Iov = &iovs[i]
		msgs[i].Hdr.SetIovlen(1)
	}
	var st genStats
	start := time.Now()
	end := start.Add(d)
	for st.sent+st.refused < limit && ctx.Err() == nil {
		if time.Now().After(end) {
			break
		}
		for i := range bufs {
			iovs[i].SetLen(put(bufs[i]))
		}
		n, _, e := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(fd), uintptr(unsafe.Pointer(&msgs[0])), genBatch, 0, 0, 0)
		switch {
		case e == unix.ENOBUFS || e == unix.EAGAIN:
			st.refused += genBatch
		case e != 0:
			return st, fmt.Errorf("sending flood frames: %w", e)
		default:
			st.sent += uint64(n)
			st.refused += uint64(genBatch - int(n))
		}
	}
	st.elapsed = time.Since(start)
	return st, nil
}
