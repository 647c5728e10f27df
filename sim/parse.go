package sim

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Bounds that keep every scenario finite.
const (
	maxScenario = 10 * time.Minute // latest step start
	maxDuration = 5 * time.Minute  // longest traffic step
	maxCount    = 100000           // most requests in one step
	maxConc     = 64               // most concurrent requests in one step
)

// ParseTopology reads a topology file. name is used in error messages and to
// resolve lvs_cf_file relative to the file; an lvs_cf_file of an embedded
// topology is read from the embedded set. Every problem is reported, each as
// FILE:LINE: what was expected.
func ParseTopology(name string, data []byte) (*Topology, error) {
	d := &dec{file: name}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, &TopologyError{File: name, Msg: fmt.Sprintf("not valid YAML: %v", err)}
	}
	if len(doc.Content) == 0 {
		return nil, &TopologyError{File: name, Msg: "empty file, expected a topology (segments, nodes, scenario)"}
	}
	root := doc.Content[0]
	f := d.fields(root, "the topology", "name", "description", "guide", "router", "lvs_cf", "lvs_cf_file",
		"segments", "nodes", "scenario")
	t := &Topology{File: name, Router: RouterSpec{Impl: "auto"}}
	t.Name = d.str(d.need(root, f, "name", "the topology"), "name")
	t.Description = d.str(f["description"], "description")
	t.Guide = d.str(f["guide"], "guide")
	if r, ok := f["router"]; ok {
		rf := d.fields(r, "router", "impl")
		if v := rf["impl"]; v != nil {
			t.Router = RouterSpec{Impl: d.oneOf(v, "router.impl", "auto", "lvsd", "kernel"), Line: v.Line}
		}
	}
	d.lvsConf(t, name, f)
	for _, s := range d.list(d.need(root, f, "segments", "the topology"), "segments") {
		t.Segments = append(t.Segments, d.segment(s))
	}
	for _, n := range d.list(d.need(root, f, "nodes", "the topology"), "nodes") {
		t.Nodes = append(t.Nodes, d.node(n))
	}
	for _, s := range d.list(f["scenario"], "scenario") {
		t.Scenario = append(t.Scenario, d.step(s))
	}
	if err := d.err(); err != nil {
		return nil, err
	}
	validate(d, t)
	return t, d.err()
}

// lvsConf takes the routers' lvs.cf inline or from a file next to the topology.
func (d *dec) lvsConf(t *Topology, name string, f map[string]*yaml.Node) {
	inline, file := f["lvs_cf"], f["lvs_cf_file"]
	switch {
	case inline != nil && file != nil:
		d.errf(file, "give lvs_cf or lvs_cf_file, not both")
	case inline != nil:
		t.LVSConf = []byte(d.str(inline, "lvs_cf"))
		t.LVSConfName = fmt.Sprintf("%s:lvs_cf", name)
		t.lvsConfLine = inline.Line
	case file != nil:
		p := d.str(file, "lvs_cf_file")
		if !filepath.IsAbs(p) {
			p = filepath.Join(filepath.Dir(name), p)
		}
		b, err := readTopologyFile(p)
		if err != nil {
			d.errf(file, "reading lvs_cf_file: %v", err)
		}
		t.LVSConf, t.LVSConfName = b, p
	}
}

// readTopologyFile reads embedded files (embedded:NAME) or files on disk.
func readTopologyFile(p string) ([]byte, error) {
	if rest, ok := strings.CutPrefix(p, embeddedPrefix); ok {
		return shipped.ReadFile("topologies/" + rest)
	}
	return os.ReadFile(p)
}

func (d *dec) segment(n *yaml.Node) *Segment {
	f := d.fields(n, "a segment", "name", "subnet", "subnet6")
	return &Segment{
		Name:    d.str(d.need(n, f, "name", "segment"), "segment name"),
		Subnet:  d.prefix(d.need(n, f, "subnet", "segment"), "segment subnet"),
		Subnet6: d.prefix(f["subnet6"], "segment subnet6"),
		Line:    n.Line,
	}
}

