package daemon

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"lvs/dataplane"
	"lvs/dataplane/afpacket"
	"lvs/dataplane/tap"
)

// A LinkFactory opens the packet links of lvsd's Go workers on one
// interface: a receive link per worker (the workers share the interface's
// frames) and transmit-only links. A backend is one package and one entry
// in linkBackends.
type LinkFactory interface {
	// Receive opens one worker's receive link on iface; it also
	// transmits (a worker answers ARP and pings on its own link).
	Receive(iface string, o LinkOptions) (dataplane.MetaLink, error)
	// Transmit opens a link that only sends on iface.
	Transmit(iface string) (dataplane.MetaLink, error)
}

// LinkOptions tune a receive link.
type LinkOptions struct {
	// BusyPoll is how long a reader polls an empty link before it sleeps.
	BusyPoll time.Duration
	// Shared says that other workers read the same interface: frames are
	// spread over them by flow hash. One worker alone reads every frame.
	Shared bool
}

// linkBackends are the backends --link names.
var linkBackends = map[string]LinkFactory{
	"afpacket": afpacketLinks{},
	"tap":      &tapLinks{open: map[string]*tap.Link{}},
}

// linkBackend returns the factory of opts.
func linkBackend(opts Options) (LinkFactory, string, error) {
	if opts.Links != nil {
		return opts.Links, "custom", nil
	}
	name := opts.Link
	if name == "" {
		name = "afpacket"
	}
	f, ok := linkBackends[name]
	if !ok {
		names := make([]string, 0, len(linkBackends))
		for n := range linkBackends {
			names = append(names, n)
		}
		slices.Sort(names)
		return nil, "", fmt.Errorf("unknown link backend %q (want one of %s)", name, strings.Join(names, ", "))
	}
	return f, name, nil
}

// afpacketLinks opens AF_PACKET links: per worker, TPACKET_V2 rings of
// sockets bound to IPv4, IPv6 and ARP (delivered after tc ingress, so the
// frames the eBPF fast path forwards never reach them, and after the
// kernel guard, whose frames they take by their mark) with fanout by flow
// hash, and sendmmsg for transmit.
type afpacketLinks struct{}

// receiveProtocols are the EtherTypes lvsd's workers handle.
var receiveProtocols = []uint16{0x0800, 0x86dd, 0x0806} // ETH_P_IP, ETH_P_IPV6, ETH_P_ARP

func (afpacketLinks) Receive(iface string, o LinkOptions) (dataplane.MetaLink, error) {
	fanout := afpacket.FanoutNone // one reader: no flow hash to compute per frame
	if o.Shared {
		fanout = afpacket.FanoutHash
	}
	return afpacket.Open(afpacket.Config{Interface: iface, Fanout: fanout, Ring: afpacket.RingV2,
		BusyPoll: o.BusyPoll, Protocols: receiveProtocols, AcceptMark: GuardMark})
}

func (afpacketLinks) Transmit(iface string) (dataplane.MetaLink, error) {
	return afpacket.Open(afpacket.Config{Interface: iface, TXOnly: true})
}

// tapLinks runs lvsd on TAP devices named as lvs.cf's interfaces (created
// beforehand with `ip tuntap add mode tap`, or by the first open): the
// frames the kernel sends out of a device reach lvsd, and lvsd's frames
// arrive in the kernel as if received on it. One worker per device: every
// link on a device shares its one file descriptor.
type tapLinks struct {
	mu   sync.Mutex // guards open
	open map[string]*tap.Link
}

func (t *tapLinks) Receive(iface string, o LinkOptions) (dataplane.MetaLink, error) {
	return t.device(iface)
}

func (t *tapLinks) Transmit(iface string) (dataplane.MetaLink, error) { return t.device(iface) }

func (t *tapLinks) device(iface string) (dataplane.MetaLink, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if l, ok := t.open[iface]; ok {
		return l, nil
	}
	l, err := tap.Open(tap.Config{Name: iface, VNetHdr: true})
	if err != nil {
		return nil, fmt.Errorf("opening TAP device %s: %w", iface, err)
	}
	t.open[iface] = l
	return l, nil
}
