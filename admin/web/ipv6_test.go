package web

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"lvs/admin"
	"lvs/config"
)

// TestIPv6FormErrors posts IPv6 values that lvsd -t refuses into the
// panels and checks that each refusal is shown next to its field, with
// the form keeping the typed value and nothing staged.
func TestIPv6FormErrors(t *testing.T) {
	tests := []struct {
		path   string
		fields []field
		field  string
		value  string
		want   string
	}{
		{"/global", globalFields, "nat_router6", "10.11.12.20", "nat_router6 10.11.12.20 is IPv4"},
		{"/global", globalFields, "nat_router6", "fd00:11:12::zz", "expected an IPv4 or IPv6 address"},
		{"/global", globalFields, "nat_router", "fd00:11:12::1", "put the IPv6 one in nat_router6"},
		{"/global", globalFields, "primary", "fe80::9", "link-local"},
		{"/redundancy", redundancyFields, "backup", "2001:db8:26::8", "different address families"},
		{"/virtual/web", virtualFields, "address", "2001:db8:26::zz", "expected an IPv4 or IPv6 address"},
		{"/virtual/web", virtualFields, "address", "::ffff:192.168.26.10", "IPv4-mapped"},
		{"/virtual/web", virtualFields, "pmask", "64", "netmask like 255.255.255.0"},
		{"/virtual/web", virtualFields, "sorry_server", "fd00:11:12::9", "sorry_server"},
		{"/virtual/web/real/web1", realFields, "address", "fd00:11:12::1", "needs network = tunnel"},
	}
	for _, tt := range tests {
		t.Run(tt.path+"/"+tt.field+"="+tt.value, func(t *testing.T) {
			h := newHarness(t)
			cookie := h.login()
			form := formOf(h, cookie, tt.path, tt.fields)
			form.Set(tt.field, tt.value)
			if tt.field == "nat_router6" {
				form.Set("nat_router6_device", "eth1")
			}
			w := h.do("POST", tt.path, form, cookie)
			if w.Code != http.StatusUnprocessableEntity {
				t.Fatalf("POST %s %s=%q = %d, want 422", tt.path, tt.field, tt.value, w.Code)
			}
			if got := fieldError(w.Body.String(), tt.field); !strings.Contains(got, tt.want) {
				t.Errorf("POST %s %s=%q: error next to the field = %q, want %q", tt.path, tt.field, tt.value, got, tt.want)
			}
			if !isSelect(tt.fields, tt.field) && !strings.Contains(w.Body.String(), `value="`+template_escape(tt.value)+`"`) {
				t.Errorf("POST %s: the form does not keep the typed value %q", tt.path, tt.value)
			}
			if n := h.pending(cookie); n != 0 {
				t.Errorf("POST %s with an error staged %d edits", tt.path, n)
			}
		})
	}
}

// ipv6Site is siteCf with an IPv6 NAT router and an IPv6 virtual server.
const ipv6Site = `nat_router6 = fd00:11:12::1 eth1
nat_nmask6 = 64
virtual web6 {
     active = 1
     address = 2001:db8:26::10 eth0
     vip_nmask = 64
     port = 80
     scheduler = wlc
     protocol = tcp
     persistent = 300
     pmask = 64
     server web6a {
         address = fd00:11:12::2
         active = 1
         weight = 1
     }
}
`

