package web

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"lvs/config"
)

func TestEveryPage(t *testing.T) {
	h := newHarness(t)
	cookie := h.login()
	h.b.events.Publish("RS 10.11.12.1:80 UP")
	tests := []struct {
		path string
		want []string
	}{
		{"/control", []string{"CONTROL/MONITORING", "IP Virtual Server", "TCP  192.168.26.10:80 wlc", "10.11.12.1:80", "primary", "Auto update", "RS 10.11.12.1:80 UP", "last 1.5s ago"}},
		{"/control?auto=1&interval=30", []string{`content="30"`, "checked"}},
		{"/control?fragment=1", []string{`id="status"`, "CURRENT LVS ROUTING TABLE"}},
		{"/global", []string{"GLOBAL SETTINGS", `value="192.168.26.9"`, `value="10.11.12.10"`, `value="eth1:1"`, "ACCEPT"}},
		{"/redundancy", []string{"REDUNDANCY", `value="192.168.26.8"`, `name="keepalive" id="f-keepalive" value="2"`}},
		{"/virtual", []string{"VIRTUAL SERVERS", `value="web"`, "192.168.26.10", "eth0:1", "2/2", ">up<", "(DE)ACTIVATE"}},
		{"/virtual/web", []string{"VIRTUAL SERVER", `value="192.168.26.10"`, `value="eth0:1"`, `<option value="wlc" selected>`, "REAL SERVER", "MONITORING SCRIPTS"}},
		{"/virtual/newone", []string{"VIRTUAL SERVER (new)", `value="80"`}},
		{"/virtual/web/real", []string{"REAL SERVER", "web1", "10.11.12.1", "web2", "DRAIN", "MAINTENANCE", "READY"}},
		{"/virtual/web/real/web2", []string{"EDIT REAL SERVER", `value="10.11.12.2"`, `name="weight" id="f-weight" value="2"`}},
		{"/virtual/web/scripts", []string{"EDIT MONITORING SCRIPTS", `GET / HTTP/1.0\r\n\r\n`, `value="HTTP"`, "TEST NOW"}},
		{"/pending", []string{"PENDING CHANGES", "No change is pending", "virtual web {"}},
		{"/charts", []string{"CHARTS"}},
		{"/help", []string{"lvsadm passwd", h.s.o.PasswordFile}},
		{"/static/style.css", []string{"font-family"}},
	}
	for _, tt := range tests {
		w := h.do("GET", tt.path, nil, cookie)
		if w.Code != http.StatusOK {
			t.Errorf("GET %s = %d, want 200", tt.path, w.Code)
			continue
		}
		for _, s := range tt.want {
			if !strings.Contains(w.Body.String(), s) {
				t.Errorf("GET %s: no %q in the page", tt.path, s)
			}
		}
	}
	if w := h.do("GET", "/virtual/nosuch/real", nil, cookie); w.Code != http.StatusNotFound {
		t.Errorf("GET /virtual/nosuch/real = %d, want 404", w.Code)
	}
}

// fieldError extracts the errors shown next to field name.
func fieldError(body, name string) string {
	re := regexp.MustCompile(`<div class="error field-error" data-field="` + name + `">([^<]*)</div>`)
	var out []string
	for _, m := range re.FindAllStringSubmatch(body, -1) {
		out = append(out, m[1])
	}
	return strings.Join(out, "; ")
}

// formOf returns the current values of a panel's form, to change one.
func formOf(h *harness, cookie, path string, fields []field) url.Values {
	h.t.Helper()
	text, _, err := h.s.stagedText(h.s.sess.all[cookie])
	if err != nil {
		h.t.Fatal(err)
	}
	f := newForm(fields)
	p := blockPath{}
	parts := strings.Split(strings.Trim(path, "/"), "/")
	if len(parts) >= 2 && parts[0] == "virtual" {
		p = blockPath{parts[1]}
		if len(parts) == 4 {
			p = append(p, parts[3])
		}
	}
	f.load(text, p)
	v := url.Values{}
	for _, fd := range fields {
		if fd.Kind == "check" && f.Values[fd.Name] != "1" {
			continue
		}
		v.Set(fd.Name, f.Values[fd.Name])
	}
	if len(p) > 0 {
		v.Set("name", p[len(p)-1])
	}
	return v
}

