package web

import (
	"fmt"
	"net/http"
	"net/netip"
	"net/url"

	"lvs/admin"
	"lvs/config"
)

// virtualFields are the VIRTUAL SERVER subsection (guide §4.6.1).
var virtualFields = []field{
	{Name: "name", Label: "Name", Kind: "text"},
	{Name: "port", Label: "Application port", Kind: "text"},
	{Name: "protocol", Label: "Protocol", Kind: "select", Options: []string{"tcp", "udp"}},
	{Name: "address", Label: "Virtual IP Address", Kind: "text", Help: "IPv4 or IPv6, e.g. 192.168.26.10 or 2001:db8::10"},
	{Name: "vip_nmask", Label: "Virtual IP Network Mask", Kind: "select", Options: masks, Help: "a netmask for an IPv4 VIP, a prefix length for an IPv6 one"},
	{Name: "fwmark", Label: "Firewall Mark", Kind: "text", Help: "blank unless this service groups ports by firewall mark"},
	{Name: "device", Key: "address", Label: "Device", Kind: "text", Help: "e.g. eth0:1"},
	{Name: "reentry", Label: "Re-entry Time (s)", Kind: "text"},
	{Name: "timeout", Label: "Service Timeout (s)", Kind: "text"},
	{Name: "quiesce_server", Label: "Quiesce server", Kind: "check"},
	{Name: "load_monitor", Label: "Load monitoring tool", Kind: "select", Options: []string{"", "none", "rup", "ruptime", "uptime"}},
	{Name: "scheduler", Label: "Scheduling", Kind: "select", Options: config.SchedulerNames()},
	{Name: "persistent", Label: "Persistence (s)", Kind: "text", Help: "blank or 0 for none"},
	{Name: "pmask", Label: "Persistence Network Mask", Kind: "select", Options: masks, Help: "a netmask for an IPv4 VIP, a prefix length for an IPv6 one (as ipvsadm -M 64)"},
	{Name: "sorry_server", Label: "Sorry server", Kind: "text", Help: "used when no real server is up"},
}

// virtualRow is one line of the VIRTUAL SERVERS panel.
type virtualRow struct {
	Name, Status, Addr, Mask, Port, Proto, Device string
	Active                                        bool
	Up, Servers                                   int
}

func (s *Server) virtualsPage(w http.ResponseWriter, r *http.Request, ss *session) {
	text, _, err := s.stagedText(ss)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	s.render(w, r, ss, "virtuals", http.StatusOK, s.virtualRows(text))
}

func (s *Server) virtualRows(text string) []virtualRow {
	c := parsed(text)
	if c == nil {
		return nil
	}
	up := map[string]int{}
	for _, h := range s.b.Health() {
		if !h.Sorry && (h.State == "up" || h.State == "unknown") {
			up[h.Virtual]++
		}
	}
	running := map[string]bool{}
	for _, svc := range s.b.Status().Services {
		running[svcKey(svc.Proto, svc.Addr, svc.Port, svc.FWMark)] = true
	}
	var rows []virtualRow
	for _, v := range c.Virtuals {
		row := virtualRow{Name: v.Name, Addr: v.Address.String(), Mask: v.VIPNetmask.String(), Port: fmt.Sprint(v.Port),
			Proto: v.Protocol.String(), Device: v.Device, Active: v.Active, Up: up[v.Name], Servers: len(v.Servers)}
		if v.FWMark != 0 {
			row.Port = fmt.Sprintf("fwmark %d", v.FWMark)
		}
		switch {
		case !v.Active:
			row.Status = "down (inactive)"
		case running[svcKey(v.Protocol.String(), v.Address, v.Port, v.FWMark)]:
			row.Status = "up"
		default:
			row.Status = "not running"
		}
		rows = append(rows, row)
	}
	return rows
}

// svcKey names a service the same way from lvs.cf and from the table.
func svcKey(proto string, a netip.Addr, port uint16, mark uint32) string {
	if mark != 0 {
		return fmt.Sprintf("fwm %d", mark)
	}
	if proto == "TCP" {
		proto = "tcp"
	} else if proto == "UDP" {
		proto = "udp"
	}
	return proto + " " + hostPort(a, port)
}

