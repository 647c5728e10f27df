package daemon

import (
	"context"
	"errors"
	"fmt"
	"time"

	"lvs/config"
)

// reload re-reads lvs.cf and applies it as a diff; a bad file is refused
// and the running configuration stays.
func (d *lvsd) reload() error {
	l, err := load(d.opts)
	if err == nil && len(l.errs) > 0 {
		err = fmt.Errorf("%d errors, first: %v", len(l.errs), l.errs[0])
	}
	old := d.cfg
	if err == nil {
		err = d.applyConfig(l.cfg, l.rules)
	}
	if err != nil {
		d.log.Error("reload refused; the running configuration stays", "err", err)
		return err
	}
	d.reloadBGP(old, l.cfg) // peers live; the rest at restart (bgp.go)
	d.text = l.text
	d.configChanged()
	d.log.Info("configuration reloaded", "services", len(d.table.Services()), "serial", d.cfg.Serial)
	return nil
}

// applyConfig makes cfg the running configuration as a diff: services and
// servers that stay keep their connections and counters, owned addresses,
// the kernel guard, neighbour resolution and health checks follow. On error
// nothing changes.
func (d *lvsd) applyConfig(cfg *config.Config, rules *config.Rules) error {
	site, err := d.grownSite(cfg) // a new interface is served live (ports.go)
	if err != nil {
		return err
	}
	table, err := Reconcile(d.table, d.hv.desired(cfg))
	if err != nil {
		return err
	}
	if d.guard != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := d.guard.Update(ctx, site.guardSpec(rules))
		cancel()
		if err != nil {
			return err
		}
	}
	if len(site.ports) > len(d.site.ports) {
		if err := d.servePorts(site); err != nil {
			return err
		}
	}
	d.cfg, d.rules, d.table, d.site = cfg, rules, table, site
	d.site.resolve()
	var errs []error
	if d.specs, errs = syncSpecs(d.health, d.specs, healthSpecs(cfg)); len(errs) > 0 {
		d.log.Error("updating health checks", "err", errors.Join(errs...))
	}
	d.applyTimeouts()
	d.dp.Publish(d.state())
	return nil
}

// rebuild applies the health checks' verdicts to the table.
func (d *lvsd) rebuild() {
	table, err := Reconcile(d.table, d.hv.desired(d.cfg))
	if err != nil {
		d.log.Error("applying a health check result", "err", err)
		return
	}
	d.table = table
	d.dp.Publish(d.state())
}