// TestValidationErrors posts one wrong value into each panel and checks
// that the error of config.Parse is shown next to that field and nothing
// is staged.
func TestValidationErrors(t *testing.T) {
	tests := []struct {
		path   string
		fields []field
		field  string
		value  string
		want   string // in the field's error
	}{
		{"/global", globalFields, "primary", "10.0.0.300", "primary"},
		{"/global", globalFields, "primary", "", "missing primary"},
		{"/global", globalFields, "primary_private", "a b", "one word"},
		{"/global", globalFields, "network", "carrier-pigeon", "expected nat, direct or tunnel"},
		{"/global", globalFields, "nat_router", "10.11.12", "nat_router"},
		{"/global", globalFields, "nat_router_device", "eth1 eth2", "one word"},
		{"/global", globalFields, "nat_router_device", "", "nat_router"},
		{"/global", globalFields, "nat_nmask", "255.0.255.0", "contiguous"},
		{"/global", globalFields, "tcp_timeout", "-3", "tcp_timeout"},
		{"/global", globalFields, "udp_timeout", "soon", "udp_timeout"},
		{"/redundancy", redundancyFields, "backup", "192.168.26.9", "also the primary"},
		{"/redundancy", redundancyFields, "backup_private", "x", "backup_private"},
		{"/redundancy", redundancyFields, "keepalive", "0", "keepalive"},
		{"/redundancy", redundancyFields, "deadtime", "1O", "deadtime"},
		{"/redundancy", redundancyFields, "heartbeat_port", "70000", "heartbeat_port"},
		{"/virtual/web", virtualFields, "port", "8o", "port"},
		{"/virtual/web", virtualFields, "protocol", "icmp", "protocol"},
		{"/virtual/web", virtualFields, "address", "192.168.26", "address"},
		{"/virtual/web", virtualFields, "device", "eth0:1{", "one word"},
		{"/virtual/web", virtualFields, "vip_nmask", "255.255.0.255", "contiguous"},
		{"/virtual/web", virtualFields, "fwmark", "-1", "fwmark"},
		{"/virtual/web", virtualFields, "reentry", "later", "reentry"},
		{"/virtual/web", virtualFields, "timeout", "0", "timeout"},
		{"/virtual/web", virtualFields, "scheduler", "fastest", "expected a scheduler"},
		{"/virtual/web", virtualFields, "persistent", "-1", "persistent"},
		{"/virtual/web", virtualFields, "pmask", "1.2.3.4", "netmask"},
		{"/virtual/web", virtualFields, "sorry_server", "10.11.12.999", "sorry_server"},
		{"/virtual/web", virtualFields, "load_monitor", "'rup'", "one word"},
		{"/virtual/web", virtualFields, "name", "web server", "letters, digits"},
		{"/virtual/web/real/web1", realFields, "address", "10.11.12.256", "address"},
		{"/virtual/web/real/web1", realFields, "address", "", "address"},
		{"/virtual/web/real/web1", realFields, "weight", "70000", "weight"},
		{"/virtual/web/real/web1", realFields, "weight", "heavy", "weight"},
		{"/virtual/web/real/web1", realFields, "port", "0", "port"},
		{"/virtual/web/real/web1", realFields, "name", "", "a name is required"},
		{"/virtual/web/scripts", scriptFields, "send", "GET /\r\nHost: x", "one line"},
		{"/virtual/web/scripts", scriptFields, "expect", `both " and '`, "both kinds of quote"},
	}
	for _, tt := range tests {
		t.Run(tt.path+"/"+tt.field+"="+tt.value, func(t *testing.T) {
			h := newHarness(t)
			cookie := h.login()
			form := formOf(h, cookie, tt.path, tt.fields)
			form.Set(tt.field, tt.value)
			w := h.do("POST", tt.path, form, cookie)
			if w.Code != http.StatusUnprocessableEntity {
				t.Fatalf("POST %s %s=%q = %d, want 422", tt.path, tt.field, tt.value, w.Code)
			}
			if got := fieldError(w.Body.String(), tt.field); !strings.Contains(got, tt.want) {
				t.Errorf("POST %s %s=%q: error next to the field = %q, want %q\n%s", tt.path, tt.field, tt.value, got, tt.want,
					regexp.MustCompile(`class="error[^"]*"[^>]*>[^<]*`).FindAllString(w.Body.String(), -1))
			}
			if !strings.ContainsAny(tt.value, "\r\n") && !isSelect(tt.fields, tt.field) && !strings.Contains(w.Body.String(), "value=\""+template_escape(tt.value)+"\"") {
				t.Errorf("POST %s: the form does not keep the typed value %q", tt.path, tt.value)
			}
			if n := h.pending(cookie); n != 0 {
				t.Errorf("POST %s with an error staged %d edits", tt.path, n)
			}
		})
	}
}

