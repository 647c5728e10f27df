package web

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"

	"lvs/admin"
)

// The BGP panel (issue 19's scale-out): the running speaker's sessions and
// announcements, from the daemon's HA status (the data of `lvsadm -L
// --daemon`, the API's /v1/ha and /metrics' lvs_bgp_*), and the edit of
// lvs.cf's bgp block and its peer blocks, checked like every other panel.

// bgpPath is the bgp block in a blockPath: index gives a top-level block
// other than virtual the path "[kind]name", and the bgp block has no name.
var bgpPath = blockPath{"[bgp]"}

// peerPath is peer block name inside the bgp block.
func peerPath(name string) blockPath { return blockPath{"[bgp]", name} }

// bgpFields are the keys of the bgp block.
var bgpFields = []field{
	{Name: "local_as", Label: "Local AS", Kind: "text", Help: "this site's AS number (required)"},
	{Name: "router_id", Label: "Router ID", Kind: "text", Help: "an IPv4 address; blank: this director's own address of primary, backup or directors"},
	{Name: "drain_time", Label: "Drain time (s)", Kind: "text", Help: "on SIGTERM: withdraw, forward this long, then stop; blank means 5"},
}

// peerFields are the keys of a peer block.
var peerFields = []field{
	{Name: "name", Label: "Name", Kind: "text"},
	{Name: "address", Label: "Address", Kind: "text", Help: "the neighbour's IPv4 address (required)"},
	{Name: "remote_as", Label: "Remote AS", Kind: "text", Help: "the neighbour's AS number (required)"},
	{Name: "hold_time", Label: "Hold time (s)", Kind: "text", Help: "0, or at least 3; blank means 90"},
	{Name: "password", Label: "TCP-MD5 password", Kind: "quoted", Help: "RFC 2385; blank for none"},
	{Name: "multihop", Label: "eBGP multihop TTL", Kind: "text", Help: "blank or 0: directly connected"},
}

// newBGPFields are the form of a bgp block lvs.cf does not have yet: its
// keys and its first peer's (a bgp block needs one).
var newBGPFields = func() []field {
	out := slices.Clone(bgpFields)
	for _, fd := range peerFields {
		fd.Label = "First peer: " + fd.Label
		out = append(out, fd)
	}
	return out
}()

// isBGPKey reports whether key belongs to the bgp block (else to a peer).
func isBGPKey(key string) bool {
	return slices.ContainsFunc(bgpFields, func(fd field) bool { return fd.key() == key })
}

// bgpData is the BGP panel.
type bgpData struct {
	Status *admin.BGPStatus // nil: lvsd runs no speaker
	Form   *form
	Peers  []peerRow // the staged bgp block's peers
	Block  bool      // the staged lvs.cf has a bgp block
}

// peerRow is one peer of the staged bgp block, with its session when the
// running speaker has one with that name.
type peerRow struct {
	Name, Address, RemoteAS string
	Session                 *admin.BGPPeerStatus
}

func (s *Server) bgpData(text string, f *form) bgpData {
	d := bgpData{Status: s.b.HA().BGP, Form: f}
	_, _, _, miss := span(splitLines(text), bgpPath)
	d.Block = miss == nil
	if c := parsed(text); c != nil && c.BGP != nil {
		for _, p := range c.BGP.Peers {
			row := peerRow{Name: p.Name, Address: p.Address.String(), RemoteAS: fmt.Sprint(p.RemoteAS)}
			if d.Status != nil {
				for i := range d.Status.Peers {
					if d.Status.Peers[i].Name == p.Name {
						row.Session = &d.Status.Peers[i]
					}
				}
			}
			d.Peers = append(d.Peers, row)
		}
	}
	return d
}

func (s *Server) bgpPage(w http.ResponseWriter, r *http.Request, ss *session) {
	text, _, err := s.stagedText(ss)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	f := newForm(bgpFields)
	if _, _, _, miss := span(splitLines(text), bgpPath); miss != nil {
		f = newForm(newBGPFields)
		f.Values["drain_time"] = "5"
	}
	f.load(text, bgpPath)
	s.render(w, r, ss, "bgp", http.StatusOK, s.bgpData(text, f))
}

// bgpPost runs the BGP panel's buttons: ACCEPT stages the bgp block's keys
// (adding the block when lvs.cf has none), REMOVE deletes the block, ADD
// opens a new peer's form, EDIT and DELETE work on the selected peer.
func (s *Server) bgpPost(w http.ResponseWriter, r *http.Request, ss *session) {
	sel := r.PostFormValue("sel")
	switch action := r.PostFormValue("action"); action {
	case "", "accept":
		s.bgpAccept(w, r, ss)
	case "remove":
		s.simpleEdit(w, r, ss, "/bgp", edit{Desc: "remove the bgp block",
			apply: func(t string) (string, error) { return deleteBlock(t, bgpPath) }})
	case "add":
		name := r.PostFormValue("newname")
		if err := validName(name); err != nil {
			s.flash(ss, "ADD: "+err.Error())
			http.Redirect(w, r, "/bgp", http.StatusSeeOther)
			return
		}
		http.Redirect(w, r, "/bgp/peer/"+url.PathEscape(name), http.StatusSeeOther)
	case "edit", "delete":
		if sel == "" {
			s.flash(ss, action+": select a peer first")
			http.Redirect(w, r, "/bgp", http.StatusSeeOther)
			return
		}
		if action == "edit" {
			http.Redirect(w, r, "/bgp/peer/"+url.PathEscape(sel), http.StatusSeeOther)
			return
		}
		s.simpleEdit(w, r, ss, "/bgp", edit{Desc: "delete bgp peer " + sel,
			apply: func(t string) (string, error) { return deleteBlock(t, peerPath(sel)) }})
	default:
		s.flash(ss, fmt.Sprintf("unknown action %q", action))
		http.Redirect(w, r, "/bgp", http.StatusSeeOther)
	}
}

