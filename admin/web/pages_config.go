package web

import (
	"errors"
	"net/http"
	"strings"

	"lvs/config"
)

// globalFields are the GLOBAL SETTINGS panel (guide §4.4).
var globalFields = []field{
	{Name: "primary", Label: "Primary server public IP", Kind: "text"},
	{Name: "primary_private", Label: "Primary server private IP", Kind: "text",
		Help: "the second heartbeat channel; blank for none (a single point of failure)"},
	{Name: "network", Label: "Use network type", Kind: "select", Options: []string{"nat", "direct", "tunnel"}},
	{Name: "nat_router", Label: "NAT Router IP", Kind: "text", Help: "the floating gateway of the real servers (NAT only)"},
	{Name: "nat_nmask", Label: "NAT Router netmask", Kind: "select", Options: netmasks},
	{Name: "nat_router_device", Key: "nat_router", Label: "NAT Router device", Kind: "text", Help: "e.g. eth1:1"},
	{Name: "nat_router6", Label: "IPv6 NAT Router IP", Kind: "text", Help: "the floating IPv6 gateway of IPv6 real servers (NAT only), e.g. fd00:11:12::1"},
	{Name: "nat_nmask6", Label: "IPv6 NAT Router prefix length", Kind: "select", Options: prefixLens},
	{Name: "nat_router6_device", Key: "nat_router6", Label: "IPv6 NAT Router device", Kind: "text", Help: "e.g. eth1"},
	{Name: "tcp_timeout", Label: "TCP timeout (s)", Kind: "text", Help: "ipvsadm --set; blank or 0 keeps the default"},
	{Name: "tcpfin_timeout", Label: "TCP FIN timeout (s)", Kind: "text"},
	{Name: "udp_timeout", Label: "UDP timeout (s)", Kind: "text"},
}

// redundancyFields are the REDUNDANCY panel (guide §4.5).
var redundancyFields = []field{
	{Name: "backup_active", Label: "Backup router enabled", Kind: "check"},
	{Name: "backup", Label: "Redundant server public IP", Kind: "text"},
	{Name: "backup_private", Label: "Redundant server private IP", Kind: "text"},
	{Name: "keepalive", Label: "Heartbeat Interval (seconds)", Kind: "text"},
	{Name: "deadtime", Label: "Assume dead after (seconds)", Kind: "text"},
	{Name: "heartbeat_port", Label: "Heartbeat runs on port", Kind: "text", Help: "blank means 539"},
	{Name: "monitor_links", Label: "Monitor NIC links for failures", Kind: "check"},
	{Name: "syncdaemon", Label: "Use sync daemon (connection sync)", Kind: "check"},
}

// stagedText returns the text the session is editing: its staged text, or
// the file as it is when nothing is staged. It also returns the file path.
func (s *Server) stagedText(ss *session) (text, path string, err error) {
	path, raw, etag, err := s.b.Config()
	if err != nil {
		return "", "", err
	}
	s.sess.with(func() {
		if !ss.stage.pending() {
			ss.stage = newStage(raw, etag)
		}
		text = ss.stage.text
	})
	return text, path, nil
}

// accept stages edit e of block p for the session, placing problems on f.
// It reports whether the edit was accepted.
func (s *Server) accept(ss *session, e edit, p blockPath, f *form) bool {
	_, path, err := s.stagedText(ss)
	if err != nil {
		f.General = append(f.General, err.Error())
		return false
	}
	var ck check
	s.sess.with(func() { ck = ss.stage.accept(path, e, p) })
	f.place(ck)
	if f.HasErrors() {
		return false
	}
	msg := "accepted: " + e.Desc + " (pending until APPLY)"
	if len(f.Warnings) > 0 {
		msg += "; warnings: " + strings.Join(f.Warnings, "; ")
	}
	s.flash(ss, msg)
	return true
}

// panelData is what a block-form page shows.
type panelData struct {
	Form   *form
	Action string
	Extra  any
	New    bool
}

func (s *Server) blockPage(w http.ResponseWriter, r *http.Request, ss *session, tmpl string, fields []field, p blockPath, extra any) {
	text, _, err := s.stagedText(ss)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	f := newForm(fields)
	f.load(text, p)
	s.render(w, r, ss, tmpl, http.StatusOK, panelData{Form: f, Action: r.URL.Path, Extra: extra})
}