func isSelect(fields []field, name string) bool {
	for _, f := range fields {
		if f.Name == name {
			return f.Kind == "select"
		}
	}
	return false
}

func template_escape(s string) string {
	r := strings.NewReplacer(`&`, "&amp;", `'`, "&#39;", `<`, "&lt;", `>`, "&gt;", `"`, "&#34;", "\r", "&#xd;", "\n", "&#xa;")
	return r.Replace(s)
}

// TestCrossBlockError: an error config.Parse finds across blocks (a
// second active virtual server on the same address and port) refuses the
// edit with the message, and nothing more is staged.
func TestCrossBlockError(t *testing.T) {
	h := newHarness(t)
	cookie := h.login()
	w := h.do("POST", "/virtual/dup", url.Values{"name": {"dup"}, "port": {"80"}, "protocol": {"tcp"}, "address": {"192.168.26.10"},
		"device": {"eth0:1"}, "scheduler": {"wlc"}, "timeout": {"6"}, "reentry": {"15"}}, cookie)
	if w.Code != http.StatusSeeOther || h.pending(cookie) != 1 {
		t.Fatalf("ADD an inactive virtual dup = %d, %d pending; want 303 and 1", w.Code, h.pending(cookie))
	}
	h.do("POST", "/virtual", url.Values{"action": {"toggle"}, "sel": {"dup"}}, cookie)
	body := h.do("GET", "/virtual", nil, cookie).Body.String()
	if !strings.Contains(body, "activate virtual dup refused") || !strings.Contains(body, "is already served by virtual web") {
		t.Errorf("activating a second virtual on 192.168.26.10:80 gave no refusal:\n%s", body)
	}
	if h.pending(cookie) != 1 {
		t.Error("a refused activation was staged")
	}
}

