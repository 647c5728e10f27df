package web

import (
	"html"
	"net/http"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"lvs/admin"
	"lvs/config"
)

// bgpBackend is the fake lvsd running a BGP speaker: its HA status carries
// the speaker's state as lvsd's BGPStatus reports it.
type bgpBackend struct {
	*fakeBackend
	bgp *admin.BGPStatus
}

func (b bgpBackend) HA() admin.HAStatus {
	h := b.fakeBackend.HA()
	h.BGP = b.bgp
	return h
}

// withBGP makes the harness's lvsd run a speaker in the state st.
func withBGP(st *admin.BGPStatus) func(*Options) {
	return func(o *Options) { o.Backend = bgpBackend{o.Backend.(*fakeBackend), st} }
}

var testBGPStatus = &admin.BGPStatus{
	LocalAS: 65001, RouterID: netip.MustParseAddr("192.168.26.9"),
	Peers: []admin.BGPPeerStatus{
		{Name: "gw", Address: netip.MustParseAddr("192.168.26.254"), State: "established", Up: true,
			Since: time.Date(2026, 11, 25, 21, 59, 0, 0, time.UTC)},
		{Name: "gw2", Address: netip.MustParseAddr("192.168.26.253"), State: "active", Reason: "hold timer expired"},
	},
	VIPs: []admin.BGPVIPStatus{
		{VIP: netip.MustParseAddr("192.168.26.10"), Announced: true, Reason: "serving"},
		{VIP: netip.MustParseAddr("192.168.26.11"), Reason: "no real server up"},
	},
}

func TestBGPPanelStatus(t *testing.T) {
	tests := []struct {
		name   string
		status *admin.BGPStatus
		want   []string
		not    []string
	}{
		{"speaker", testBGPStatus, []string{
			`<td id="bgp-as">65001</td>`, `<td id="bgp-id">192.168.26.9</td>`, "announcing the VIPs that can serve",
			"<td>gw</td><td>192.168.26.254</td><td class=\"state\">established</td><td>21:59:00</td>",
			"<td>gw2</td><td>192.168.26.253</td><td class=\"state\">active</td><td></td><td>hold timer expired</td>",
			`<td>192.168.26.10/32</td><td class="state">announced</td><td>serving</td>`,
			`<td>192.168.26.11/32</td><td class="state">withdrawn</td><td>no real server up</td>`,
			"(none yet: ACCEPT adds it with its first peer)", `<label for="f-address">First peer: Address</label>`, "no peer yet: ADD one",
		}, []string{"runs no BGP speaker", "REMOVE THE BGP BLOCK"}},
		{"drained", &admin.BGPStatus{Draining: true, VIPs: []admin.BGPVIPStatus{{VIP: netip.MustParseAddr("192.168.26.10"), Reason: "drained"}}},
			[]string{"drained (lvsadm drain): every VIP withdrawn", `<td id="bgp-as">—</td>`, `<td class="state">withdrawn</td><td>drained</td>`, "<td colspan=\"5\">no peer</td>"}, nil},
		{"no speaker", nil, []string{`<p id="bgp-none">lvsd runs no BGP speaker`}, []string{"bgp-as"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, withBGP(tt.status))
			w := h.do("GET", "/bgp", nil, h.login())
			if w.Code != http.StatusOK {
				t.Fatalf("GET /bgp = %d %s", w.Code, w.Body)
			}
			for _, s := range tt.want {
				if !strings.Contains(w.Body.String(), s) {
					t.Errorf("no %q in the page", s)
				}
			}
			for _, s := range tt.not {
				if strings.Contains(w.Body.String(), s) {
					t.Errorf("%q in the page", s)
				}
			}
		})
	}
}

// TestControlShowsBGP checks the BGP part of CONTROL/MONITORING (and of
// its live-update fragment): there with a speaker, absent without.
func TestControlShowsBGP(t *testing.T) {
	for _, path := range []string{"/control", "/control?fragment=1"} {
		h := newHarness(t, withBGP(testBGPStatus))
		w := h.do("GET", path, nil, h.login())
		for _, s := range []string{`id="control-bgp"`, `<td>peer gw (192.168.26.254)</td><td class="state">established</td>`,
			`<td>192.168.26.11/32</td><td class="state">withdrawn</td><td>no real server up</td>`} {
			if !strings.Contains(w.Body.String(), s) {
				t.Errorf("GET %s with a speaker: no %q", path, s)
			}
		}
		h = newHarness(t)
		if w := h.do("GET", path, nil, h.login()); strings.Contains(w.Body.String(), "control-bgp") {
			t.Errorf("GET %s without a speaker shows a BGP part", path)
		}
	}
}

