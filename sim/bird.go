package sim

import (
	"fmt"
	"net/netip"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"lvs/config"
)

// ServiceBIRD is BIRD 2 on a gateway node: the upstream router of an ECMP
// site (lvs.cf redundancy = ecmp). It peers by BGP with every router node
// of the gateway's segments, as lvs.cf's bgp block describes the session
// from the directors' side, and installs the VIPs' host routes into the
// gateway's kernel as one multipath route (set the sysctl
// net.ipv4.fib_multipath_hash_policy = 1 on the node to hash on ports).
const ServiceBIRD ServiceKind = "bird"

// birdArgv writes the gateway's bird.conf and returns the command that
// runs BIRD in the foreground with its control socket in the run dir.
func (s *Site) birdArgv(n *Node) ([]string, error) {
	if _, err := exec.LookPath("bird"); err != nil {
		return nil, fmt.Errorf("bird is not installed (apt-get install bird2)")
	}
	if s.Topo.Site == nil || s.Topo.Site.Config.BGP == nil {
		return nil, fmt.Errorf("bird on %s: lvs.cf has no bgp block to peer with", n.Name)
	}
	conf, err := birdConf(n, s.Topo.Routers(), s.Topo.Site.Config.BGP)
	if err != nil {
		return nil, err
	}
	path, err := s.writeFile(filepath.Join("conf", n.Name+"-bird.conf"), []byte(conf))
	if err != nil {
		return nil, err
	}
	return []string{"bird", "-f", "-c", path, "-s", filepath.Join(s.Dir, n.Name+"-bird.ctl"),
		"-P", filepath.Join(s.Dir, n.Name+"-bird.pid")}, nil
}

// birdConf is the configuration of BIRD on gateway gw: one session per
// router node on a segment of gw, with the AS numbers, hold time and
// TCP-MD5 password of the bgp block's peer whose address is gw's.
func birdConf(gw *Node, routers []*Node, b *config.BGP) (string, error) {
	var own []netip.Addr
	segs := map[string]bool{}
	for _, i := range gw.Interfaces {
		segs[i.Segment] = true
		for _, a := range i.Addresses {
			own = append(own, a.Addr())
		}
	}
	var peer *config.BGPPeer
	for _, p := range b.Peers {
		if slices.Contains(own, p.Address) {
			peer = p
		}
	}
	if peer == nil {
		return "", fmt.Errorf("bird on %s: no peer of lvs.cf's bgp block has one of its addresses %v", gw.Name, own)
	}
	var w strings.Builder
	fmt.Fprintf(&w, "router id %v;\nlog stderr all;\nprotocol device { scan time 2; }\n", peer.Address)
	w.WriteString("protocol kernel {\n\tmerge paths yes;\n\tipv4 { import none; export all; };\n}\n")
	fmt.Fprintf(&w, "template bgp director {\n\tlocal %v as %d;\n\tconnect retry time 1;\n", peer.Address, peer.RemoteAS)
	if peer.HoldTime > 0 {
		fmt.Fprintf(&w, "\thold time %d;\n", int(peer.HoldTime.Seconds()))
	}
	if peer.Password != "" {
		fmt.Fprintf(&w, "\tpassword %q;\n", peer.Password)
	}
	if peer.Multihop > 0 {
		fmt.Fprintf(&w, "\tmultihop %d;\n", peer.Multihop)
	}
	w.WriteString("\tipv4 { import where net.len = 32; export none; };\n}\n")
	n := 0
	for _, r := range routers {
		for _, i := range r.Interfaces {
			if !segs[i.Segment] {
				continue
			}
			for _, a := range i.Addresses {
				n++
				fmt.Fprintf(&w, "protocol bgp %s from director { neighbor %v as %d; }\n", birdName(r.Name, n), a.Addr(), b.LocalAS)
			}
		}
	}
	if n == 0 {
		return "", fmt.Errorf("bird on %s: no router node shares a segment with it", gw.Name)
	}
	return w.String(), nil
}

// birdName is a BIRD protocol name for a router node: letters, digits and
// underscores.
func birdName(node string, n int) string {
	b := []byte(node)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			b[i] = '_'
		}
	}
	return fmt.Sprintf("lvs_%s_%d", b, n)
}

// onlyBIRD reports whether BIRD is the only service of n (what a gateway
// may run).
func onlyBIRD(n *Node) bool {
	for _, s := range n.Services {
		if s.Kind != ServiceBIRD {
			return false
		}
	}
	return true
}

// isECMP reports whether t's lvs.cf runs every director active
// (redundancy = ecmp), which allows more than two routers.
func isECMP(t *Topology) bool {
	return t.Site != nil && t.Site.Config != nil && t.Site.Config.Redundancy == config.RedundancyECMP
}