func TestStageAndApplyRealServer(t *testing.T) {
	h := newHarness(t)
	cookie := h.login()
	before := h.b.file(t)
	w := h.do("POST", "/virtual/web/real", url.Values{"action": {"add"}, "newname": {"web3"}}, cookie)
	if loc := w.Header().Get("Location"); w.Code != http.StatusSeeOther || loc != "/virtual/web/real/web3" {
		t.Fatalf("ADD web3 = %d → %q, want 303 → /virtual/web/real/web3", w.Code, loc)
	}
	w = h.do("POST", "/virtual/web/real/web3", url.Values{"name": {"web3"}, "address": {"10.11.12.3"}, "weight": {"3"}, "active": {"1"}}, cookie)
	if w.Code != http.StatusSeeOther {
		t.Fatalf("ACCEPT web3 = %d %s", w.Code, w.Body)
	}
	if h.b.file(t) != before {
		t.Fatal("ACCEPT changed lvs.cf; it must only stage")
	}
	for _, p := range []string{"/control", "/global", "/virtual/web/real"} {
		body := h.do("GET", p, nil, cookie).Body.String()
		if !strings.Contains(body, "add virtual web, server web3") || !strings.Contains(body, "APPLY") {
			t.Errorf("GET %s does not show the pending edit", p)
		}
	}
	if body := h.do("GET", "/pending", nil, cookie).Body.String(); !strings.Contains(body, "server web3 {") {
		t.Error("the staged lvs.cf has no server web3")
	}
	w = h.do("POST", "/apply", nil, cookie)
	if w.Code != http.StatusSeeOther {
		t.Fatalf("APPLY = %d", w.Code)
	}
	after := h.b.file(t)
	c, err := config.Parse("lvs.cf", strings.NewReader(after))
	if err != nil {
		t.Fatalf("lvs.cf after APPLY does not parse: %v", err)
	}
	if s := c.Virtual("web").Server("web3"); s == nil || s.Address.String() != "10.11.12.3" || s.Weight != 3 || !s.Active {
		t.Errorf("lvs.cf after APPLY: server web3 = %+v", s)
	}
	if c.Serial != 4 {
		t.Errorf("serial_no after APPLY = %d, want 4 (bumped)", c.Serial)
	}
	if h.pending(cookie) != 0 {
		t.Error("edits still pending after APPLY")
	}
	body := h.do("GET", "/control", nil, cookie).Body.String()
	if !strings.Contains(body, "applied") || !strings.Contains(body, "10.11.12.3:80") {
		t.Error("CONTROL after APPLY: no confirmation or no 10.11.12.3:80 in the routing table")
	}
}

func TestApplyConflictKeepsEdits(t *testing.T) {
	h := newHarness(t)
	cookie := h.login()
	form := formOf(h, cookie, "/redundancy", redundancyFields)
	form.Set("keepalive", "3")
	if w := h.do("POST", "/redundancy", form, cookie); w.Code != http.StatusSeeOther {
		t.Fatalf("ACCEPT keepalive=3 = %d %s", w.Code, w.Body)
	}
	// Someone else changes lvs.cf meanwhile.
	other := strings.Replace(h.b.file(t), "deadtime = 6", "deadtime = 9", 1)
	if err := config.ReplaceText(h.b.path, []byte(other)); err != nil {
		t.Fatal(err)
	}
	h.do("POST", "/apply", nil, cookie)
	if h.b.file(t) != other {
		t.Fatal("APPLY over a changed file wrote it")
	}
	body := h.do("GET", "/pending", nil, cookie).Body.String()
	if !strings.Contains(body, "CONFLICT") || !strings.Contains(body, "REBASE") {
		t.Error("no conflict message or REBASE button after a conflicting APPLY")
	}
	if h.pending(cookie) != 1 {
		t.Fatalf("pending edits after the conflict = %d, want 1 (kept)", h.pending(cookie))
	}
	h.do("POST", "/rebase", nil, cookie)
	h.do("POST", "/apply", nil, cookie)
	c, err := config.Parse("lvs.cf", strings.NewReader(h.b.file(t)))
	if err != nil {
		t.Fatal(err)
	}
	if c.Keepalive != 3*time.Second || c.Deadtime != 9*time.Second {
		t.Errorf("after REBASE and APPLY: keepalive %v deadtime %v, want 3s and 9s (both edits)", c.Keepalive, c.Deadtime)
	}
}