// TestBGPPanelEdit adds a bgp block and a peer through the panel, applies
// them, edits a global key after the block (it must land outside the
// block), renames and deletes the peer and removes the block.
func TestBGPPanelEdit(t *testing.T) {
	h := newHarness(t, withBGP(testBGPStatus))
	cookie := h.login()
	post := func(path string, v url.Values) {
		t.Helper()
		if w := h.do("POST", path, v, cookie); w.Code != http.StatusSeeOther {
			t.Fatalf("POST %s %v = %d, want 303: %s", path, v, w.Code, w.Body)
		}
	}
	post("/bgp", url.Values{"action": {"accept"}, "local_as": {"65001"}, "drain_time": {"3"}, "name": {"gw"},
		"address": {"192.168.26.254"}, "remote_as": {"65000"}, "hold_time": {"3"}, "password": {"s3cret word"}, "multihop": {""}})
	post("/global", url.Values{"primary": {"192.168.26.9"}, "primary_private": {"10.0.0.9"}, "network": {"nat"},
		"nat_router": {"10.11.12.10"}, "nat_nmask": {"255.255.255.0"}, "nat_router_device": {"eth1:1"}})
	if n := h.pending(cookie); n != 2 {
		t.Fatalf("%d edits staged, want 2", n)
	}
	w := h.do("GET", "/bgp", nil, cookie)
	for _, s := range []string{`name="local_as" id="f-local_as" value="65001"`, `<a href="/bgp/peer/gw">gw</a></td><td>192.168.26.254</td><td>65000</td><td>established</td>`, "REMOVE THE BGP BLOCK"} {
		if !strings.Contains(w.Body.String(), s) {
			t.Errorf("GET /bgp after the edits: no %q", s)
		}
	}
	if w := h.do("GET", "/bgp/peer/gw", nil, cookie); !strings.Contains(w.Body.String(), `name="password" id="f-password" value="s3cret word"`) {
		t.Errorf("GET /bgp/peer/gw: the password is not in the form: %s", w.Body)
	}
	post("/apply", url.Values{})
	c, err := config.Parse("lvs.cf", strings.NewReader(h.b.file(t)))
	if err != nil {
		t.Fatalf("the applied lvs.cf does not parse: %v\n%s", err, h.b.file(t))
	}
	if c.BGP == nil || c.BGP.LocalAS != 65001 || c.BGP.DrainTime != 3*time.Second || len(c.BGP.Peers) != 1 {
		t.Fatalf("applied bgp block = %+v, want local_as 65001, drain_time 3 s and one peer", c.BGP)
	}
	p := c.BGP.Peers[0]
	if p.Name != "gw" || p.Address != netip.MustParseAddr("192.168.26.254") || p.RemoteAS != 65000 || p.HoldTime != 3*time.Second || p.Password != "s3cret word" {
		t.Errorf("applied peer = %+v", p)
	}
	if c.PrimaryPrivate != netip.MustParseAddr("10.0.0.9") {
		t.Errorf("primary_private = %v, want 10.0.0.9 (the global key added after the bgp block)", c.PrimaryPrivate)
	}

	post("/bgp/peer/gw", url.Values{"name": {"upstream"}, "address": {"192.168.26.254"}, "remote_as": {"65000"}, "hold_time": {"3"}})
	post("/bgp", url.Values{"action": {"add"}, "newname": {"second"}})
	post("/bgp/peer/second", url.Values{"name": {"second"}, "address": {"192.168.26.253"}, "remote_as": {"65002"}})
	post("/bgp", url.Values{"action": {"delete"}, "sel": {"upstream"}})
	text, _, _ := h.s.stagedText(h.s.sess.all[cookie])
	c = parsed(text)
	if c == nil || c.BGP == nil || len(c.BGP.Peers) != 1 || c.BGP.Peers[0].Name != "second" || c.BGP.Peers[0].RemoteAS != 65002 {
		t.Fatalf("after rename, add and delete the staged lvs.cf is\n%s", text)
	}
	post("/bgp", url.Values{"action": {"remove"}})
	text, _, _ = h.s.stagedText(h.s.sess.all[cookie])
	if c = parsed(text); c == nil || c.BGP != nil || strings.Contains(text, "bgp {") {
		t.Errorf("after REMOVE the staged lvs.cf is\n%s", text)
	}
}

