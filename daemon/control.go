package daemon

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"lvs/admin"
	"lvs/admin/api"
	"lvs/admin/ipvsadm"
	"lvs/config"
	"lvs/ipvs"
)

// The control API (lvsadm, the simulator) reads through snapshots and
// edits through the management goroutine. An edit changes the in-memory
// lvs.cf model, not the table directly: the table is always the
// configuration plus the health checks' verdicts, so an lvsadm edit
// survives the next health event, gets health checks like any server, and
// `lvsadm --save-config` writes exactly what runs.

var _ api.Daemon = (*lvsd)(nil)

// do runs f on the management goroutine and waits for it. A panic in f is
// recovered there, logged once with its stack, counted in
// lvs_control_errors_total{kind="panic"} and returned as a *PanicError: no
// request on the control socket, the JSON API or the web tool can take lvsd
// down, and the dataplane, which never waits for this goroutine, keeps
// forwarding with the last published table.
func (d *lvsd) do(ctx context.Context, f func()) error {
	done := make(chan error, 1) // never blocks the management goroutine
	select {
	case d.reqs <- func() { done <- d.recovered(f) }:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// PanicError is the answer to a request whose handler panicked. The request
// is refused. lvsd keeps the state the handler left: for an edit that is the
// running configuration, because edits work on a copy until it is applied
// (applyConfig), and the dataplane keeps the table last published.
type PanicError struct {
	Value any    // what the handler panicked with
	Stack []byte // the management goroutine's stack at the panic
}

// Error names the fault without the stack (that goes to the log).
func (e *PanicError) Error() string {
	return fmt.Sprintf("lvsd refused the request after an internal error (a bug, logged with its stack): %v", e.Value)
}

// ErrInternal matches every *PanicError with errors.Is.
var ErrInternal = errors.New("internal error")

// Is makes errors.Is(err, ErrInternal) true for a *PanicError.
func (e *PanicError) Is(target error) bool { return target == ErrInternal }

// recovered runs f and turns a panic into a *PanicError, logged and counted
// here, at the goroutine that gives up on the request.
func (d *lvsd) recovered(f func()) (err error) {
	defer func() {
		v := recover()
		if v == nil {
			return
		}
		pe := &PanicError{Value: v, Stack: debug.Stack()}
		d.log.Error("control request refused after a panic; lvsd keeps running", "panic", fmt.Sprint(v), "stack", string(pe.Stack))
		d.countControlError(controlErrPanic)
		err = pe
	}()
	f()
	return nil
}

// Kinds of lvs_control_errors_total.
const controlErrPanic = "panic" // a request handler panicked and was refused

// controlErrors returns lvs_control_errors_total in reg, registering it on
// first use; a second call finds the first's (registration is idempotent),
// so it may be called when the registry is made and again at the first
// error. nil without a registry.
func controlErrors(reg *prometheus.Registry) *prometheus.CounterVec {
	if reg == nil {
		return nil
	}
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lvs_control_errors_total",
		Help: "Control requests (lvsadm, the JSON API, the web tool, reloads) refused because their handler failed, by kind (panic)."},
		[]string{"kind"})
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if !errors.As(err, &are) {
			return nil
		}
		if c, _ = are.ExistingCollector.(*prometheus.CounterVec); c == nil {
			return nil
		}
	}
	c.WithLabelValues(controlErrPanic) // exported from 0
	return c
}

// countControlError counts one refused request of the kind.
func (d *lvsd) countControlError(kind string) {
	if c := controlErrors(d.metrics); c != nil {
		c.WithLabelValues(kind).Inc()
	}
}

// Status implements api.Daemon from the published snapshot.
func (d *lvsd) Status() admin.Status {
	st := admin.StatusFromTable(d.dp.State().Table)
	t := d.ct.Timeouts()
	st.Timeouts = admin.Timeouts{TCP: t.TCP, TCPFin: t.TCPFin, UDP: t.UDP}
	return st
}