func TestVirtualServerButtons(t *testing.T) {
	h := newHarness(t)
	cookie := h.login()
	post := func(path string, v url.Values) {
		t.Helper()
		if w := h.do("POST", path, v, cookie); w.Code != http.StatusSeeOther {
			t.Fatalf("POST %s %v = %d %s", path, v, w.Code, w.Body)
		}
	}
	staged := func() *config.Config {
		t.Helper()
		text, _, _ := h.s.stagedText(h.s.sess.all[cookie])
		c, err := config.Parse("x", strings.NewReader(text))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	post("/virtual", url.Values{"action": {"toggle"}, "sel": {"web"}})
	if staged().Virtual("web").Active {
		t.Error("(DE)ACTIVATE left web active")
	}
	post("/virtual", url.Values{"action": {"toggle"}, "sel": {"web"}})
	if !staged().Virtual("web").Active {
		t.Error("second (DE)ACTIVATE left web inactive")
	}
	post("/virtual/ftp", url.Values{"name": {"ftp"}, "port": {"21"}, "protocol": {"tcp"}, "address": {"192.168.26.11"},
		"device": {"eth0:2"}, "scheduler": {"rr"}, "persistent": {"300"}, "active": {"1"}})
	if v := staged().Virtual("ftp"); v == nil || v.Port != 21 || v.Scheduler != config.SchedRR || v.Persistent != 300*time.Second {
		t.Errorf("ADD ftp staged %+v", v)
	}
	post("/virtual/ftp", url.Values{"name": {"ftp2"}, "port": {"21"}, "protocol": {"tcp"}, "address": {"192.168.26.11"},
		"device": {"eth0:2"}, "scheduler": {"rr"}})
	if c := staged(); c.Virtual("ftp") != nil || c.Virtual("ftp2") == nil {
		t.Error("renaming ftp to ftp2 did not")
	}
	post("/virtual", url.Values{"action": {"delete"}, "sel": {"ftp2"}})
	if staged().Virtual("ftp2") != nil {
		t.Error("DELETE left ftp2")
	}
	w := h.do("POST", "/virtual", url.Values{"action": {"delete"}}, cookie)
	if body := h.do("GET", "/virtual", nil, cookie).Body.String(); w.Code != http.StatusSeeOther || !strings.Contains(body, "select a virtual server first") {
		t.Error("DELETE without a selection gave no message")
	}
	w = h.do("POST", "/virtual", url.Values{"action": {"add"}, "newname": {"bad name"}}, cookie)
	if body := h.do("GET", "/virtual", nil, cookie).Body.String(); !strings.Contains(body, "letters, digits") {
		t.Error("ADD with a bad name gave no message")
	}

	// Real server operations.
	post("/virtual/web/real", url.Values{"action": {"drain"}, "sel": {"web2"}})
	if s := staged().Virtual("web").Server("web2"); s.Weight != 0 || !s.Active {
		t.Errorf("DRAIN web2: weight %d active %v, want 0 and active", s.Weight, s.Active)
	}
	post("/virtual/web/real", url.Values{"action": {"maintenance"}, "sel": {"web2"}})
	if s := staged().Virtual("web").Server("web2"); s.Active {
		t.Error("MAINTENANCE left web2 active")
	}
	post("/virtual/web/real", url.Values{"action": {"ready"}, "sel": {"web2"}, "readyweight": {"2"}})
	if s := staged().Virtual("web").Server("web2"); !s.Active || s.Weight != 2 {
		t.Errorf("READY web2: weight %d active %v, want 2 and active", s.Weight, s.Active)
	}
	post("/virtual/web/real", url.Values{"action": {"delete"}, "sel": {"web1"}})
	if staged().Virtual("web").Server("web1") != nil {
		t.Error("DELETE left web1")
	}
	if n := h.pending(cookie); n != 9 {
		t.Errorf("pending edits = %d, want 9", n)
	}
	h.do("POST", "/discard", nil, cookie)
	if h.pending(cookie) != 0 || staged().Virtual("web").Server("web1") == nil {
		t.Error("DISCARD kept the edits")
	}
}

func TestMonitoringScriptsTestNow(t *testing.T) {
	h := newHarness(t)
	cookie := h.login()
	form := url.Values{"send": {`HEAD / HTTP/1.0\r\n\r\n`}, "expect": {"HTTP/1.1 200"}, "action": {"test"}, "server": {"web2"}}
	w := h.do("POST", "/virtual/web/scripts", form, cookie)
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "PASS web2 in 3ms") {
		t.Fatalf("TEST NOW = %d, no PASS result:\n%s", w.Code, w.Body)
	}
	if v := h.b.checked.Virtual("web"); v.Send != `HEAD / HTTP/1.0\r\n\r\n` || v.Expect != "HTTP/1.1 200" {
		t.Errorf("TEST NOW checked with send %q expect %q; want the values typed", v.Send, v.Expect)
	}
	if h.pending(cookie) != 0 {
		t.Error("TEST NOW staged an edit")
	}
	h.b.check = CheckResult{OK: false, Reason: `expect mismatch: got "HTTP/1.0 500"`, Latency: 12 * time.Millisecond}
	w = h.do("POST", "/virtual/web/scripts", form, cookie)
	if !strings.Contains(w.Body.String(), "FAIL web2 in 12ms: expect mismatch") {
		t.Errorf("TEST NOW of a failing check shows no FAIL:\n%s", w.Body)
	}
	form.Set("action", "accept")
	form.Set("send_program", "/usr/local/bin/check %h")
	if w := h.do("POST", "/virtual/web/scripts", form, cookie); w.Code != http.StatusSeeOther {
		t.Fatalf("ACCEPT scripts = %d %s", w.Code, w.Body)
	}
	text, _, _ := h.s.stagedText(h.s.sess.all[cookie])
	c, _ := config.Parse("x", strings.NewReader(text))
	if v := c.Virtual("web"); v.SendProgram != "/usr/local/bin/check %h" || v.Expect != "HTTP/1.1 200" {
		t.Errorf("staged scripts: send_program %q expect %q", v.SendProgram, v.Expect)
	}
}

