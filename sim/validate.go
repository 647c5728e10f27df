package sim

import (
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"time"

	"lvs/config"
)

var nameRE = regexp.MustCompile(`^[a-z][a-z0-9]{0,11}$`)
var ifnameRE = regexp.MustCompile(`^[a-z][a-z0-9]{0,9}$`)

// validate checks cross references and fills defaults. Errors go to d.
func validate(d *dec, t *Topology) {
	at := func(line int, f string, a ...any) {
		d.errs = append(d.errs, &TopologyError{File: d.file, Line: line, Msg: fmt.Sprintf(f, a...)})
	}
	segs := map[string]*Segment{}
	for _, s := range t.Segments {
		if !nameRE.MatchString(s.Name) {
			at(s.Line, "segment name %q: expected 1-12 lower-case letters and digits, starting with a letter", s.Name)
		}
		if segs[s.Name] != nil {
			at(s.Line, "segment %q defined twice (first at line %d)", s.Name, segs[s.Name].Line)
		}
		segs[s.Name] = s
	}
	nodes := map[string]*Node{}
	for _, n := range t.Nodes {
		if !nameRE.MatchString(n.Name) || n.Name == "sw" {
			at(n.Line, "node name %q: expected 1-12 lower-case letters and digits, starting with a letter (not \"sw\")", n.Name)
		}
		if nodes[n.Name] != nil {
			at(n.Line, "node %q defined twice (first at line %d)", n.Name, nodes[n.Name].Line)
		}
		nodes[n.Name] = n
		validateNode(at, n, segs)
	}
	if len(t.Routers()) > 0 && t.LVSConf == nil {
		at(0, "routers need an lvs.cf: give lvs_cf (inline text) or lvs_cf_file")
	}
	if t.LVSConf != nil {
		site, err := loadLVSConf(t.LVSConfName, t.LVSConf)
		switch {
		case err != nil && t.lvsConfLine > 0:
			// Inline lvs.cf: point at the topology file's own lines.
			for _, e := range config.Errors(err) {
				at(t.lvsConfLine+e.Line, "lvs_cf: %s", e.Msg)
			}
		case err != nil:
			d.errs = append(d.errs, fmt.Errorf("lvs_cf_file: %w", err))
		}
		t.Site = site
	}
	if len(t.Routers()) > 2 && !isECMP(t) {
		at(0, "expected at most two routers (primary and backup; more with lvs.cf's redundancy = ecmp), got %d", len(t.Routers()))
	}
	validateScenario(at, t, nodes)
}

func validateNode(at func(int, string, ...any), n *Node, segs map[string]*Segment) {
	names := map[string]bool{}
	for _, i := range n.Interfaces {
		if !ifnameRE.MatchString(i.Name) || i.Name == "lo" {
			at(i.Line, "interface name %q: expected a name like eth0 (1-10 lower-case letters and digits)", i.Name)
		}
		if names[i.Name] {
			at(i.Line, "node %s: interface %q given twice", n.Name, i.Name)
		}
		names[i.Name] = true
		s := segs[i.Segment]
		if s == nil {
			at(i.Line, "interface %s of node %s: unknown segment %q (segments: %s)", i.Name, n.Name, i.Segment, keys(segs))
			continue
		}
		for _, a := range i.Addresses {
			if a.IsValid() && !s.Contains(a.Addr()) {
				at(i.Line, "address %v of %s/%s is outside segment %s (%v)", a, n.Name, i.Name, s.Name, s.subnets())
			}
		}
	}
	for _, r := range n.Routes {
		if r.Via.IsValid() && !n.onLink(r.Via, segs) {
			at(r.Line, "route via %v: not on any segment node %s is connected to", r.Via, n.Name)
		}
	}
	if (len(n.IPIP) > 0 || len(n.Redirect) > 0) && n.Role != RoleReal {
		at(n.Line, "node %s: ipip and redirect are for real servers, not for a %s", n.Name, n.Role)
	}
	if len(n.Services) > 0 && n.Role != RoleReal && n.Role != RoleShared && !(n.Role == RoleGateway && onlyBIRD(n)) {
		at(n.Line, "node %s: services run on real or shared nodes (bird on a gateway), not on a %s", n.Name, n.Role)
	}
	for _, s := range n.Services {
		if s.Kind == ServiceResponder && s.HTTP == 0 && s.HTTPS == 0 && s.TCP == 0 && s.UDP == 0 {
			at(s.Line, "responder: expected at least one of http, https, tcp, udp ports")
		}
		if s.Kind == ServiceVsftpd && (s.PasvMin != 0 || s.PasvMax != 0) && (s.PasvMin == 0 || s.PasvMax < s.PasvMin) {
			at(s.Line, "vsftpd: expected pasv_min_port ≤ pasv_max_port (the guide uses 10000 and 20000), or neither")
		}
	}
}