// TestBGPPanelValidation posts a wrong value into the BGP panel's forms:
// the page comes back 422 with config.Parse's error next to the field (or
// above the form, for the first peer of a new bgp block), and nothing more
// is staged.
func TestBGPPanelValidation(t *testing.T) {
	first := url.Values{"action": {"accept"}, "local_as": {"65001"}, "router_id": {""}, "drain_time": {"5"},
		"name": {"gw"}, "address": {"192.168.26.254"}, "remote_as": {"65000"}, "hold_time": {"3"}, "password": {""}, "multihop": {""}}
	block := url.Values{"action": {"accept"}, "local_as": {"65001"}, "router_id": {""}, "drain_time": {"5"}}
	peer := url.Values{"name": {"gw"}, "address": {"192.168.26.254"}, "remote_as": {"65000"}, "hold_time": {"3"}, "password": {""}, "multihop": {""}}
	tests := []struct {
		path, field, value string
		base               url.Values
		staged             bool // a valid bgp block is staged first
		want               string
		general            bool // shown above the form, not at the field
	}{
		{"/bgp", "local_as", "0", block, true, "local_as: expected an AS number from 1 to 4294967295, got 0", false},
		{"/bgp", "local_as", "", block, true, "missing local_as", false},
		{"/bgp", "local_as", "65 001", block, true, "one word", false},
		{"/bgp", "router_id", "10.0.0.300", block, true, `router_id: expected an IPv4 address like 192.168.26.10, got "10.0.0.300"`, false},
		{"/bgp", "drain_time", "-1", block, true, "drain_time: expected a number of seconds", false},
		{"/bgp", "local_as", "x", first, false, "local_as: expected an AS number", false},
		{"/bgp", "name", "", first, false, "First peer: a name is required", false},
		{"/bgp", "remote_as", "0", first, false, "remote_as: expected an AS number from 1 to 4294967295, got 0", true},
		{"/bgp", "address", "", first, false, "bgp, peer gw: missing address", true},
		{"/bgp/peer/gw", "address", "", peer, true, "missing address", false},
		{"/bgp/peer/gw", "address", "gateway", peer, true, "address", false},
		{"/bgp/peer/gw", "remote_as", "x", peer, true, `remote_as: expected an AS number (an integer from 1 to 4294967295), got "x"`, false},
		{"/bgp/peer/gw", "hold_time", "2", peer, true, "hold_time must be 0 or at least 3 seconds", false},
		{"/bgp/peer/gw", "multihop", "300", peer, true, "multihop: expected a TTL", false},
		{"/bgp/peer/gw", "password", "a\"b'c", peer, true, "may not hold both kinds of quote", false},
		{"/bgp/peer/gw", "name", "g w", peer, true, "use letters, digits", false},
	}
	for _, tt := range tests {
		t.Run(tt.path+" "+tt.field+"="+tt.value, func(t *testing.T) {
			h := newHarness(t, withBGP(testBGPStatus))
			cookie := h.login()
			staged := 0
			if tt.staged {
				if w := h.do("POST", "/bgp", first, cookie); w.Code != http.StatusSeeOther {
					t.Fatalf("staging a valid bgp block: %d %s", w.Code, w.Body)
				}
				staged = 1
			}
			v := url.Values{}
			for k, vs := range tt.base {
				v[k] = vs
			}
			v.Set(tt.field, tt.value)
			w := h.do("POST", tt.path, v, cookie)
			if w.Code != http.StatusUnprocessableEntity {
				t.Fatalf("POST %s = %d, want 422: %s", tt.path, w.Code, w.Body)
			}
			got := html.UnescapeString(fieldError(w.Body.String(), tt.field))
			if tt.general {
				got = html.UnescapeString(generalErrors(w.Body.String()))
			}
			if !strings.Contains(got, tt.want) {
				t.Errorf("errors (general %v) = %q, want one containing %q", tt.general, got, tt.want)
			}
			if n := h.pending(cookie); n != staged {
				t.Errorf("%d edits staged after a refused form, want %d", n, staged)
			}
		})
	}
}

// generalErrors extracts the errors shown above a form.
func generalErrors(body string) string {
	re := regexp.MustCompile(`<p class="error general">([^<]*)</p>`)
	var out []string
	for _, m := range re.FindAllStringSubmatch(body, -1) {
		out = append(out, m[1])
	}
	return strings.Join(out, "; ")
}