func (d *dec) node(n *yaml.Node) *Node {
	f := d.fields(n, "a node", "name", "role", "interfaces", "routes", "loopback", "ipip", "redirect",
		"sysctls", "forward", "services")
	nd := &Node{Line: n.Line, Sysctls: map[string]string{}}
	nd.Name = d.str(d.need(n, f, "name", "node"), "node name")
	nd.Role = Role(d.oneOf(d.need(n, f, "role", "node "+nd.Name), "role", "client", "gateway", "router", "real", "shared"))
	for _, i := range d.list(d.need(n, f, "interfaces", "node "+nd.Name), "interfaces") {
		nd.Interfaces = append(nd.Interfaces, d.iface(i))
	}
	for _, r := range d.list(f["routes"], "routes") {
		nd.Routes = append(nd.Routes, d.route(r))
	}
	for _, l := range d.list(f["loopback"], "loopback") {
		nd.Loopback = append(nd.Loopback, d.prefix(l, "loopback address"))
	}
	for _, l := range d.list(f["ipip"], "ipip") {
		nd.IPIP = append(nd.IPIP, d.prefix(l, "ipip address"))
	}
	for _, r := range d.list(f["redirect"], "redirect") {
		nd.Redirect = append(nd.Redirect, d.addrPort(r, "redirect"))
	}
	if s := f["sysctls"]; s != nil {
		if s.Kind != yaml.MappingNode {
			d.errf(s, "expected sysctls as a mapping like net.ipv4.conf.all.arp_ignore: 1, got %s", kindName(s))
		} else {
			for i := 0; i+1 < len(s.Content); i += 2 {
				k := s.Content[i]
				if !strings.HasPrefix(k.Value, "net.") {
					d.errf(k, "expected a net.* sysctl (only those are per namespace), got %q", k.Value)
				}
				nd.Sysctls[k.Value] = d.str(s.Content[i+1], "sysctl value")
			}
		}
	}
	nd.Forward = d.boolean(f["forward"], "forward")
	for _, s := range d.list(f["services"], "services") {
		nd.Services = append(nd.Services, d.service(s))
	}
	return nd
}

func (d *dec) iface(n *yaml.Node) *Interface {
	f := d.fields(n, "an interface", "name", "segment", "address", "addresses", "mtu")
	i := &Interface{Line: n.Line}
	i.Name = d.str(d.need(n, f, "name", "interface"), "interface name")
	i.Segment = d.str(d.need(n, f, "segment", "interface "+i.Name), "segment")
	if a := f["address"]; a != nil {
		i.Addresses = append(i.Addresses, d.prefix(a, "address"))
	}
	for _, a := range d.list(f["addresses"], "addresses") {
		i.Addresses = append(i.Addresses, d.prefix(a, "address"))
	}
	i.MTU = d.intIn(f["mtu"], "mtu", 1280, 65535)
	return i
}

func (d *dec) route(n *yaml.Node) *Route {
	f := d.fields(n, "a route", "to", "via")
	r := &Route{Line: n.Line}
	to := d.need(n, f, "to", "route")
	if d.str(to, "route to") == "default" {
		r.Default = true
	} else {
		r.To = d.prefix(to, "route to (or default)")
	}
	r.Via = d.addr(d.need(n, f, "via", "route"), "route via")
	return r
}

func (d *dec) service(n *yaml.Node) *Service {
	f := d.fields(n, "a service", "kind", "http", "https", "tcp", "udp", "delay", "backend", "port",
		"pasv_min_port", "pasv_max_port", "pasv_address")
	s := &Service{Line: n.Line}
	s.Kind = ServiceKind(d.oneOf(d.need(n, f, "kind", "service"), "service kind", "responder", "nginx", "vsftpd", "bird"))
	s.HTTP = d.port(f["http"], "http port")
	s.HTTPS = d.port(f["https"], "https port")
	s.TCP = d.port(f["tcp"], "tcp port")
	s.UDP = d.port(f["udp"], "udp port")
	s.Delay = d.duration(f["delay"], "delay", 10*time.Second)
	s.Backend = d.str(f["backend"], "backend")
	s.Port = d.port(f["port"], "port")
	s.PasvMin = d.port(f["pasv_min_port"], "pasv_min_port")
	s.PasvMax = d.port(f["pasv_max_port"], "pasv_max_port")
	s.PasvAddr = d.addr(f["pasv_address"], "pasv_address")
	return s
}

func (d *dec) step(n *yaml.Node) *Step {
	f := d.fields(n, "a scenario step", "name", "at", "after", "requires", "traffic", "fault", "assert")
	st := &Step{Line: n.Line}
	st.Name = d.str(f["name"], "step name")
	st.At = d.duration(f["at"], "at", maxScenario)
	st.After = d.strs(f["after"], "after")
	st.Requires = d.strs(f["requires"], "requires")
	kinds := 0
	if v := f["traffic"]; v != nil {
		st.Traffic, kinds = d.traffic(v), kinds+1
	}
	if v := f["fault"]; v != nil {
		st.Fault, kinds = d.fault(v), kinds+1
	}
	if v := f["assert"]; v != nil {
		st.Assert, kinds = d.assertion(v), kinds+1
	}
	if kinds != 1 {
		d.errf(n, "expected a step with exactly one of traffic, fault or assert, got %d", kinds)
	}
	return st
}