// Connections implements api.Daemon: the connection table, templates
// included, as ipvsadm -L -c lists it.
func (d *lvsd) Connections() []admin.ConnStatus {
	var out []admin.ConnStatus
	d.ct.Walk(d.dp.Tick(time.Now()), func(in conntrackInfo) bool {
		out = append(out, connStatus(in))
		return len(out) < maxListedConns
	})
	return d.natConns(out) // masqueraded and FTP data flows (natconns.go)
}

// maxListedConns bounds one listing, so a table of millions of flows cannot
// exhaust memory through the API.
const maxListedConns = 1_000_000

// Apply implements api.Daemon: ipvsadm edits, all or none.
func (d *lvsd) Apply(ctx context.Context, cmds []ipvsadm.Command) error {
	var err error
	if e := d.do(ctx, func() {
		next := cloneConfig(d.cfg)
		for i, c := range cmds {
			if err = editConfig(next, c, d.defaultDevice()); err != nil {
				err = &ipvsadm.CommandError{Index: i, Cmd: c, Err: err}
				return
			}
		}
		if _, verr := config.Validate(next); verr != nil {
			err = invalidEdit(verr)
			return
		}
		if err = d.applyConfig(next, d.rules); err == nil {
			d.followHA(d.cfg) // --start-daemon, --stop-daemon (sync.go)
		}
	}); e != nil {
		return e
	}
	return err
}

// Zero implements api.Daemon: clears the traffic counters of one service
// (and its destinations), or of all.
func (d *lvsd) Zero(ctx context.Context, svc *ipvs.ServiceKey) error {
	t := d.dp.State().Table
	found := false
	for _, s := range t.Services() {
		if svc != nil && s.Key != *svc {
			continue
		}
		found = true
		s.C.ZeroStats()
		for _, dst := range s.Dests {
			dst.C.ZeroStats()
		}
	}
	if svc != nil && !found {
		return ipvs.ErrNoService
	}
	return nil
}

// SetTimeouts implements api.Daemon (ipvsadm --set); 0 keeps a value.
func (d *lvsd) SetTimeouts(ctx context.Context, t admin.Timeouts) error {
	return d.do(ctx, func() {
		if t.TCP > 0 {
			d.cfg.TCPTimeout = t.TCP
		}
		if t.TCPFin > 0 {
			d.cfg.TCPFinTimeout = t.TCPFin
		}
		if t.UDP > 0 {
			d.cfg.UDPTimeout = t.UDP
		}
		d.applyTimeouts()
	})
}

// SaveConfig implements api.Daemon: writes the running configuration
// to lvs.cf atomically, keeping the previous file as lvs.cf.bak.
func (d *lvsd) SaveConfig(ctx context.Context) (string, error) {
	path := d.opts.configFile()
	var err error
	if e := d.do(ctx, func() {
		d.cfg.Serial++
		err = d.saveRunning(config.Format(d.cfg))
	}); e != nil {
		return "", e
	}
	if err == nil {
		d.log.Info("configuration saved", "file", path, "serial", d.cfg.Serial)
	}
	return path, err
}

// invalidEdit is the refusal of edits after which lvs.cf would not
// validate. The model has no file or line to name, so the messages go
// without them.
func invalidEdit(err error) error {
	var msgs []string
	for _, e := range config.Errors(err) {
		msgs = append(msgs, e.Msg)
	}
	if len(msgs) == 0 {
		msgs = []string{err.Error()}
	}
	return fmt.Errorf("the edit would make lvs.cf invalid: %s", strings.Join(msgs, "; "))
}

// defaultDevice is where a VIP added by lvsadm lives: the interface of the
// first virtual server, else the first interface lvsd serves.
func (d *lvsd) defaultDevice() string {
	for _, v := range d.cfg.Virtuals {
		if v.Device != "" {
			return v.Device
		}
	}
	return d.site.ports[0].Name
}

