package sim

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"lvs/config"
)

// Feature is something a scenario needs from whoever plays the LVS router.
type Feature string

// Router features, each with the issue that brings it to lvsd.
const (
	FeatureNAT         Feature = "nat"            // NAT forwarding (issue 6)
	FeatureDirect      Feature = "direct-routing" // DR forwarding (issue 7)
	FeatureTunnel      Feature = "tunnel"         // IPIP tunnelling to real servers (issue 7)
	FeatureFWMark      Feature = "fwmark"         // firewall-mark services (issue 7)
	FeaturePersistence Feature = "persistence"    // persistent services (issue 4)
	FeatureFTP         Feature = "ftp"            // FTP across LVS (issue 7)
	FeatureHealth      Feature = "health-checks"  // nanny removes failed real servers (issue 8)
	FeatureFailover    Feature = "failover"       // pulse heartbeat and takeover (issue 9)
	FeatureIPv6        Feature = "ipv6"           // IPv6 virtual services (issue 18)
)

// featureIssue is the issue that brings each feature to lvsd.
var featureIssue = map[Feature]int{
	FeatureNAT: 6, FeatureDirect: 7, FeatureTunnel: 7, FeatureFWMark: 7, FeaturePersistence: 4,
	FeatureFTP: 7, FeatureHealth: 8, FeatureFailover: 9, FeatureIPv6: 18,
}

// AllFeatures lists every feature a step may require.
func AllFeatures() []Feature {
	return []Feature{FeatureNAT, FeatureDirect, FeatureTunnel, FeatureFWMark, FeaturePersistence, FeatureFTP, FeatureHealth, FeatureFailover, FeatureIPv6}
}

func featureList() string {
	var s []string
	for _, f := range AllFeatures() {
		s = append(s, string(f))
	}
	return strings.Join(s, ", ")
}

// lvsdFeatures is what the real lvsd does today; `router: auto` uses lvsd
// for every site that needs no more than this, and the kernel stand-in
// otherwise.
var lvsdFeatures = []Feature{FeatureNAT, FeatureDirect, FeatureTunnel, FeatureFWMark, FeaturePersistence, FeatureFTP, FeatureHealth, FeatureFailover, FeatureIPv6}

// kernelFeatures is what the kernel stand-in can honestly do with nftables
// (which cannot encapsulate: no tunnelling).
var kernelFeatures = []Feature{FeatureNAT, FeatureDirect, FeatureFWMark, FeaturePersistence, FeatureFTP}

// needs returns the reason a missing feature skips a step:
// "needs failover (issue 9)".
func needs(f Feature) string {
	return fmt.Sprintf("needs %s in lvsd (issue %d)", f, featureIssue[f])
}

// RouterImpl plays the LVS router role of a site: it makes the active router
// forward to the real servers of lvs.cf. Start and Stop are called once per
// site, from the scenario goroutine.
type RouterImpl interface {
	// Name is "lvsd" or "kernel".
	Name() string
	// Label says in one line who forwards, for the report.
	Label() string
	// Supports reports whether the implementation can do f.
	Supports(f Feature) bool
	// Start configures every router node of s.
	Start(ctx context.Context, s *Site) error
	// Process returns the router process on node, or nil when the role has
	// no process of its own (the kernel stand-in).
	Process(node string) *Proc
	// Restart starts the router process on node again after a kill.
	Restart(ctx context.Context, s *Site, node string) (*Proc, error)
}

// siteFeatures are the features the site's lvs.cf itself needs to carry traffic.
func siteFeatures(c *config.Config) []Feature {
	if c == nil {
		return nil
	}
	var fs []Feature
	add := func(f Feature) {
		if !slices.Contains(fs, f) {
			fs = append(fs, f)
		}
	}
	switch c.Network {
	case config.NetworkNAT:
		add(FeatureNAT)
	case config.NetworkTunnel:
		add(FeatureTunnel)
	default:
		add(FeatureDirect)
	}
	for _, v := range c.ActiveVirtuals() {
		if v.FWMark != 0 {
			add(FeatureFWMark)
		}
		if v.Persistent > 0 {
			add(FeaturePersistence)
		}
		if v.IsIPv6() {
			add(FeatureIPv6)
		}
	}
	return fs
}