// bgpAccept stages the bgp block's keys as the form has them; when lvs.cf
// has no bgp block yet, the block with its first peer.
func (s *Server) bgpAccept(w http.ResponseWriter, r *http.Request, ss *session) {
	text, _, err := s.stagedText(ss)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	_, _, _, miss := span(splitLines(text), bgpPath)
	fields := bgpFields
	if miss != nil {
		fields = newBGPFields
	}
	f := newForm(fields)
	kvs := f.read(r)
	peer := f.Values["name"]
	if miss != nil {
		if err := validName(peer); err != nil {
			f.Errors["name"] = append(f.Errors["name"], "First peer: "+err.Error())
		}
	}
	if !f.HasErrors() {
		e := edit{Desc: "add the bgp block with peer " + peer}
		if miss == nil {
			before := newForm(fields)
			before.load(text, bgpPath)
			if kvs = f.changed(before, kvs); len(kvs) == 0 {
				s.flash(ss, "nothing changed in the bgp block")
				http.Redirect(w, r, "/bgp", http.StatusSeeOther)
				return
			}
			e.Desc = "edit the bgp block"
		}
		var block, first []kv
		for _, e := range kvs {
			if isBGPKey(e.key) {
				block = append(block, e)
			} else {
				first = append(first, e)
			}
		}
		e.apply = func(t string) (string, error) {
			var err error
			if miss != nil {
				if t, err = addPeer(t, peer); err != nil {
					return "", err
				}
				if t, err = setKeys(t, peerPath(peer), first); err != nil {
					return "", err
				}
			}
			return setKeys(t, bgpPath, block)
		}
		if s.accept(ss, e, bgpPath, f) {
			http.Redirect(w, r, "/bgp", http.StatusSeeOther)
			return
		}
	}
	s.render(w, r, ss, "bgp", http.StatusUnprocessableEntity, s.bgpData(text, f))
}

func (s *Server) peerPage(w http.ResponseWriter, r *http.Request, ss *session) {
	name := r.PathValue("p")
	text, _, err := s.stagedText(ss)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	f := newForm(peerFields)
	_, _, _, missing := span(splitLines(text), peerPath(name))
	if missing == nil {
		f.load(text, peerPath(name))
	}
	f.Values["name"] = name
	s.render(w, r, ss, "bgp_peer", http.StatusOK, panelData{Form: f, Action: r.URL.Path, New: missing != nil})
}

// peerPost stages a peer block: added (with the bgp block, when lvs.cf has
// none), edited or renamed.
func (s *Server) peerPost(w http.ResponseWriter, r *http.Request, ss *session) {
	name := r.PathValue("p")
	text, _, err := s.stagedText(ss)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	p := peerPath(name)
	_, _, _, missing := span(splitLines(text), p)
	f := newForm(peerFields)
	kvs := f.read(r)
	newName := f.Values["name"]
	if err := validName(newName); err != nil {
		f.Errors["name"] = append(f.Errors["name"], err.Error())
	}
	if !f.HasErrors() {
		desc := "edit bgp peer " + name
		if missing != nil {
			desc = "add bgp peer " + name
		}
		e := edit{Desc: desc, apply: func(t string) (string, error) {
			t, err := addPeer(t, name)
			if err != nil {
				return "", err
			}
			if t, err = setKeys(t, p, kvs); err != nil {
				return "", err
			}
			return renameBlock(t, p, newName)
		}}
		if s.accept(ss, e, peerPath(newName), f) {
			http.Redirect(w, r, "/bgp", http.StatusSeeOther)
			return
		}
	}
	s.render(w, r, ss, "bgp_peer", http.StatusUnprocessableEntity, panelData{Form: f, Action: r.URL.Path, New: missing != nil})
}

// addBGP adds an empty bgp block where config.Format writes it, after the
// global keys, unless text has one.
func addBGP(text string) (string, error) {
	lines := splitLines(text)
	if _, _, _, err := span(lines, bgpPath); err == nil {
		return text, nil
	}
	_, body, _, err := span(lines, nil)
	if err != nil {
		return "", err
	}
	return joinLines(append(lines[:body:body], append([]string{"bgp {", "}"}, lines[body:]...)...)), nil
}

// addPeer adds an empty peer block at the end of the bgp block (adding
// the bgp block first when text has none), unless text has that peer.
func addPeer(text, name string) (string, error) {
	text, err := addBGP(text)
	if err != nil {
		return "", err
	}
	lines := splitLines(text)
	if _, _, _, err := span(lines, peerPath(name)); err == nil {
		return text, nil
	}
	_, _, end, err := span(lines, bgpPath)
	if err != nil {
		return "", err
	}
	ind := indentOf(bgpPath)
	add := []string{ind + "peer " + name + " {", ind + "}"}
	return joinLines(append(lines[:end:end], append(add, lines[end:]...)...)), nil
}
