package web

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// realFields are the EDIT REAL SERVER panel (guide §4.6.2), plus the
// server's own port (an lvs-go extension) and active.
var realFields = []field{
	{Name: "name", Label: "Name", Kind: "text"},
	{Name: "address", Label: "Address", Kind: "text", Help: "the real server's IP, without a port"},
	{Name: "port", Label: "Port", Kind: "text", Help: "blank: the virtual server's port"},
	{Name: "weight", Label: "Weight", Kind: "text"},
	{Name: "active", Label: "Active", Kind: "check"},
}

// scriptFields are the EDIT MONITORING SCRIPTS subsection (guide §4.6.3).
var scriptFields = []field{
	{Name: "send_program", Label: "Sending Program", Kind: "quoted", Help: "%h is replaced by the real server's address, %p by its port; when set, Send is ignored"},
	{Name: "send", Label: "Send", Kind: "quoted", Help: `escapes \n \r \t \\; blank: only connect`},
	{Name: "expect", Label: "Expect", Kind: "quoted"},
	{Name: "use_regex", Label: "Treat expect string as a regular expression", Kind: "check"},
}

// realRow is one line of the REAL SERVER subsection.
type realRow struct {
	Name, Addr, Port, Health, Since string
	Weight, RunWeight               int
	Active                          bool
	ActiveConns, InactConns         int32
}

func (s *Server) realsPage(w http.ResponseWriter, r *http.Request, ss *session) {
	v := r.PathValue("v")
	text, _, err := s.stagedText(ss)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	var rows []realRow
	c := parsed(text)
	if c == nil || c.Virtual(v) == nil {
		http.NotFound(w, r)
		return
	}
	vs := c.Virtual(v)
	hs := s.b.Health()
	st := s.b.Status()
	for _, srv := range vs.Servers {
		row := realRow{Name: srv.Name, Addr: srv.Address.String(), Port: strconv.Itoa(int(vs.RealPort(srv))),
			Weight: srv.Weight, Active: srv.Active, Health: "not checked", RunWeight: -1}
		if h, ok := healthOf(hs, v, srv.Name); ok {
			row.Health = h.State
			if !h.Since.IsZero() {
				row.Since = h.Since.Format(time.TimeOnly)
			}
		}
		for _, svc := range st.Services {
			if svcKey(svc.Proto, svc.Addr, svc.Port, svc.FWMark) != svcKey(vs.Protocol.String(), vs.Address, vs.Port, vs.FWMark) {
				continue
			}
			for _, d := range svc.Dests {
				if d.Addr == srv.Address && (d.Port == vs.RealPort(srv) || d.Port == 0) {
					row.RunWeight, row.ActiveConns, row.InactConns = int(d.Weight), d.Active, d.Inactive
				}
			}
		}
		rows = append(rows, row)
	}
	s.render(w, r, ss, "reals", http.StatusOK, map[string]any{"Rows": rows, "Nav": subnav{Virtual: v, Here: "real", Exists: true}})
}

// realsPost runs the buttons of the REAL SERVER subsection on the selected
// server: ADD, DELETE, EDIT, and the operator's DRAIN (weight 0: no new
// connections, existing ones finish), MAINTENANCE (active 0: out of the
// table and unchecked) and READY (active again, weight back).
func (s *Server) realsPost(w http.ResponseWriter, r *http.Request, ss *session) {
	v := r.PathValue("v")
	back := "/virtual/" + url.PathEscape(v) + "/real"
	sel := r.PostFormValue("sel")
	action := r.PostFormValue("action")
	if action != "add" && sel == "" {
		s.flash(ss, action+": select a real server first")
		http.Redirect(w, r, back, http.StatusSeeOther)
		return
	}
	p := blockPath{v, sel}
	set := func(desc string, kvs ...kv) {
		s.simpleEdit(w, r, ss, back, edit{Desc: desc + " " + p.String(),
			apply: func(t string) (string, error) { return setKeys(t, p, kvs) }})
	}
	switch action {
	case "add":
		name := r.PostFormValue("newname")
		if err := validName(name); err != nil {
			s.flash(ss, "ADD: "+err.Error())
			http.Redirect(w, r, back, http.StatusSeeOther)
			return
		}
		http.Redirect(w, r, back+"/"+url.PathEscape(name), http.StatusSeeOther)
	case "edit":
		http.Redirect(w, r, back+"/"+url.PathEscape(sel), http.StatusSeeOther)
	case "delete":
		s.simpleEdit(w, r, ss, back, edit{Desc: "delete " + p.String(),
			apply: func(t string) (string, error) { return deleteBlock(t, p) }})
	case "drain":
		set("drain (weight 0)", kv{key: "weight", val: "0"})
	case "maintenance":
		set("maintenance (active 0)", kv{key: "active", val: "0"})
	case "ready":
		wt := r.PostFormValue("readyweight")
		if wt == "" {
			wt = "1"
		}
		text, _, _ := s.stagedText(ss)
		kvs := []kv{{key: "active", val: "1"}}
		if keyValue(text, p, "weight") == "0" {
			kvs = append(kvs, kv{key: "weight", val: wt})
		}
		set("ready", kvs...)
	default:
		s.flash(ss, fmt.Sprintf("unknown action %q", action))
		http.Redirect(w, r, back, http.StatusSeeOther)
	}
}