func TestCharts(t *testing.T) {
	h := newHarness(t)
	cookie := h.login()
	for i := range 5 {
		h.b.conns = uint64(i * 50)
		h.s.Sample()
		h.clock.add(sampleEvery)
	}
	body := h.do("GET", "/charts", nil, cookie).Body.String()
	for _, want := range []string{"<svg", "connections/s: now 10", "active connections: now 2", "bytes/s: now 1.0k", "10.11.12.1:80", "check latency: not reported"} {
		if !strings.Contains(body, want) {
			t.Errorf("/charts: no %q", want)
		}
	}
	if strings.Contains(body, "check latency (ms)") {
		t.Error("/charts draws a latency chart without latency data")
	}
	h.b.latency = 7 * time.Millisecond
	h.s.Sample()
	if body := h.do("GET", "/charts", nil, cookie).Body.String(); !strings.Contains(body, "check latency (ms): now 7") {
		t.Error("/charts: no latency chart once latency is reported")
	}
}

// TestSelectKeepsUnlistedValue: a value the drop-down does not offer (a
// load_monitor command) is offered as it is, so ACCEPT keeps it.
func TestSelectKeepsUnlistedValue(t *testing.T) {
	h := newHarness(t)
	text := strings.Replace(siteCf, "     scheduler = wlc\n", "     scheduler = wlc\n     load_monitor = /usr/local/bin/load\n", 1)
	if err := config.ReplaceText(h.b.path, []byte(text)); err != nil {
		t.Fatal(err)
	}
	cookie := h.login()
	body := h.do("GET", "/virtual/web", nil, cookie).Body.String()
	if !strings.Contains(body, `<option value="/usr/local/bin/load" selected>`) {
		t.Errorf("the load_monitor drop-down does not offer the file's value:\n%s", body)
	}
}