// TestIPv6Forms: the global panel reads and writes nat_router6 as "IP DEV"
// like nat_router, and an IPv6 virtual server with prefix-length masks and
// an IPv6 real server goes through the forms. While config refuses IPv6
// virtual servers (lvsd does not forward them yet), the refusal is the one
// lvsd -t gives, next to the address; once it accepts them, the edit is
// staged and written as typed.
func TestIPv6Forms(t *testing.T) {
	// load and read of the global panel, on the text of ipv6Site.
	f := newForm(globalFields)
	f.load(ipv6Site, nil)
	if f.V("nat_router6") != "fd00:11:12::1" || f.V("nat_router6_device") != "eth1" || f.V("nat_nmask6") != "64" {
		t.Errorf("load: nat_router6 %q device %q nat_nmask6 %q, want fd00:11:12::1, eth1, 64",
			f.V("nat_router6"), f.V("nat_router6_device"), f.V("nat_nmask6"))
	}
	form := url.Values{"nat_router6": {"fd00:11:12::1"}, "nat_router6_device": {"eth1"}, "nat_nmask6": {"64"}}
	req := httptest.NewRequest("POST", "/global", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	kvs := newForm(globalFields).read(req)
	want := map[string]string{"nat_router6": "fd00:11:12::1 eth1", "nat_nmask6": "64"}
	for _, e := range kvs {
		if w, ok := want[e.key]; ok {
			if e.val != w || e.del {
				t.Errorf("read: %s = %q (del %v), want %q", e.key, e.val, e.del, w)
			}
			delete(want, e.key)
		}
	}
	if len(want) != 0 {
		t.Errorf("read wrote no %v", want)
	}
	for _, fd := range []field{fieldOf(virtualFields, "pmask"), fieldOf(virtualFields, "vip_nmask"), fieldOf(globalFields, "nat_nmask6")} {
		if !strings.Contains(strings.Join(fd.Options, " "), "64") {
			t.Errorf("the %s drop-down offers no prefix length 64: %q", fd.Name, fd.Options)
		}
	}

	// The whole site through the panels.
	_, lvsdErr := config.Parse("lvs.cf", strings.NewReader(siteCf+ipv6Site))
	h := newHarness(t)
	cookie := h.login()
	g := formOf(h, cookie, "/global", globalFields)
	g.Set("nat_router6", "fd00:11:12::1")
	g.Set("nat_router6_device", "eth1")
	g.Set("nat_nmask6", "64")
	w := h.do("POST", "/global", g, cookie)
	if lvsdErr != nil {
		if got := fieldError(w.Body.String(), "nat_router6"); w.Code != http.StatusUnprocessableEntity || !strings.Contains(got, "IPv6") {
			t.Errorf("POST /global nat_router6 = %d, error %q; want lvsd -t's refusal of IPv6 next to the field", w.Code, got)
		}
	} else if w.Code != http.StatusSeeOther {
		t.Fatalf("POST /global nat_router6 = %d, want it staged:\n%s", w.Code, w.Body)
	}
	h.do("POST", "/virtual", url.Values{"action": {"add"}, "newname": {"web6"}}, cookie)
	v := url.Values{"name": {"web6"}, "port": {"80"}, "protocol": {"tcp"}, "address": {"2001:db8:26::10"}, "device": {"eth0"},
		"vip_nmask": {"64"}, "scheduler": {"wlc"}, "persistent": {"300"}, "pmask": {"64"}, "timeout": {"6"}, "reentry": {"15"}}
	w = h.do("POST", "/virtual/web6", v, cookie)
	if lvsdErr != nil {
		got := fieldError(w.Body.String(), "address")
		if w.Code != http.StatusUnprocessableEntity || !strings.Contains(got, "not yet forwarded") {
			t.Errorf("POST /virtual/web6 = %d, address error %q; want lvsd -t's %q", w.Code, got, "not yet forwarded")
		}
		if !strings.Contains(w.Body.String(), `value="2001:db8:26::10"`) {
			t.Error("the refused form does not keep the typed IPv6 address")
		}
		return
	}
	if w.Code != http.StatusSeeOther {
		t.Fatalf("POST /virtual/web6 = %d, want it staged:\n%s", w.Code, w.Body)
	}
	pending := h.do("GET", "/pending", nil, cookie).Body.String()
	for _, s := range []string{"nat_router6 = fd00:11:12::1 eth1", "address = 2001:db8:26::10 eth0", "pmask = 64"} {
		if !strings.Contains(pending, s) {
			t.Errorf("the staged lvs.cf has no %q", s)
		}
	}
}

func fieldOf(fields []field, name string) field {
	for _, f := range fields {
		if f.Name == name {
			return f
		}
	}
	return field{}
}

// TestIPv6Display: IPv6 services and real servers are shown as ipvsadm
// shows them, [2001:db8::10]:80, in the routing table, the service keys
// that match lvs.cf to the table, and the charts' series, whose check
// latency is found for IPv6 servers too.
func TestIPv6Display(t *testing.T) {
	vip, rip := netip.MustParseAddr("2001:db8:26::10"), netip.MustParseAddr("fd00:11:12::2")
	if got, want := svcKey("TCP", vip, 80, 0), "tcp [2001:db8:26::10]:80"; got != want {
		t.Errorf("svcKey = %q, want %q", got, want)
	}
	if got, want := svcKey("tcp", netip.MustParseAddr("192.168.26.10"), 80, 0), "tcp 192.168.26.10:80"; got != want {
		t.Errorf("svcKey = %q, want %q", got, want)
	}
	svc := admin.ServiceStatus{Proto: "TCP", Addr: vip, Port: 80, Sched: "wlc",
		Dests: []admin.DestStatus{{Addr: rip, Port: 8080, Forward: "Masq", Weight: 1}}}
	if got, want := serviceLabel(svc), "TCP [2001:db8:26::10]:80"; got != want {
		t.Errorf("serviceLabel = %q, want %q", got, want)
	}
	tmpl := parseTemplates()["control"]
	if tmpl == nil {
		t.Fatal("no control template")
	}
	var b strings.Builder
	d := controlData{Status: admin.Status{Services: []admin.ServiceStatus{svc}},
		Health: []admin.HealthStatus{{Virtual: "web6", Server: "web6a", Addr: netip.AddrPortFrom(rip, 8080), State: "up"}}}
	if err := tmpl.ExecuteTemplate(&b, "status", d); err != nil {
		t.Fatalf("rendering the status block: %v", err)
	}
	for _, s := range []string{"TCP [2001:db8:26::10]:80", `<td class="rs">[fd00:11:12::2]:8080</td>`, "<td>[fd00:11:12::2]:8080</td>"} {
		if !strings.Contains(b.String(), s) {
			t.Errorf("status table has no %q:\n%s", s, regexp.MustCompile(`\s+`).ReplaceAllString(b.String(), " "))
		}
	}
}
