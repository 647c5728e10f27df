package web

import (
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestAuthNoSessionGoesToLogin(t *testing.T) {
	h := newHarness(t)
	for _, p := range []string{"/", "/control", "/global", "/redundancy", "/virtual", "/virtual/web/real", "/pending", "/charts"} {
		w := h.do("GET", p, nil, "")
		if w.Code != http.StatusSeeOther || !strings.HasPrefix(w.Header().Get("Location"), "/login") {
			t.Errorf("GET %s without a session = %d Location %q; want 303 to /login", p, w.Code, w.Header().Get("Location"))
		}
	}
	w := h.do("POST", "/global", url.Values{"primary": {"1.2.3.4"}}, "")
	if w.Code != http.StatusUnauthorized {
		t.Errorf("POST /global without a session = %d, want 401", w.Code)
	}
	w = h.do("GET", "/control", nil, "forged-session-id")
	if w.Code != http.StatusSeeOther {
		t.Errorf("GET /control with an unknown session = %d, want 303", w.Code)
	}
	w = h.do("GET", "/login", nil, "")
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `name="password"`) {
		t.Errorf("GET /login = %d, want 200 and the login form", w.Code)
	}
}

func TestAuthLogin(t *testing.T) {
	h := newHarness(t)
	tests := []struct {
		name, user, pass string
		code             int
		body             string
	}{
		{"wrong password", User, "guess", http.StatusUnauthorized, "wrong user name or password"},
		{"wrong user", "root", testPassword, http.StatusUnauthorized, "wrong user name or password"},
		{"empty", "", "", http.StatusUnauthorized, "wrong user name or password"},
		{"right", User, testPassword, http.StatusSeeOther, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := h.do("POST", "/login", url.Values{"username": {tt.user}, "password": {tt.pass}}, "")
			if w.Code != tt.code || !strings.Contains(w.Body.String(), tt.body) {
				t.Errorf("login as %q/%q = %d %q; want %d %q", tt.user, tt.pass, w.Code, w.Body, tt.code, tt.body)
			}
			hasCookie := false
			for _, c := range w.Result().Cookies() {
				if c.Name == SessionCookie {
					hasCookie = true
					if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.MaxAge <= 0 {
						t.Errorf("session cookie %+v: want HttpOnly, SameSite=Strict and an expiry", c)
					}
				}
			}
			if hasCookie != (tt.code == http.StatusSeeOther) {
				t.Errorf("login as %q: session cookie set = %v", tt.user, hasCookie)
			}
		})
	}
}

func TestAuthSecureCookieOverTLS(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.Secure = true })
	w := h.do("POST", "/login", url.Values{"username": {User}, "password": {testPassword}}, "")
	for _, c := range w.Result().Cookies() {
		if c.Name == SessionCookie && !c.Secure {
			t.Errorf("session cookie over TLS is not Secure: %+v", c)
		}
	}
}

func TestAuthNoPasswordSet(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.PasswordFile = filepath.Join(t.TempDir(), "none") })
	w := h.do("POST", "/login", url.Values{"username": {User}, "password": {"anything1"}}, "")
	if w.Code != http.StatusUnauthorized || !strings.Contains(w.Body.String(), "no administrator password is set") {
		t.Errorf("login without a password file = %d %q; want 401 and how to set one", w.Code, w.Body)
	}
}

func TestSetPasswordFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "piranha.passwd")
	if err := SetPassword(path, "short"); err == nil {
		t.Error("SetPassword accepted a 5-character password")
	}
	if err := SetPassword(path, testPassword+"\n"); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("password file mode = %v, want 0600", st.Mode().Perm())
	}
	b, _ := os.ReadFile(path)
	if strings.Contains(string(b), testPassword) || !strings.HasPrefix(string(b), "piranha:$2") {
		t.Errorf("password file = %q; want piranha:<bcrypt hash> and no password", b)
	}
	if err := verify(path, User, testPassword); err != nil {
		t.Errorf("verify(right password) = %v", err)
	}
	if err := verify(path, User, testPassword+"x"); err == nil {
		t.Error("verify(wrong password) = nil")
	}
	var out strings.Builder
	if code := Passwd([]string{"--password-file", path}, strings.NewReader("another password\n"), io.Discard, &out); code != 0 {
		t.Fatalf("Passwd = %d: %s", code, out.String())
	}
	if err := verify(path, User, "another password"); err != nil || strings.Contains(out.String(), "another password") {
		t.Errorf("after Passwd: verify = %v, output %q", err, out.String())
	}
}

func TestAllowListBeforeAuth(t *testing.T) {
	h := newHarness(t)
	cookie := h.login()
	for _, p := range []string{"/login", "/help", "/static/style.css", "/control", "/"} {
		w := h.do("GET", p, nil, cookie, "RemoteAddr", "192.0.2.7:5555")
		if w.Code != http.StatusForbidden {
			t.Errorf("GET %s from 192.0.2.7 = %d, want 403 (loopback only by default)", p, w.Code)
		}
	}
	w := h.do("POST", "/login", url.Values{"username": {User}, "password": {testPassword}}, "", "RemoteAddr", "192.0.2.7:5555")
	if w.Code != http.StatusForbidden || len(w.Result().Cookies()) != 0 {
		t.Errorf("POST /login from 192.0.2.7 = %d, want 403 and no session", w.Code)
	}
	w = h.do("GET", "/help", nil, "", "RemoteAddr", "[::1]:5555")
	if w.Code != http.StatusOK {
		t.Errorf("GET /help from ::1 = %d, want 200", w.Code)
	}

	list, err := ParseAllowList("192.168.1.100, 172.16.57 10.0.0.0/8")
	if err != nil {
		t.Fatal(err)
	}
	h2 := newHarness(t, func(o *Options) { o.Allow = list })
	for addr, want := range map[string]int{
		"192.168.1.100:1": http.StatusOK, "172.16.57.9:1": http.StatusOK, "10.9.9.9:1": http.StatusOK,
		"172.16.58.1:1": http.StatusForbidden, "192.168.1.101:1": http.StatusForbidden, "127.0.0.1:1": http.StatusForbidden,
	} {
		if w := h2.do("GET", "/login", nil, "", "RemoteAddr", addr); w.Code != want {
			t.Errorf("GET /login from %s with the list %v = %d, want %d", addr, list, w.Code, want)
		}
	}
}

