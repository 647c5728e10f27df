package daemon

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"lvs/admin/api"
	"lvs/admin/web"
	"lvs/config"
)

// serveOnce answers every connection on a loopback listener with reply.
func serveOnce(t *testing.T, reply string) *net.TCPAddr {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				bufio.NewReader(c).ReadString('\n')
				c.Write([]byte(reply))
			}()
		}
	}()
	return l.Addr().(*net.TCPAddr)
}

func TestWebCheckNow(t *testing.T) {
	addr := serveOnce(t, "HTTP/1.0 200 OK\r\n\r\n")
	text := `primary = 192.168.26.9
service = lvs
network = direct
virtual web {
     active = 1
     address = 192.168.26.10 eth0:1
     port = ` + strconv.Itoa(addr.Port) + `
     send = "GET / HTTP/1.0\r\n\r\n"
     expect = "HTTP/1.0 200"
     timeout = 5
     server up {
         address = 127.0.0.1
         active = 0
     }
}
`
	c, err := config.Parse("lvs.cf", strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	d := &lvsd{}
	res, err := d.CheckNow(context.Background(), c, "web", "up")
	if err != nil || !res.OK || res.Latency <= 0 {
		t.Errorf("CheckNow(inactive server answering HTTP/1.0 200) = %+v, %v; want OK with a latency", res, err)
	}
	c.Virtual("web").Expect = "HTTP/1.1 500"
	if res, err := d.CheckNow(context.Background(), c, "web", "up"); err != nil || res.OK || res.Reason == "" {
		t.Errorf("CheckNow(expect mismatch) = %+v, %v; want a failure with a reason", res, err)
	}
	if _, err := d.CheckNow(context.Background(), c, "web", "nosuch"); err == nil {
		t.Error("CheckNow(unknown server) = nil error")
	}
	if _, err := d.CheckNow(context.Background(), c, "nosuch", "up"); err == nil {
		t.Error("CheckNow(unknown virtual) = nil error")
	}
}

func TestWebOptions(t *testing.T) {
	l, err := Options{}.allowList()
	if err != nil || len(l) != len(web.DefaultAllow) {
		t.Errorf("default allow-list = %v, %v; want loopback", l, err)
	}
	if _, err := (Options{AdminAllow: "10.0.0.0/33"}).allowList(); err == nil {
		t.Error("a bad --admin-allow was accepted")
	}
	if got := (Options{ConfigFile: "/srv/ha/lvs.cf"}).passwordFile(); got != "/srv/ha/piranha.passwd" {
		t.Errorf("default password file = %q, want next to lvs.cf", got)
	}
	if got := (Options{}).passwordFile(); got != web.DefaultPasswordFile {
		t.Errorf("default password file = %q, want %q", got, web.DefaultPasswordFile)
	}
}

func TestWebSetPassword(t *testing.T) {
	dir := t.TempDir()
	opts := Options{ConfigFile: filepath.Join(dir, "lvs.cf")}
	var errb strings.Builder
	if code := SetPassword(opts, strings.NewReader("s3cret-enough\n"), &errb); code != ExitOK {
		t.Fatalf("SetPassword = %d: %s", code, errb.String())
	}
	st, err := os.Stat(filepath.Join(dir, "piranha.passwd"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("password file: %v, mode %v; want 0600", err, st.Mode().Perm())
	}
	if strings.Contains(errb.String(), "s3cret") {
		t.Error("SetPassword printed the password")
	}
	if code := SetPassword(opts, strings.NewReader("short\n"), &errb); code != ExitError {
		t.Errorf("SetPassword(short) = %d, want %d", code, ExitError)
	}
}

// TestWebHandlerAccess: the admin listener's allow-list comes before the
// tool and the API alike, the API wants a login, and API changes over TCP
// are taken from loopback only.
func TestWebHandlerAccess(t *testing.T) {
	pw := filepath.Join(t.TempDir(), "piranha.passwd")
	token, err := web.NewToken(web.TokenFileFor(pw), "test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	bearer := "Bearer " + token
	try := func(d *lvsd, method, path, from, auth string) int {
		t.Helper()
		h := d.webHandler(d.newWebTool())
		r := httptest.NewRequest(method, path, strings.NewReader(`{"commands":[]}`))
		r.RemoteAddr = from
		if auth != "" {
			r.Header.Set("Authorization", auth)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code
	}
	d := &lvsd{opts: Options{PasswordFile: pw}, events: api.NewEventLog(8, nil), metrics: prometheus.NewRegistry()}
	for _, tt := range []struct {
		method, path, from, auth string
		want                     int
	}{
		{"GET", "/login", "127.0.0.1:1", "", http.StatusOK},
		{"GET", "/login", "192.0.2.1:1", "", http.StatusForbidden},
		{"GET", "/help", "192.0.2.1:1", "", http.StatusForbidden},
		{"GET", api.PathMetrics, "192.0.2.1:1", "", http.StatusForbidden},
		{"POST", api.PathCommand, "192.0.2.1:1", bearer, http.StatusForbidden},
		{"GET", "/control", "127.0.0.1:1", "", http.StatusSeeOther},
		{"GET", api.PathMetrics, "127.0.0.1:1", "", http.StatusOK},
		{"POST", api.PathCommand, "127.0.0.1:1", "", http.StatusUnauthorized},
	} {
		if got := try(d, tt.method, tt.path, tt.from, tt.auth); got != tt.want {
			t.Errorf("%s %s from %s (auth %t) = %d, want %d", tt.method, tt.path, tt.from, tt.auth != "", got, tt.want)
		}
	}
	open := &lvsd{opts: Options{AdminAllow: "all", PasswordFile: pw}, events: api.NewEventLog(8, nil), metrics: prometheus.NewRegistry()}
	if got := try(open, "GET", "/login", "192.0.2.1:1", ""); got != http.StatusOK {
		t.Errorf("GET /login from 192.0.2.1 with --admin-allow all = %d, want 200", got)
	}
	if got := try(open, "POST", api.PathCommand, "192.0.2.1:1", ""); got != http.StatusUnauthorized {
		t.Errorf("POST %s from 192.0.2.1 with --admin-allow all = %d, want 401 (no login)", api.PathCommand, got)
	}
	if got := try(open, "POST", api.PathCommand, "192.0.2.1:1", bearer); got != http.StatusForbidden {
		t.Errorf("POST %s from 192.0.2.1 with --admin-allow all and a token = %d, want 403 (loopback only)", api.PathCommand, got)
	}
}

// TestWebAPINeedsLogin: on the TCP admin listener the JSON API answers a
// request without credentials with 401 and a JSON error, even from an
// allowed address (it used to answer 200); a token or a web session opens
// it. /metrics is open to the allow-list unless metricsAuth asks for the
// login there too.
func TestWebAPINeedsLogin(t *testing.T) {
	pw := filepath.Join(t.TempDir(), "piranha.passwd")
	tokens := web.TokenFileFor(pw)
	token, err := web.NewToken(tokens, "test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := web.SetPassword(pw, "s3cret-enough"); err != nil {
		t.Fatal(err)
	}
	d := &lvsd{opts: Options{PasswordFile: pw, AdminAllow: "all"}, events: api.NewEventLog(8, nil), metrics: prometheus.NewRegistry()}
	tool := d.newWebTool()
	session := login(t, tool, "s3cret-enough")
	for _, metricsAuth := range []bool{false, true} {
		h := d.adminHandler(tool, metricsAuth)
		for _, tt := range []struct {
			name, path, auth, cookie string
			want                     int
		}{
			{"events, nothing", api.PathEvents, "", "", http.StatusUnauthorized},
			{"events, token", api.PathEvents, "Bearer " + token, "", http.StatusOK},
			{"events, wrong token", api.PathEvents, "Bearer " + web.TokenPrefix + "x", "", http.StatusUnauthorized},
			{"events, session", api.PathEvents, "", session, http.StatusOK},
			{"unknown endpoint, nothing", "/v1/nosuch", "", "", http.StatusUnauthorized},
			{"unknown endpoint, token", "/v1/nosuch", "Bearer " + token, "", http.StatusNotFound},
			{"metrics, nothing", api.PathMetrics, "", "", map[bool]int{false: http.StatusOK, true: http.StatusUnauthorized}[metricsAuth]},
			{"metrics, token", api.PathMetrics, "Bearer " + token, "", http.StatusOK},
		} {
			ctx, cancel := context.WithCancel(context.Background())
			cancel() // the event stream ends at once
			r := httptest.NewRequestWithContext(ctx, "GET", tt.path, nil)
			r.RemoteAddr = "192.0.2.1:1"
			if tt.auth != "" {
				r.Header.Set("Authorization", tt.auth)
			}
			if tt.cookie != "" {
				r.AddCookie(&http.Cookie{Name: web.SessionCookie, Value: tt.cookie})
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tt.want {
				t.Errorf("metricsAuth %t: %s: GET %s = %d, want %d", metricsAuth, tt.name, tt.path, w.Code, tt.want)
			}
			if tt.want == http.StatusUnauthorized && !strings.Contains(w.Body.String(), `"code":"unauthorized"`) {
				t.Errorf("metricsAuth %t: %s: 401 body %q is not the API's JSON error", metricsAuth, tt.name, w.Body)
			}
		}
	}
}

// login logs in to the tool as piranha and returns the session cookie.
func login(t *testing.T, tool *web.Server, password string) string {
	t.Helper()
	form := url.Values{"username": {web.User}, "password": {password}}
	r := httptest.NewRequest("POST", "/login", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.RemoteAddr = "127.0.0.1:1"
	w := httptest.NewRecorder()
	tool.Handler().ServeHTTP(w, r)
	for _, c := range w.Result().Cookies() {
		if c.Name == web.SessionCookie && c.Value != "" {
			return c.Value
		}
	}
	t.Fatalf("login = %d, no session cookie: %s", w.Code, w.Body)
	return ""
}

// TestWebListenTLS: --admin-cert/--admin-key make the admin listener speak
// TLS; a missing key or a bad --admin-allow stops lvsd at start.
func TestWebListenTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	writeSelfSigned(t, certFile, keyFile)
	d := &lvsd{opts: Options{Socket: "off", Admin: "127.0.0.1:0", AdminCert: certFile, AdminKey: keyFile}}
	if err := d.listen(); err != nil {
		t.Fatal(err)
	}
	defer d.web.Close()
	done := make(chan error, 1)
	go func() {
		c, err := d.web.Accept()
		if err == nil {
			err = c.(*tls.Conn).Handshake()
			c.Close()
		}
		done <- err
	}()
	c, err := tls.Dial("tcp", d.web.Addr().String(), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatalf("TLS handshake with the admin listener: %v", err)
	}
	c.Close()
	if err := <-done; err != nil {
		t.Errorf("server side of the handshake: %v", err)
	}
	bad := &lvsd{opts: Options{Socket: "off", Admin: "127.0.0.1:0", AdminCert: certFile, AdminKey: filepath.Join(dir, "none.pem")}}
	if err := bad.listen(); err == nil {
		bad.web.Close()
		t.Error("listen with a missing key file = nil error")
	}
	bad = &lvsd{opts: Options{Socket: "off", Admin: "127.0.0.1:0", AdminAllow: "example.com"}}
	if err := bad.listen(); err == nil || !strings.Contains(err.Error(), "--admin-allow") {
		t.Errorf("listen with a bad --admin-allow = %v", err)
	}
}

func writeSelfSigned(t *testing.T, certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "lvsd"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
}
