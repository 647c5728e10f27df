package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"lvs/admin"
	"lvs/admin/api"
	"lvs/admin/metrics"
	"lvs/conntrack"
	"lvs/dataplane"
	"lvs/ha"
	"lvs/health"
)

type conntrackInfo = conntrack.Info

// connStatus turns a connection entry into the API's form.
func connStatus(in conntrack.Info) admin.ConnStatus {
	proto := in.Proto().String()
	state := conntrack.StateName(in.Proto(), in.State())
	if in.Flags()&conntrack.FlagTemplate != 0 {
		state = "NONE"
	}
	return admin.ConnStatus{Proto: proto, Client: in.Client(), Virtual: in.Virtual(), Dest: in.Real(),
		State: state, Expires: in.Expires}
}

var _ metrics.MetricsSource = (*lvsd)(nil)

// Dataplane implements metrics.MetricsSource: the workers' counters, summed.
func (d *lvsd) Dataplane() admin.DataplaneStats {
	d.pp.mu.RLock() // a reload may be adding a port's workers (ports.go)
	defer d.pp.mu.RUnlock()
	cs := []*dataplane.Counters{&d.adopted} // the control loop's adoptions
	for _, w := range d.workers {
		cs = append(cs, &w.C)
	}
	s := dataplane.Sum(cs...)
	out := admin.DataplaneStats{RX: s.RX, TX: s.TX, Verdicts: map[string]uint64{}, Drops: map[string]uint64{},
		Mode: d.mode, FastInstalls: s.FastInstalls, FastErrors: s.FastErrors, FastEvicted: s.FastEvicted}
	if fp := d.fastStats.Load(); fp != nil {
		out.FastWithdrawErrors = fp.WithdrawFailures()
		out.FlowMap, out.FlowMap6 = fp.Capacity()
		out.FlowMapResizes = d.flowResizes.Load()
	}
	for v, n := range s.Verdicts {
		out.Verdicts[dataplane.Verdict(v).String()] = n
	}
	for r, n := range s.Drops {
		out.Drops[dataplane.DropReason(r).String()] = n
	}
	if len(d.rings) > 0 {
		out.RingFrames, out.RingDrops = map[string]uint64{}, map[string]uint64{}
		for _, l := range d.rings {
			st := l.Stats()
			out.RingFrames[l.Interface()] += st.Packets
			out.RingDrops[l.Interface()] += st.Drops
		}
	}
	return out
}

// Conntrack implements metrics.MetricsSource.
func (d *lvsd) Conntrack() admin.ConntrackStats {
	s := d.ct.Stats()
	return admin.ConntrackStats{Entries: s.Entries, MaxEntries: s.MaxEntries, HalfOpen: s.HalfOpen,
		Pressure: s.Pressure, Created: s.Created, Expired: s.Expired, Evicted: s.Evicted, Full: s.Full,
		Resched: s.Resched, NoDest: s.NoDest, Dropped: s.Dropped, Invalid: s.Invalid}
}

// HA implements metrics.MetricsSource; empty for a router without a backup.
func (d *lvsd) HA() admin.HAStatus {
	if d.ha == nil {
		return admin.HAStatus{Dataplane: d.mode, BGP: d.BGPStatus()}
	}
	s := d.ha.Status()
	out := admin.HAStatus{Dataplane: d.mode, Role: s.Role.String(), State: s.State.String(), PeerAlive: s.Peer.Alive,
		Takeovers: s.Takeovers, Releases: s.Releases, Since: s.Since, Refused: s.Refused,
		Serial: s.Serial, PeerSerial: s.Peer.Serial, SerialMismatch: s.Peer.SerialMismatch,
		ConnSync: d.syncNow.Load().status(time.Now()), ConfigSync: d.csync.status(), BGP: d.BGPStatus()}
	if s.Faults != 0 {
		out.Faults = []string{s.Faults.String()}
	}
	for _, c := range s.Channels {
		if !out.Peer.IsValid() || c.Channel == ha.ChannelPublic {
			out.Peer = c.Peer
		}
		out.Channels = append(out.Channels, admin.HeartbeatChannel{Channel: c.Channel.String(), Peer: c.Peer, Age: c.Age})
	}
	return out
}