func TestParseAllowList(t *testing.T) {
	for _, bad := range []string{"", "10.0.0.0/33", "host.example", "1.2.3.4.5", "300.1.1.1"} {
		if _, err := ParseAllowList(bad); err == nil {
			t.Errorf("ParseAllowList(%q) = nil error", bad)
		}
	}
	l, err := ParseAllowList("all")
	if err != nil || !Allowed(l, "203.0.113.5:80") || !Allowed(l, "[2001:db8::1]:80") {
		t.Errorf("ParseAllowList(all) = %v, %v: want everyone", l, err)
	}
}

func TestCSRFRefused(t *testing.T) {
	h := newHarness(t)
	cookie := h.login()
	form := url.Values{"primary": {"192.168.26.19"}}
	w := h.do("POST", "/global", form, cookie, "Sec-Fetch-Site", "cross-site")
	if w.Code != http.StatusForbidden {
		t.Errorf("cross-site POST /global = %d, want 403", w.Code)
	}
	w = h.do("POST", "/apply", nil, cookie, "Origin", "http://evil.example")
	if w.Code != http.StatusForbidden {
		t.Errorf("POST /apply from Origin evil.example = %d, want 403", w.Code)
	}
	w = h.do("POST", "/login", url.Values{"username": {User}, "password": {testPassword}}, "", "Sec-Fetch-Site", "cross-site")
	if w.Code != http.StatusForbidden {
		t.Errorf("cross-site POST /login = %d, want 403", w.Code)
	}
	if h.pending(cookie) != 0 {
		t.Error("a refused cross-site POST staged an edit")
	}
	w = h.do("POST", "/global", url.Values{"primary": {"192.168.26.19"}, "network": {"nat"}, "nat_router": {"10.11.12.10"},
		"nat_router_device": {"eth1:1"}, "nat_nmask": {"255.255.255.0"}}, cookie, "Sec-Fetch-Site", "same-origin")
	if w.Code != http.StatusSeeOther {
		t.Errorf("same-origin POST /global = %d %s, want 303", w.Code, w.Body)
	}
}

func TestSessionExpiry(t *testing.T) {
	h := newHarness(t)
	cookie := h.login()
	h.clock.add(IdleTimeout - time.Minute)
	if w := h.do("GET", "/control", nil, cookie); w.Code != http.StatusOK {
		t.Fatalf("GET /control %v after login = %d, want 200", IdleTimeout-time.Minute, w.Code)
	}
	h.clock.add(IdleTimeout + time.Second)
	if w := h.do("GET", "/control", nil, cookie); w.Code != http.StatusSeeOther {
		t.Errorf("GET /control after %v idle = %d, want 303 to the login page", IdleTimeout+time.Second, w.Code)
	}
	// A busy session still ends after MaxSession.
	cookie = h.login()
	for elapsed := time.Duration(0); elapsed < MaxSession; elapsed += 20 * time.Minute {
		h.clock.add(20 * time.Minute)
		h.do("GET", "/help", nil, cookie)
		h.do("GET", "/control", nil, cookie)
	}
	h.clock.add(time.Minute)
	if w := h.do("GET", "/control", nil, cookie); w.Code != http.StatusSeeOther {
		t.Errorf("GET /control after %v of use = %d, want 303", MaxSession, w.Code)
	}
	// Logout ends the session.
	cookie = h.login()
	h.do("POST", "/logout", nil, cookie)
	if w := h.do("GET", "/control", nil, cookie); w.Code != http.StatusSeeOther {
		t.Errorf("GET /control after logout = %d, want 303", w.Code)
	}
}

func TestLoginRateLimit(t *testing.T) {
	h := newHarness(t)
	bad := url.Values{"username": {User}, "password": {"guess1234"}}
	for i := range 5 {
		if w := h.do("POST", "/login", bad, ""); w.Code != http.StatusUnauthorized {
			t.Fatalf("failed login %d = %d, want 401", i+1, w.Code)
		}
	}
	good := url.Values{"username": {User}, "password": {testPassword}}
	w := h.do("POST", "/login", good, "")
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") == "" {
		t.Fatalf("login after 5 failures = %d (Retry-After %q), want 429 even with the right password", w.Code, w.Header().Get("Retry-After"))
	}
	if w := h.do("POST", "/login", good, "", "RemoteAddr", "127.0.0.2:1"); w.Code != http.StatusSeeOther {
		t.Errorf("login from another client = %d, want 303: the limit is per client", w.Code)
	}
	h.clock.add(61 * time.Second)
	if w := h.do("POST", "/login", good, ""); w.Code != http.StatusSeeOther {
		t.Errorf("login a minute later = %d, want 303", w.Code)
	}
}
