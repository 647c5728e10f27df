package admin

import (
	"fmt"

	"lvs/ipvs"
)

// EditTable applies table edits in order to t and returns the new snapshot,
// for a Daemon's Apply to call on its single writer and then publish. The
// commands must be edits (Kind.IsEdit). network is the forwarding method of
// servers given without -g, -i or -m: lvs.cf's `network`. On the first
// failure it returns a *CommandError wrapping the ipvs error (ErrNoService,
// ErrDestExists, ...) and no table: t itself is never changed, so a failed
// batch leaves the running table as it was.
func EditTable(t *ipvs.Table, cmds []Command, network ipvs.Method) (*ipvs.Table, error) {
	for i := range cmds {
		next, err := editOne(t, &cmds[i], network)
		if err != nil {
			return nil, &CommandError{Index: i, Cmd: cmds[i], Err: err}
		}
		t = next
	}
	return t, nil
}

func editOne(t *ipvs.Table, c *Command, network ipvs.Method) (*ipvs.Table, error) {
	k := c.Service
	switch c.Kind {
	case KindAddService:
		return t.AddService(c.ServiceSpec())
	case KindEditService:
		name := ""
		if s := t.Service(k); s != nil {
			name = s.Name
		}
		return t.EditService(k, c.Sched, name)
	case KindDelService:
		return t.DeleteService(k)
	case KindClear:
		return t.Flush(), nil
	case KindAddDest:
		return t.AddDest(k, c.DestSpec(network))
	case KindEditDest:
		return t.EditDest(k, c.DestSpec(network))
	case KindDelDest:
		d := c.DestSpec(network)
		return t.DeleteDest(k, d.Addr, d.Port)
	}
	return nil, fmt.Errorf("applying %q: %w", c.Kind, ErrNotEdit)
}