// Health implements metrics.MetricsSource.
func (d *lvsd) Health() []admin.HealthStatus {
	var out []admin.HealthStatus
	for _, s := range d.health.Status() {
		out = append(out, admin.HealthStatus{Virtual: s.Virtual, Server: s.Server, Sorry: s.Sorry, Addr: s.Addr,
			State: s.State.String(), Weight: s.Weight, Since: s.Since,
			Checks: s.Checks, Failures: s.Failures, Latency: s.Latency})
	}
	return out
}

// handler is what both listeners serve: the JSON API lvsadm uses, plus
// /metrics, the event stream and the /proc/net/ip_vs texts.
func (d *lvsd) handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", api.NewServer(d).Handler())
	mux.Handle("GET "+api.PathMetrics, metrics.MetricsHandler(d.metrics))
	mux.Handle("GET "+api.PathEvents, &api.EventsHandler{Log: d.events})
	mux.Handle("GET "+api.PathProcPrefix+"{name}", api.ProcHandler(d))
	mux.HandleFunc("POST "+PathReload, d.serveReload)
	return mux
}

// PathReload re-reads lvs.cf, as SIGHUP does, and answers with the result:
// 200 and the number of services, or 409 and why the file was refused.
const PathReload = "/v1/reload"

func (d *lvsd) serveReload(w http.ResponseWriter, r *http.Request) {
	var err error
	if e := d.do(r.Context(), func() { err = d.reload() }); e != nil {
		http.Error(w, e.Error(), http.StatusServiceUnavailable)
		return
	}
	if err != nil {
		http.Error(w, "reload refused; the running configuration stays: "+err.Error(), http.StatusConflict)
		return
	}
	fmt.Fprintf(w, "configuration reloaded: %d services\n", len(d.dp.State().Table.Services()))
}

// serve runs one listener until ctx ends. The control socket serves the
// API (it is protected by its mode, 0600); the TCP admin listener (web)
// serves the web tool too, behind the --admin-allow list, and runs the
// tool's chart sampler for as long as it serves.
func (d *lvsd) serve(ctx context.Context, l net.Listener, isWeb bool) error {
	h := d.handler()
	done := make(chan struct{})
	if isWeb {
		tool := d.newWebTool()
		h = d.webHandler(tool)
		go func() {
			defer close(done)
			tool.Run(ctx)
		}()
	} else {
		close(done)
	}
	defer func() { <-done }()
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		shut, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(shut)
	}()
	if err := srv.Serve(l); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// eventLine publishes a keepalived-style line for a health event: RS lines
// for real servers coming and going.
func (d *lvsd) eventLine(ev health.Event) {
	if ev.Sorry || ev.Action.Kind == health.ActSetWeight {
		return
	}
	v := d.cfg.Virtual(ev.Virtual)
	if v == nil {
		return
	}
	va := api.VirtualAddr{Proto: v.Protocol.String(), Addr: v.Address, Port: v.Port, FWMark: v.FWMark}
	d.events.Publish(api.RSLine(ev.Addr, va, ev.State.IsUp()))
	// keepalived's quorum lines: the service goes DOWN when its last real
	// server fails and UP when the first one returns.
	up := d.upCount(v.Name)
	if was, ok := d.vsUp[v.Name]; !ok || was != (up > 0) {
		if ok {
			d.events.Publish(api.VSLine(va, up > 0))
		}
		d.vsUp[v.Name] = up > 0
	}
}

// upCount is how many real servers of virtual name are in the table.
func (d *lvsd) upCount(name string) int {
	n := 0
	for k, s := range d.hv.srv {
		if k.Virtual == name && s.in {
			n++
		}
	}
	return n
}

// roleLine publishes the router's state when it changed.
func (d *lvsd) roleLine() {
	if d.ha == nil {
		return
	}
	if line := api.RoleLine("lvs", d.HA()); line != d.lastRole {
		d.lastRole = line
		d.events.Publish(line)
	}
}