// cloneConfig copies the parts of a configuration an edit may change.
func cloneConfig(c *config.Config) *config.Config {
	n := *c
	n.Virtuals = make([]*config.Virtual, len(c.Virtuals))
	for i, v := range c.Virtuals {
		vc := *v
		vc.Servers = make([]*config.Server, len(v.Servers))
		for j, s := range v.Servers {
			sc := *s
			vc.Servers[j] = &sc
		}
		n.Virtuals[i] = &vc
	}
	return &n
}

// findVirtuals returns the active virtual blocks that make up service k.
func findVirtuals(c *config.Config, k ipvs.ServiceKey) []*config.Virtual {
	var out []*config.Virtual
	for _, v := range c.Virtuals {
		if !v.Active {
			continue
		}
		if k.FWMark != 0 && v.FWMark == k.FWMark && v.IsIPv6() == k.IPv6 ||
			k.FWMark == 0 && v.FWMark == 0 && v.Address == k.Addr && ipvs.Proto(v.Protocol) == k.Proto && v.Port == k.Port {
			out = append(out, v)
		}
	}
	return out
}

// editConfig applies one ipvsadm edit to the configuration model.
func editConfig(c *config.Config, cmd ipvsadm.Command, device string) error {
	vs := findVirtuals(c, cmd.Service)
	switch cmd.Kind {
	case ipvsadm.KindStartDaemon, ipvsadm.KindStopDaemon:
		return editSync(c, cmd) // sync.go
	case ipvsadm.KindAddService:
		if len(vs) > 0 {
			return ipvs.ErrServiceExists
		}
		if cmd.Service.FWMark != 0 {
			// ipvsadm's fwmark service has no address; lvs.cf's has the
			// VIP that lvsd owns for it, which -A -f cannot name.
			return fmt.Errorf("a firewall-mark service needs its VIP in lvs.cf: add a virtual block with fwmark = %d and address = VIP DEV, then reload",
				cmd.Service.FWMark)
		}
		v := config.NewVirtual(serviceName(cmd.Service))
		v.Active, v.Address, v.Device = true, cmd.Service.Addr, device
		v.Protocol, v.Port = config.Protocol(cmd.Service.Proto), cmd.Service.Port
		if err := setSched(v, cmd.Sched); err != nil {
			return err
		}
		c.Virtuals = append(c.Virtuals, v)
	case ipvsadm.KindEditService:
		if len(vs) == 0 {
			return ipvs.ErrNoService
		}
		for _, v := range vs {
			if err := setSched(v, cmd.Sched); err != nil {
				return err
			}
		}
	case ipvsadm.KindDelService:
		if len(vs) == 0 {
			return ipvs.ErrNoService
		}
		c.Virtuals = slices.DeleteFunc(c.Virtuals, func(v *config.Virtual) bool { return slices.Contains(vs, v) })
	case ipvsadm.KindClear:
		c.Virtuals = nil
	case ipvsadm.KindAddDest, ipvsadm.KindEditDest, ipvsadm.KindDelDest:
		if len(vs) == 0 {
			return ipvs.ErrNoService
		}
		return editServer(c, vs, cmd)
	default:
		return fmt.Errorf("applying %q: %w", cmd.Kind, ipvsadm.ErrNotEdit)
	}
	return nil
}

