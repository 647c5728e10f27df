package admin

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"time"
)

// BGPStatus is the state of lvsd's BGP speaker (lvs.cf's bgp block): its
// sessions and, per VIP, whether it is announced and why. It is part of
// HAStatus, so lvsadm -L --daemon prints it.
type BGPStatus struct {
	Peers    []BGPPeerStatus `json:"peers"`
	VIPs     []BGPVIPStatus  `json:"vips"`
	Draining bool            `json:"draining,omitempty"` // lvsadm drained this director
}

// BGPPeerStatus is one BGP session.
type BGPPeerStatus struct {
	Name    string     `json:"name"`
	Address netip.Addr `json:"address"`
	State   string     `json:"state"` // idle, connect, active, opensent, openconfirm, established
	Up      bool       `json:"up"`
	Since   time.Time  `json:"since,omitzero"`
	Reason  string     `json:"reason,omitempty"` // why the last session ended
}

// BGPVIPStatus is one VIP's host route.
type BGPVIPStatus struct {
	VIP       netip.Addr `json:"vip"`
	Announced bool       `json:"announced"`
	Reason    string     `json:"reason"` // serving, no real server up, not forwarding, drained, shutting down
	Since     time.Time  `json:"since,omitzero"`
}

// writeBGP prints b under lvsadm -L --daemon.
func writeBGP(bw *bufio.Writer, b *BGPStatus, now time.Time) {
	if b == nil {
		return
	}
	if b.Draining {
		fmt.Fprintln(bw, "bgp: drained (every VIP withdrawn; lvsadm drain --undrain announces them again)")
	}
	for _, p := range b.Peers {
		fmt.Fprintf(bw, "bgp peer %s (%v): %s", p.Name, p.Address, p.State)
		if !p.Since.IsZero() {
			fmt.Fprintf(bw, " for %.0fs", now.Sub(p.Since).Seconds())
		}
		if !p.Up && p.Reason != "" {
			fmt.Fprintf(bw, ", last end: %s", p.Reason)
		}
		fmt.Fprintln(bw)
	}
	for _, v := range b.VIPs {
		verb := "withdrawn"
		if v.Announced {
			verb = "announced"
		}
		fmt.Fprintf(bw, "bgp route %v/32: %s (%s)", v.VIP, verb, v.Reason)
		if !v.Since.IsZero() {
			fmt.Fprintf(bw, " for %.0fs", now.Sub(v.Since).Seconds())
		}
		fmt.Fprintln(bw)
	}
}

// PathDrain is POST: drain this director ({"drain": true}: withdraw every
// VIP from the BGP peers while lvsd keeps forwarding what still comes) or
// undrain it ({"drain": false}). Served when the Daemon is a Drainer.
const PathDrain = "/v1/drain"

// DrainRequest is the body of POST /v1/drain.
type DrainRequest struct {
	Drain bool `json:"drain"`
}

// Drainer is the optional part of a Daemon that announces its VIPs by BGP.
type Drainer interface {
	Drain(ctx context.Context, on bool) error
}

// drainRoutes adds POST /v1/drain to s when its Daemon is a Drainer.
func (s *Server) drainRoutes() {
	dr, ok := s.d.(Drainer)
	if !ok {
		return
	}
	s.mux.HandleFunc("POST "+PathDrain, func(w http.ResponseWriter, r *http.Request) {
		var req DrainRequest
		if !decode(w, r, &req) {
			return
		}
		if err := dr.Drain(r.Context(), req.Drain); err != nil {
			replyError(w, &APIError{Status: http.StatusConflict, Code: CodeFailed, Index: -1, Message: err.Error()})
			return
		}
		reply(w, struct{}{})
	})
}

// Drain drains (on) or undrains this director's BGP announcements.
func (c *Client) Drain(ctx context.Context, on bool) error {
	return c.do(ctx, http.MethodPost, PathDrain, DrainRequest{Drain: on}, nil)
}

// DrainCommand is `lvsadm drain [--socket PATH] [--undrain]`: it drains this
// director (withdraws every VIP from its BGP peers; lvsd keeps forwarding
// what still comes) or, with --undrain, announces the VIPs again. It
// returns the exit status: 0, 1 when lvsd refuses, 2 for a bad command line.
func DrainCommand(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("lvsadm drain", flag.ContinueOnError)
	fs.SetOutput(stderr)
	socket := fs.String("socket", DefaultSocket, "lvsd's control socket")
	undrain := fs.Bool("undrain", false, "announce the VIPs again")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "lvsadm drain: unexpected arguments %q\n", fs.Args())
		return 2
	}
	if err := NewClient(*socket).Drain(ctx, !*undrain); err != nil {
		fmt.Fprintf(stderr, "lvsadm drain: %v\n", err)
		return 1
	}
	if *undrain {
		fmt.Fprintln(stdout, "undrained: the VIPs are announced again while they can serve")
	} else {
		fmt.Fprintln(stdout, "drained: every VIP withdrawn from the BGP peers")
	}
	return 0
}