// onLink reports whether a is inside a subnet n has an interface on.
func (n *Node) onLink(a netip.Addr, segs map[string]*Segment) bool {
	for _, i := range n.Interfaces {
		if s := segs[i.Segment]; s != nil && s.Contains(a) {
			return true
		}
	}
	return false
}

func validateScenario(at func(int, string, ...any), t *Topology, nodes map[string]*Node) {
	steps := map[string]*Step{}
	for i, s := range t.Scenario {
		if s.Name == "" {
			s.Name = fmt.Sprintf("step%d", i+1)
		}
		if steps[s.Name] != nil {
			at(s.Line, "step name %q used twice (first at line %d)", s.Name, steps[s.Name].Line)
		}
		for _, a := range s.After {
			if o := steps[a]; o == nil || o.Assert != nil {
				at(s.Line, "after %q: expected the name of an earlier traffic or fault step", a)
			}
		}
		steps[s.Name] = s
		for _, r := range s.Requires {
			if !slices.Contains(AllFeatures(), Feature(r)) {
				at(s.Line, "requires: unknown feature %q, expected some of: %s", r, featureList())
			}
		}
		switch {
		case s.Traffic != nil:
			validateTraffic(at, s, nodes)
		case s.Fault != nil:
			validateFault(at, s, nodes)
		}
	}
	for _, s := range t.Scenario {
		if a := s.Assert; a != nil {
			for _, name := range append([]string{a.Of}, a.Also...) {
				if o := steps[name]; o == nil || o.Traffic == nil {
					at(s.Line, "assert of %q: expected the name of a traffic step", name)
				}
			}
			if len(a.Also) > 0 && a.Kind != AssertPersistence {
				at(s.Line, "%s assert: expected one step in of (several only for persistence)", a.Kind)
			}
			if a.Kind == AssertTakeover {
				if f := steps[a.After]; f == nil || f.Fault == nil {
					at(s.Line, "takeover assert: after %q: expected the name of a fault step", a.After)
				}
				if a.Within == 0 {
					at(s.Line, "takeover assert: expected within (a duration like 20s)")
				}
			}
			if a.Kind == AssertServedBy {
				if n := nodes[a.Server]; n == nil || n.Role != RoleReal {
					at(s.Line, "served-by assert: server %q: expected the name of a real server node", a.Server)
				}
			}
			if a.Kind == AssertShare && a.Tolerance == 0 {
				a.Tolerance = 0.05
			}
			if a.Kind == AssertBypass && a.Tolerance == 0 {
				a.Tolerance = 0.1
			}
		}
	}
}