// editServer adds, edits or deletes a real server of the service's blocks.
// It finds every matching server first and changes the blocks after, so
// that a delete never edits a slice it is ranging over.
func editServer(c *config.Config, vs []*config.Virtual, cmd ipvsadm.Command) error {
	network := methodOf(c.Network)
	spec := cmd.DestSpec(network) // as ipvsadm: -g/-i take the service's port
	if cmd.MethodSet && network != spec.Method {
		return fmt.Errorf("lvs.cf has one forwarding method for every real server (network = %s); %s is not it",
			c.Network, spec.Method)
	}
	want := func(v *config.Virtual) uint16 {
		if spec.Port != 0 {
			return spec.Port
		}
		return v.Port
	}
	type hit struct {
		v *config.Virtual
		s *config.Server
	}
	var hits []hit
	for _, v := range vs {
		for _, s := range v.Servers {
			if s.Active && s.Address == spec.Addr && v.RealPort(s) == want(v) {
				hits = append(hits, hit{v, s})
			}
		}
	}
	switch {
	case cmd.Kind == ipvsadm.KindAddDest && len(hits) > 0:
		return ipvs.ErrDestExists
	case cmd.Kind != ipvsadm.KindAddDest && len(hits) == 0:
		return ipvs.ErrNoDest
	}
	switch cmd.Kind {
	case ipvsadm.KindAddDest:
		v := vs[0]
		s := config.NewServer(serverName(v, spec.Addr, spec.Port))
		s.Active, s.Address, s.Weight = true, spec.Addr, int(spec.Weight)
		if spec.Port != v.Port {
			s.Port = spec.Port // 0 (the client's port) or a port of its own
		}
		s.UThreshold, s.LThreshold = int(spec.UThreshold), int(spec.LThreshold)
		v.Servers = append(v.Servers, s)
	case ipvsadm.KindEditDest:
		for _, h := range hits {
			h.s.Weight, h.s.UThreshold, h.s.LThreshold = int(spec.Weight), int(spec.UThreshold), int(spec.LThreshold)
		}
	case ipvsadm.KindDelDest:
		for _, h := range hits {
			h.v.Servers = slices.DeleteFunc(h.v.Servers, func(x *config.Server) bool { return x == h.s })
		}
	}
	return nil
}

// setSched applies -s, -p, -M and -b to a virtual block. lvs.cf has no
// one-packet scheduling, so -o is refused rather than dropped.
func setSched(v *config.Virtual, s ipvs.SchedSpec) error {
	if s.OnePacket {
		return errors.New("lvs.cf has no one-packet scheduling (-o): lvsd cannot keep it")
	}
	if s.Persistence < 0 {
		// ipvsadm's parser refuses it; an API client may still send it.
		return fmt.Errorf("persistence %v is negative", s.Persistence)
	}
	name := s.SchedName
	if name == "" {
		name = "wlc"
	}
	sc, ok := config.ParseScheduler(name)
	if !ok {
		return fmt.Errorf("%w: %s", ipvsadm.ErrNoScheduler, name)
	}
	v.Scheduler, v.SchedFlags, v.Persistent = sc, config.SchedFlags(s.SchedOpts.Flags), s.Persistence
	v.PMask = config.Netmask{}
	switch v6 := v.IsIPv6(); {
	case s.Persistence <= 0 || s.PMaskBits <= 0:
	case v6 && s.PMaskBits < 128: // -M 64: a prefix length
		v.PMask = config.PrefixLen(s.PMaskBits)
	case !v6 && s.PMaskBits < 32:
		v.PMask = config.NetmaskBits(s.PMaskBits)
	}
	return nil
}

// serviceName names a virtual block lvsadm created, after its key.
func serviceName(k ipvs.ServiceKey) string {
	return "lvsadm_" + strings.ToLower(k.Proto.String()) + "_" + nameSafe(netip.AddrPortFrom(k.Addr, k.Port).String())
}

func serverName(v *config.Virtual, a netip.Addr, port uint16) string {
	base := "lvsadm_" + nameSafe(a.String())
	if port != 0 {
		base += fmt.Sprintf("_%d", port)
	}
	name := base
	for i := 2; v.Server(name) != nil; i++ {
		name = fmt.Sprintf("%s_%d", base, i)
	}
	return name
}

func nameSafe(s string) string {
	return strings.NewReplacer(".", "_", ":", "_", "[", "", "]", "").Replace(s)
}