// virtualsPost runs the buttons of the VIRTUAL SERVERS panel on the
// selected virtual server: ADD, DELETE, (DE)ACTIVATE, EDIT.
func (s *Server) virtualsPost(w http.ResponseWriter, r *http.Request, ss *session) {
	sel := r.PostFormValue("sel")
	text, _, err := s.stagedText(ss)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	fail := func(msg string) {
		s.flash(ss, msg)
		http.Redirect(w, r, "/virtual", http.StatusSeeOther)
	}
	action := r.PostFormValue("action")
	if action != "add" && sel == "" {
		fail(action + ": select a virtual server first")
		return
	}
	p := blockPath{sel}
	switch action {
	case "add":
		name := r.PostFormValue("newname")
		if err := validName(name); err != nil {
			fail("ADD: " + err.Error())
			return
		}
		http.Redirect(w, r, "/virtual/"+url.PathEscape(name), http.StatusSeeOther)
	case "edit":
		http.Redirect(w, r, "/virtual/"+url.PathEscape(sel), http.StatusSeeOther)
	case "delete":
		s.simpleEdit(w, r, ss, "/virtual", edit{Desc: "delete " + p.String(),
			apply: func(t string) (string, error) { return deleteBlock(t, p) }})
	case "toggle":
		on := "1"
		desc := "activate " + p.String()
		if keyValue(text, p, "active") == "1" {
			on, desc = "0", "deactivate "+p.String()
		}
		s.simpleEdit(w, r, ss, "/virtual", edit{Desc: desc,
			apply: func(t string) (string, error) { return setKeys(t, p, []kv{{key: "active", val: on}}) }})
	default:
		fail(fmt.Sprintf("unknown action %q", action))
	}
}

// simpleEdit stages a one-button edit and goes back to the list at back,
// with the outcome as a message.
func (s *Server) simpleEdit(w http.ResponseWriter, r *http.Request, ss *session, back string, e edit) {
	f := newForm(nil)
	if !s.accept(ss, e, nil, f) {
		msg := e.Desc + " refused:"
		for _, g := range f.General {
			msg += " " + g
		}
		s.flash(ss, msg)
	}
	http.Redirect(w, r, back, http.StatusSeeOther)
}

// subnav is the links along the top of a virtual server's subsections.
type subnav struct {
	Virtual string
	Here    string
	Exists  bool
}

func (s *Server) virtualPage(w http.ResponseWriter, r *http.Request, ss *session) {
	name := r.PathValue("v")
	text, _, err := s.stagedText(ss)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	p := blockPath{name}
	f := newForm(virtualFields)
	_, _, _, missing := span(splitLines(text), p)
	if missing != nil {
		f.load(string(config.Format(newVirtualDefaults(name))), p)
	} else {
		f.load(text, p)
	}
	f.Values["name"] = name
	s.render(w, r, ss, "virtual", http.StatusOK, panelData{Form: f, Action: r.URL.Path, New: missing != nil,
		Extra: subnav{Virtual: name, Here: "virtual", Exists: missing == nil}})
}

// newVirtualDefaults is the configuration a new virtual server's form
// starts from: Piranha's defaults.
func newVirtualDefaults(name string) *config.Config {
	c := config.NewConfig()
	v := config.NewVirtual(name)
	v.Keys = []string{"port", "protocol", "scheduler", "timeout", "reentry"}
	c.Virtuals = append(c.Virtuals, v)
	return c
}

// virtualPost stages the VIRTUAL SERVER form: a new block when the virtual
// does not exist yet, a rename when Name changed.
func (s *Server) virtualPost(w http.ResponseWriter, r *http.Request, ss *session) {
	name := r.PathValue("v")
	text, _, err := s.stagedText(ss)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	p := blockPath{name}
	_, _, _, missing := span(splitLines(text), p)
	f := newForm(virtualFields)
	kvs := f.read(r)
	newName := f.Values["name"]
	if err := validName(newName); err != nil {
		f.Errors["name"] = append(f.Errors["name"], err.Error())
	}
	nav := subnav{Virtual: name, Here: "virtual", Exists: missing == nil}
	if !f.HasErrors() {
		desc := "edit " + p.String()
		if missing != nil {
			desc = "add " + p.String()
		}
		if newName != name {
			desc += " (renamed " + newName + ")"
		}
		e := edit{Desc: desc, apply: upsert(p, kvs, newName)}
		// Errors are placed on the block under its new name.
		if s.accept(ss, e, blockPath{newName}, f) {
			http.Redirect(w, r, "/virtual/"+url.PathEscape(newName), http.StatusSeeOther)
			return
		}
	}
	s.render(w, r, ss, "virtual", http.StatusUnprocessableEntity, panelData{Form: f, Action: r.URL.Path, New: missing != nil, Extra: nav})
}

// healthOf finds the health state of a real server.
func healthOf(hs []admin.HealthStatus, virtual, server string) (admin.HealthStatus, bool) {
	for _, h := range hs {
		if h.Virtual == virtual && h.Server == server && !h.Sorry {
			return h, true
		}
	}
	return admin.HealthStatus{}, false
}