// blockPost stages the form's values as keys of block p and answers with
// a redirect (accepted) or the form with its errors (422).
func (s *Server) blockPost(w http.ResponseWriter, r *http.Request, ss *session, tmpl string, fields []field, p blockPath, extra any) {
	f := newForm(fields)
	kvs := f.read(r)
	if !f.HasErrors() {
		if text, _, err := s.stagedText(ss); err == nil {
			before := newForm(fields)
			before.load(text, p)
			kvs = f.changed(before, kvs)
		}
		if len(kvs) == 0 {
			s.flash(ss, "nothing changed in "+p.String())
			http.Redirect(w, r, r.URL.Path, http.StatusSeeOther)
			return
		}
		e := edit{Desc: "edit " + p.String(), apply: func(t string) (string, error) { return setKeys(t, p, kvs) }}
		if s.accept(ss, e, p, f) {
			http.Redirect(w, r, r.URL.Path, http.StatusSeeOther)
			return
		}
	}
	s.render(w, r, ss, tmpl, http.StatusUnprocessableEntity, panelData{Form: f, Action: r.URL.Path, Extra: extra})
}

func (s *Server) globalPage(w http.ResponseWriter, r *http.Request, ss *session) {
	s.blockPage(w, r, ss, "global", globalFields, nil, nil)
}

func (s *Server) globalPost(w http.ResponseWriter, r *http.Request, ss *session) {
	s.blockPost(w, r, ss, "global", globalFields, nil, nil)
}

func (s *Server) redundancyPage(w http.ResponseWriter, r *http.Request, ss *session) {
	s.blockPage(w, r, ss, "redundancy", redundancyFields, nil, nil)
}

func (s *Server) redundancyPost(w http.ResponseWriter, r *http.Request, ss *session) {
	s.blockPost(w, r, ss, "redundancy", redundancyFields, nil, nil)
}

// pendingPage shows the staged edits and the lvs.cf they make.
func (s *Server) pendingPage(w http.ResponseWriter, r *http.Request, ss *session) {
	text, path, err := s.stagedText(ss)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	_, raw, _, _ := s.b.Config()
	s.render(w, r, ss, "pending", http.StatusOK, map[string]any{"Path": path, "Text": text, "File": string(raw)})
}

// apply writes the staged lvs.cf through the backend and reloads.
func (s *Server) apply(w http.ResponseWriter, r *http.Request, ss *session) {
	var text, etag string
	var pending bool
	s.sess.with(func() {
		if pending = ss.stage.pending(); pending {
			text, etag = bumpSerial(ss.stage.text), ss.stage.baseEtag
		}
	})
	if !pending {
		s.flash(ss, "nothing to apply: no change is pending")
		http.Redirect(w, r, "/pending", http.StatusSeeOther)
		return
	}
	switch err := s.b.ApplyConfig(r.Context(), []byte(text), etag); {
	case err == nil:
		s.sess.with(func() { ss.stage = nil })
		s.o.Logger.Info("lvs.cf applied from the admin tool")
		s.flash(ss, "applied: lvs.cf written and reloaded")
	case isConflict(err):
		s.flash(ss, "CONFLICT: lvs.cf was changed by someone else since your edits started; your edits are kept. REBASE replays them on the current file, DISCARD drops them.")
	default:
		s.flash(ss, "APPLY refused, nothing was changed: "+err.Error())
	}
	http.Redirect(w, r, "/pending", http.StatusSeeOther)
}

func (s *Server) discard(w http.ResponseWriter, r *http.Request, ss *session) {
	s.sess.with(func() { ss.stage = nil })
	s.flash(ss, "pending changes discarded")
	http.Redirect(w, r, "/pending", http.StatusSeeOther)
}

// rebase replays the session's edits on the file as it is now.
func (s *Server) rebase(w http.ResponseWriter, r *http.Request, ss *session) {
	path, raw, etag, err := s.b.Config()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	var dropped []string
	s.sess.with(func() {
		if ss.stage.pending() {
			dropped = ss.stage.rebase(path, raw, etag)
		}
	})
	msg := "edits replayed on the current lvs.cf"
	if len(dropped) > 0 {
		msg += "; these no longer apply and were dropped: " + strings.Join(dropped, "; ")
	}
	s.flash(ss, msg)
	http.Redirect(w, r, "/pending", http.StatusSeeOther)
}

func isConflict(err error) bool { return errors.Is(err, ErrConflict) }

// parsed returns the staged configuration as a model (nil when it does
// not parse).
func parsed(text string) *config.Config {
	c, err := config.Parse("lvs.cf", strings.NewReader(text))
	if err != nil {
		return nil
	}
	return c
}
