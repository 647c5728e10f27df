package daemon

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"lvs/admin"
	"lvs/config"
	"lvs/ipvs"
)

// The control API (lvsadm, the simulator) reads through snapshots and
// edits through the management goroutine. An edit changes the in-memory
// lvs.cf model, not the table directly: the table is always the
// configuration plus the health checks' verdicts, so an lvsadm edit
// survives the next health event, gets health checks like any server, and
// `lvsadm --save-config` writes exactly what runs.

var _ admin.Daemon = (*lvsd)(nil)

// do runs f on the management goroutine and waits for it.
func (d *lvsd) do(ctx context.Context, f func()) error {
	done := make(chan struct{})
	select {
	case d.reqs <- func() { f(); close(done) }:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Status implements admin.Daemon from the published snapshot.
func (d *lvsd) Status() admin.Status {
	st := admin.StatusFromTable(d.dp.State().Table)
	t := d.ct.Timeouts()
	st.Timeouts = admin.Timeouts{TCP: t.TCP, TCPFin: t.TCPFin, UDP: t.UDP}
	return st
}

// Connections implements admin.Daemon: the connection table, templates
// included, as ipvsadm -L -c lists it.
func (d *lvsd) Connections() []admin.ConnStatus {
	var out []admin.ConnStatus
	d.ct.Walk(d.dp.Tick(time.Now()), func(in conntrackInfo) bool {
		out = append(out, connStatus(in))
		return len(out) < maxListedConns
	})
	return out
}

// maxListedConns bounds one listing, so a table of millions of flows cannot
// exhaust memory through the API.
const maxListedConns = 1_000_000

// Apply implements admin.Daemon: ipvsadm edits, all or none.
func (d *lvsd) Apply(ctx context.Context, cmds []admin.Command) error {
	var err error
	if e := d.do(ctx, func() {
		next := cloneConfig(d.cfg)
		for i, c := range cmds {
			if err = editConfig(next, c, d.defaultDevice()); err != nil {
				err = &admin.CommandError{Index: i, Err: err}
				return
			}
		}
		if _, verr := config.Validate(next); verr != nil {
			err = fmt.Errorf("the edit would make lvs.cf invalid: %w", verr)
			return
		}
		err = d.applyConfig(next, d.rules)
	}); e != nil {
		return e
	}
	return err
}

// Zero implements admin.Daemon: clears the traffic counters of one service
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

// SetTimeouts implements admin.Daemon (ipvsadm --set); 0 keeps a value.
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

// SaveConfig implements admin.Daemon: writes the running configuration
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
		if k.FWMark != 0 && v.FWMark == k.FWMark ||
			k.FWMark == 0 && v.FWMark == 0 && v.Address == k.Addr && ipvs.Proto(v.Protocol) == k.Proto && v.Port == k.Port {
			out = append(out, v)
		}
	}
	return out
}

// editConfig applies one ipvsadm edit to the configuration model.
func editConfig(c *config.Config, cmd admin.Command, device string) error {
	vs := findVirtuals(c, cmd.Service)
	switch cmd.Kind {
	case admin.KindAddService:
		if len(vs) > 0 {
			return ipvs.ErrServiceExists
		}
		v := config.NewVirtual(serviceName(cmd.Service))
		v.Active, v.Address, v.Device, v.FWMark = true, cmd.Service.Addr, device, cmd.Service.FWMark
		if cmd.Service.FWMark == 0 {
			v.Protocol, v.Port = config.Protocol(cmd.Service.Proto), cmd.Service.Port
		}
		if err := setSched(v, cmd.Sched); err != nil {
			return err
		}
		c.Virtuals = append(c.Virtuals, v)
	case admin.KindEditService:
		if len(vs) == 0 {
			return ipvs.ErrNoService
		}
		for _, v := range vs {
			if err := setSched(v, cmd.Sched); err != nil {
				return err
			}
		}
	case admin.KindDelService:
		if len(vs) == 0 {
			return ipvs.ErrNoService
		}
		c.Virtuals = slices.DeleteFunc(c.Virtuals, func(v *config.Virtual) bool { return slices.Contains(vs, v) })
	case admin.KindClear:
		c.Virtuals = nil
	case admin.KindAddDest, admin.KindEditDest, admin.KindDelDest:
		if len(vs) == 0 {
			return ipvs.ErrNoService
		}
		return editServer(c, vs, cmd)
	default:
		return fmt.Errorf("%s is not an edit", cmd.Kind)
	}
	return nil
}

// editServer adds, edits or deletes a real server of the service's blocks.
func editServer(c *config.Config, vs []*config.Virtual, cmd admin.Command) error {
	spec := cmd.Dest
	if cmd.MethodSet && methodOf(c.Network) != spec.Method {
		return fmt.Errorf("lvs.cf has one forwarding method for every real server (network = %s); %s is not it",
			c.Network, spec.Method)
	}
	match := func(v *config.Virtual, s *config.Server) bool {
		port := v.RealPort(s)
		want := spec.Port
		if want == 0 {
			want = v.Port
		}
		return s.Active && s.Address == spec.Addr && port == want
	}
	var hits int
	for _, v := range vs {
		for _, s := range v.Servers {
			if !match(v, s) {
				continue
			}
			hits++
			switch cmd.Kind {
			case admin.KindEditDest:
				s.Weight, s.UThreshold, s.LThreshold = int(spec.Weight), int(spec.UThreshold), int(spec.LThreshold)
			case admin.KindDelDest:
				v.Servers = slices.DeleteFunc(v.Servers, func(x *config.Server) bool { return x == s })
			}
		}
	}
	switch {
	case cmd.Kind == admin.KindAddDest && hits > 0:
		return ipvs.ErrDestExists
	case cmd.Kind != admin.KindAddDest && hits == 0:
		return ipvs.ErrNoDest
	case cmd.Kind == admin.KindAddDest:
		s := config.NewServer(serverName(vs[0], spec.Addr, spec.Port))
		s.Active, s.Address, s.Weight, s.Port = true, spec.Addr, int(spec.Weight), spec.Port
		s.UThreshold, s.LThreshold = int(spec.UThreshold), int(spec.LThreshold)
		vs[0].Servers = append(vs[0].Servers, s)
	}
	return nil
}

// setSched applies -s, -p, -M and -b to a virtual block.
func setSched(v *config.Virtual, s ipvs.SchedSpec) error {
	name := s.SchedName
	if name == "" {
		name = "wlc"
	}
	sc, ok := config.ParseScheduler(name)
	if !ok {
		return fmt.Errorf("%w: %s", admin.ErrNoScheduler, name)
	}
	v.Scheduler, v.SchedFlags, v.Persistent = sc, config.SchedFlags(s.SchedOpts.Flags), s.Persistence
	v.PMask = config.Netmask{}
	if s.Persistence > 0 && s.PMaskBits > 0 && s.PMaskBits < 32 {
		v.PMask = config.NetmaskBits(s.PMaskBits)
	}
	return nil
}

// serviceName names a virtual block lvsadm created, after its key.
func serviceName(k ipvs.ServiceKey) string {
	if k.FWMark != 0 {
		return fmt.Sprintf("lvsadm_fwm%d", k.FWMark)
	}
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