func (d *dec) traffic(n *yaml.Node) *Traffic {
	f := d.fields(n, "traffic", "kind", "from", "to", "path", "count", "concurrency", "rate", "size",
		"duration", "timeout", "expect", "client", "mode", "pace", "host", "resolve")
	t := &Traffic{}
	t.Kind = TrafficKind(d.oneOf(d.need(n, f, "kind", "traffic"), "traffic kind", "http", "download", "tcp", "udp", "ftp"))
	t.From = d.strs(d.need(n, f, "from", "traffic"), "from")
	t.To = d.addrPort(d.need(n, f, "to", "traffic"), "to")
	t.Path = d.str(f["path"], "path")
	t.Count = d.intIn(f["count"], "count", 1, maxCount)
	t.Concurrency = d.intIn(f["concurrency"], "concurrency", 1, maxConc)
	t.Rate = d.float(f["rate"], "rate", 0, 100000)
	t.Size = d.size(f["size"], "size")
	t.Pace = d.size(f["pace"], "pace")
	t.Duration = d.duration(f["duration"], "duration", maxDuration)
	t.Timeout = d.duration(f["timeout"], "timeout", time.Minute)
	t.Expect = d.str(f["expect"], "expect")
	t.Client = d.oneOf(f["client"], "client", "builtin", "curl", "lftp")
	t.Mode = d.oneOf(f["mode"], "mode", "passive", "active")
	t.Host = d.str(f["host"], "host")
	for _, a := range d.list(f["resolve"], "resolve") {
		t.Resolve = append(t.Resolve, d.addr(a, "resolve address"))
	}
	return t
}

func (d *dec) fault(n *yaml.Node) *Fault {
	f := d.fields(n, "a fault", append([]string{"kind", "target", "process", "interface"}, attackFields...)...)
	kinds := []string{"flood", "hostile", "kill", "stop", "cont", "link-down", "link-up", "drop-heartbeats", "pass-heartbeats",
		"stop-service", "start-service", "forge-heartbeat", "check-roles", "edit-config", "arp-owners", "check-directors", "drain", "undrain",
		"cut-servers", "mend-servers", "ping"}
	flt := &Fault{
		Kind:      FaultKind(d.oneOf(d.need(n, f, "kind", "fault"), "fault kind", kinds...)),
		Target:    d.str(f["target"], "target"),
		Process:   d.str(f["process"], "process"),
		Interface: d.str(f["interface"], "interface"),
	}
	if flt.Kind == FaultPing {
		flt.To = d.addr(d.need(n, f, "to", "ping"), "to")
		return flt
	}
	flt.Attack = d.attack(n, f, flt.Kind)
	return flt
}

func (d *dec) assertion(n *yaml.Node) *Assertion {
	f := d.fields(n, "an assertion", "kind", "of", "tolerance", "max", "within", "after", "virtual", "server")
	of := d.strs(d.need(n, f, "of", "assert"), "of")
	if len(of) == 0 {
		of = []string{""}
	}
	return &Assertion{
		Kind:      AssertKind(d.oneOf(d.need(n, f, "kind", "assert"), "assert kind", "share", "failures", "takeover", "intact", "persistence", "bypass", "served-by")),
		Of:        of[0],
		Also:      of[1:],
		Tolerance: d.float(f["tolerance"], "tolerance", 0, 1),
		Max:       d.intIn(f["max"], "max", 0, maxCount),
		Within:    d.duration(f["within"], "within", maxScenario),
		After:     d.str(f["after"], "after"),
		Virtual:   d.str(f["virtual"], "virtual"),
		Server:    d.str(f["server"], "server"),
	}
}

// LoadTopology reads a topology from a file path, or the shipped topology of
// that name ("nat", "direct", ...) when no such file exists, or the default
// (nat) when path is empty.
func LoadTopology(path string) (*Topology, error) {
	if path == "" {
		path = DefaultTopology
	}
	if b, err := os.ReadFile(path); err == nil {
		return ParseTopology(path, b)
	} else if strings.ContainsAny(path, "/.") {
		return nil, fmt.Errorf("reading topology: %w", err)
	}
	b, err := shipped.ReadFile("topologies/" + path + ".yaml")
	if err != nil {
		return nil, fmt.Errorf("no topology file %q and no shipped topology of that name (shipped: %s)",
			path, strings.Join(ShippedTopologies(), ", "))
	}
	return ParseTopology(embeddedPrefix+path+".yaml", bytes.Clone(b))
}