func (s *Server) realPage(w http.ResponseWriter, r *http.Request, ss *session) {
	v, name := r.PathValue("v"), r.PathValue("s")
	text, _, err := s.stagedText(ss)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	p := blockPath{v, name}
	f := newForm(realFields)
	_, _, _, missing := span(splitLines(text), p)
	if missing != nil {
		f.Values["weight"], f.Values["active"] = "1", "1"
	} else {
		f.load(text, p)
	}
	f.Values["name"] = name
	s.render(w, r, ss, "real", http.StatusOK, panelData{Form: f, Action: r.URL.Path, New: missing != nil,
		Extra: subnav{Virtual: v, Here: "real", Exists: true}})
}

func (s *Server) realPost(w http.ResponseWriter, r *http.Request, ss *session) {
	v, name := r.PathValue("v"), r.PathValue("s")
	text, _, err := s.stagedText(ss)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	p := blockPath{v, name}
	_, _, _, missing := span(splitLines(text), p)
	f := newForm(realFields)
	kvs := f.read(r)
	newName := f.Values["name"]
	if err := validName(newName); err != nil {
		f.Errors["name"] = append(f.Errors["name"], err.Error())
	}
	if !f.HasErrors() {
		desc := "edit " + p.String()
		if missing != nil {
			desc = "add " + p.String()
		}
		e := edit{Desc: desc, apply: upsert(p, kvs, newName)}
		if s.accept(ss, e, blockPath{v, newName}, f) {
			http.Redirect(w, r, "/virtual/"+url.PathEscape(v)+"/real", http.StatusSeeOther)
			return
		}
	}
	s.render(w, r, ss, "real", http.StatusUnprocessableEntity, panelData{Form: f, Action: r.URL.Path, New: missing != nil,
		Extra: subnav{Virtual: v, Here: "real", Exists: true}})
}

// scriptsExtra is the MONITORING SCRIPTS page's "test now" part.
type scriptsExtra struct {
	Nav     subnav
	Servers []string
}

func (s *Server) scriptsExtra(text, v string) scriptsExtra {
	x := scriptsExtra{Nav: subnav{Virtual: v, Here: "scripts", Exists: true}}
	if c := parsed(text); c != nil && c.Virtual(v) != nil {
		for _, srv := range c.Virtual(v).Servers {
			x.Servers = append(x.Servers, srv.Name)
		}
	}
	return x
}

func (s *Server) scriptsPage(w http.ResponseWriter, r *http.Request, ss *session) {
	v := r.PathValue("v")
	text, _, err := s.stagedText(ss)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	s.blockPage(w, r, ss, "scripts", scriptFields, blockPath{v}, s.scriptsExtra(text, v))
}

// scriptsPost stages the monitoring script, or with action=test runs the
// check of one real server now, with the settings of the form as typed,
// without staging anything.
func (s *Server) scriptsPost(w http.ResponseWriter, r *http.Request, ss *session) {
	v := r.PathValue("v")
	text, path, err := s.stagedText(ss)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	x := s.scriptsExtra(text, v)
	if r.PostFormValue("action") != "test" {
		s.blockPost(w, r, ss, "scripts", scriptFields, blockPath{v}, x)
		return
	}
	p := blockPath{v}
	f := newForm(scriptFields)
	kvs := f.read(r)
	code := http.StatusOK
	if !f.HasErrors() {
		cand, err := setKeys(text, p, kvs)
		if err != nil {
			f.General = append(f.General, err.Error())
		} else if ck := checkText(path, cand, p); len(ck.errs) > 0 {
			f.place(ck)
		} else {
			ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
			res, err := s.b.CheckNow(ctx, ck.cfg, v, r.PostFormValue("server"))
			cancel()
			switch {
			case err != nil:
				f.Result = "test not run: " + err.Error()
			case res.OK:
				f.Result = fmt.Sprintf("PASS %s in %s %s", r.PostFormValue("server"), res.Latency.Round(time.Millisecond), res.Reason)
			default:
				f.Result = fmt.Sprintf("FAIL %s in %s: %s", r.PostFormValue("server"), res.Latency.Round(time.Millisecond), res.Reason)
			}
		}
	}
	if f.HasErrors() {
		code = http.StatusUnprocessableEntity
	}
	s.render(w, r, ss, "scripts", code, panelData{Form: f, Action: r.URL.Path, Extra: x})
}