func validateTraffic(at func(int, string, ...any), s *Step, nodes map[string]*Node) {
	tr := s.Traffic
	for _, f := range tr.From {
		// A real server may be the source of its own outbound traffic
		// (masqueraded by the router, issue 7), not of FTP sessions.
		if n := nodes[f]; n == nil || n.Role != RoleClient && (n.Role != RoleReal || tr.Kind == TrafficFTP) {
			at(s.Line, "traffic from %q: expected the name of a client node (or a real server, for its own outbound traffic)", f)
		}
	}
	if tr.Kind == TrafficFTP && tr.Mode == "" {
		tr.Mode = "passive"
	}
	if tr.Count == 0 {
		tr.Count = 100
	}
	if tr.Concurrency == 0 {
		tr.Concurrency = 1
	}
	if tr.Duration == 0 {
		tr.Duration = 60 * time.Second
	}
	if tr.Timeout == 0 {
		tr.Timeout = 5 * time.Second
	}
	if tr.Path == "" {
		tr.Path = "/"
	}
	if tr.Client == "" {
		tr.Client = "builtin"
		if tr.Kind == TrafficFTP {
			tr.Client = "lftp"
		}
	}
	if (tr.Kind == TrafficUDP || tr.Kind == TrafficHTTP) && tr.Size != 0 {
		at(s.Line, "%s traffic: size is for download, ftp and tcp (an echo stream of that size)", tr.Kind)
	}
	if tr.Kind == TrafficDownload && tr.Size == 0 {
		at(s.Line, "%s traffic: expected size (like 20MB)", tr.Kind)
	}
	if tr.Kind == TrafficFTP && tr.Size != 0 && tr.Size != ftpFileSize {
		at(s.Line, "ftp traffic: every FTP real server serves data.bin of %s; leave size out", humanBytes(ftpFileSize))
	}
	if tr.Kind == TrafficFTP && tr.Client != "lftp" {
		at(s.Line, "ftp traffic: expected client lftp, got %q", tr.Client)
	}
	if tr.Client == "curl" && tr.Kind != TrafficHTTP && tr.Kind != TrafficDownload {
		at(s.Line, "client curl: only for http and download traffic")
	}
	validateHost(at, s, nodes) // ipv6.go
}

func validateFault(at func(int, string, ...any), s *Step, nodes map[string]*Node) {
	f := s.Fault
	if f.Kind == FaultDropHeartbeats || f.Kind == FaultPassHeartbeats || f.Kind == FaultCheckRoles || f.Kind == FaultCheckDirectors {
		return
	}
	if f.Kind == FaultEditConfig && f.Target == "" {
		f.Target = "primary"
	}
	n := nodes[f.Target]
	if n == nil && f.Target != "primary" && f.Target != "backup" {
		at(s.Line, "fault target %q: expected a node name, primary or backup", f.Target)
		return
	}
	switch f.Kind {
	case FaultLinkDown, FaultLinkUp, FaultARPOwners:
		if f.Interface == "" {
			at(s.Line, "%s: expected interface (like eth0)", f.Kind)
		} else if n != nil && !slices.ContainsFunc(n.Interfaces, func(i *Interface) bool { return i.Name == f.Interface }) {
			at(s.Line, "%s: node %s has no interface %q", f.Kind, n.Name, f.Interface)
		}
	case FaultKill, FaultStop, FaultCont, FaultStopService, FaultStartService:
		if f.Process == "" {
			f.Process = "router"
			if n != nil && n.Role != RoleRouter {
				f.Process = "responder"
			}
		}
		if !slices.Contains([]string{"router", "responder", "nginx", "vsftpd"}, f.Process) {
			at(s.Line, "%s: process %q: expected router, responder, nginx or vsftpd", f.Kind, f.Process)
		}
	}
}

func keys[V any](m map[string]V) string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return strings.Join(ks, ", ")
}

// Routers returns the router nodes in file order (primary first by convention;
// the roles themselves come from lvs.cf primary/backup).
func (t *Topology) Routers() []*Node {
	var out []*Node
	for _, n := range t.Nodes {
		if n.Role == RoleRouter {
			out = append(out, n)
		}
	}
	return out
}

// Node returns the node named name, or nil.
func (t *Topology) Node(name string) *Node {
	for _, n := range t.Nodes {
		if n.Name == name {
			return n
		}
	}
	return nil
}