// chooseRouter picks the implementation: the one asked for, or for "auto"
// lvsd when it is built and does everything the site needs, else the kernel.
func chooseRouter(impl string, c *config.Config, lvsd string) (RouterImpl, error) {
	real := &lvsdRouter{bin: lvsd, procs: map[string]*Proc{}}
	switch impl {
	case "kernel":
		return &kernelRouter{}, nil
	case "lvsd":
		if lvsd == "" {
			return nil, fmt.Errorf("router impl lvsd: no lvsd binary (build it with make build, or give --bin DIR)")
		}
		return real, nil
	}
	if lvsd != "" && len(siteFeatures(c)) > 0 && !slices.ContainsFunc(siteFeatures(c), func(f Feature) bool { return !real.Supports(f) }) {
		return real, nil
	}
	return &kernelRouter{}, nil
}

// lvsdRouter runs the real lvsd in each router namespace:
// `ip netns exec NS lvsd -f lvs.cf`, tracked by PID.
type lvsdRouter struct {
	bin   string
	procs map[string]*Proc // router node → lvsd
}

func (r *lvsdRouter) Name() string              { return "lvsd" }
func (r *lvsdRouter) Label() string             { return "lvsd (the real binary, " + r.bin + ")" }
func (r *lvsdRouter) Supports(f Feature) bool   { return slices.Contains(lvsdFeatures, f) }
func (r *lvsdRouter) Process(node string) *Proc { return r.procs[node] }

func (r *lvsdRouter) Start(ctx context.Context, s *Site) error {
	for _, n := range s.Topo.Routers() {
		if _, err := r.Restart(ctx, s, n.Name); err != nil {
			return err
		}
	}
	return nil
}

// Restart starts `lvsd -f lvs.cf` on node, tracked by PID.
func (r *lvsdRouter) Restart(ctx context.Context, s *Site, node string) (*Proc, error) {
	// Each router gets its own control socket in the run directory: the
	// routers share the host's file system, not its /run/lvsd.
	// Each has its own copy of lvs.cf (kept across restarts), so that
	// config sync between them is real.
	cf := s.routerFile(node)
	if _, err := os.Stat(cf); err != nil {
		text, err := os.ReadFile(filepath.Join(s.Dir, "lvs.cf"))
		if err == nil {
			err = os.WriteFile(cf, text, 0o644)
		}
		if err != nil {
			return nil, fmt.Errorf("copying lvs.cf for %s: %w", node, err)
		}
	}
	p, err := s.startProc(ctx, node, "router", r.bin, "-f", cf, "--socket", filepath.Join(s.Dir, node+".sock"))
	if err != nil {
		return nil, fmt.Errorf("starting lvsd on %s: %w", node, err)
	}
	r.procs[node] = p
	// An lvsd that cannot run says so at once; one that can answers on its
	// control socket once it is up (its eBPF flow map alone can take a
	// second to allocate), and the scenario's first step may ask it.
	sock := filepath.Join(s.Dir, node+".sock")
	start := time.Now()
	for {
		select {
		case <-p.Done():
			log, _ := os.ReadFile(p.Log)
			return nil, fmt.Errorf("lvsd on %s exited at start (%v): %s", node, p.Err(), strings.TrimSpace(string(log)))
		case <-time.After(100 * time.Millisecond):
		}
		if time.Since(start) < time.Second {
			continue // the first second watches for an early exit
		}
		if c, err := net.DialTimeout("unix", sock, time.Second); err == nil {
			c.Close()
			return p, nil
		}
		if time.Since(start) > startWait {
			return nil, fmt.Errorf("lvsd on %s: no control socket %s after %v (its log: %s)", node, sock, startWait, p.Log)
		}
	}
}

// startWait bounds how long Restart waits for a starting lvsd's control
// socket.
const startWait = 20 * time.Second
