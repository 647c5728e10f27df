package web

import (
	"encoding/json"
	"errors"
	"lvs/admin/api"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestTokenFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "piranha.tokens")
	now := time.Date(2026, 12, 5, 22, 0, 0, 0, time.UTC)
	if err := checkToken(path, TokenPrefix+"x"); !errors.Is(err, ErrNoToken) {
		t.Errorf("checkToken(no file) = %v, want ErrNoToken", err)
	}
	ci, err := NewToken(path, "ci", now)
	if err != nil {
		t.Fatal(err)
	}
	ops, err := NewToken(path, "ops@example.org", now)
	if err != nil {
		t.Fatal(err)
	}
	if ci == ops || !strings.HasPrefix(ci, TokenPrefix) || len(ci) < len(TokenPrefix)+40 {
		t.Errorf("NewToken = %q and %q; want two different long %s… tokens", ci, ops, TokenPrefix)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("token file: %v, mode %v; want 0600", err, st.Mode().Perm())
	}
	b, _ := os.ReadFile(path)
	if strings.Contains(string(b), ci[len(TokenPrefix):]) || !strings.Contains(string(b), "ci "+tokenHash(ci)+" 2026-12-05T22:00:00Z\n") {
		t.Errorf("token file holds the token or lacks its hash:\n%s", b)
	}
	altered := ci[:len(ci)-1] + "A"
	if altered == ci { // the token's last character was already A (1 in 64)
		altered = ci[:len(ci)-1] + "B"
	}
	for _, tt := range []struct {
		name, token string
		want        error
	}{
		{"first", ci, nil},
		{"second", ops, nil},
		{"altered", altered, ErrNoToken},
		{"hash itself", tokenHash(ci), ErrNoToken},
		{"empty", "", ErrNoToken},
	} {
		if err := checkToken(path, tt.token); !errors.Is(err, tt.want) {
			t.Errorf("checkToken(%s) = %v, want %v", tt.name, err, tt.want)
		}
	}
	if n, err := RevokeTokens(path, "ci"); n != 1 || err != nil {
		t.Errorf("RevokeTokens(ci) = %d, %v; want 1", n, err)
	}
	if checkToken(path, ci) == nil || checkToken(path, ops) != nil {
		t.Error("after revoking ci: ci still valid or ops no longer valid")
	}
	if n, err := RevokeTokens(path, ""); n != 1 || err != nil || checkToken(path, ops) == nil {
		t.Errorf("RevokeTokens(all) = %d, %v; ops valid after: %v", n, err, checkToken(path, ops) == nil)
	}
	if _, err := NewToken(path, "two words", now); err == nil {
		t.Error("NewToken accepted a label with a blank")
	}
}

// TestRequireLogin: the API on the TCP listener answers only with a valid
// token or a logged-in session; everything else gets 401 and a JSON error.
func TestRequireLogin(t *testing.T) {
	h := newHarness(t)
	token, err := NewToken(h.s.o.TokenFile, "ci", h.clock.now())
	if err != nil {
		t.Fatal(err)
	}
	revoked, _ := NewToken(h.s.o.TokenFile, "old", h.clock.now())
	if _, err := RevokeTokens(h.s.o.TokenFile, "old"); err != nil {
		t.Fatal(err)
	}
	cookie := h.login()
	guarded := h.s.RequireLogin(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"ok":true}`))
	}))
	for _, tt := range []struct {
		name, method string
		hdr          map[string]string
		cookie       string
		want         int
	}{
		{"nothing", "GET", nil, "", http.StatusUnauthorized},
		{"token", "GET", map[string]string{"Authorization": "Bearer " + token}, "", http.StatusOK},
		{"token, scheme in lower case", "GET", map[string]string{"Authorization": "bearer " + token}, "", http.StatusOK},
		{"token, cross-site POST", "POST", map[string]string{"Authorization": "Bearer " + token, "Sec-Fetch-Site": "cross-site"}, "", http.StatusOK},
		{"revoked token", "GET", map[string]string{"Authorization": "Bearer " + revoked}, "", http.StatusUnauthorized},
		{"wrong token with a session", "GET", map[string]string{"Authorization": "Bearer " + TokenPrefix + "nope"}, cookie, http.StatusUnauthorized},
		{"basic auth", "GET", map[string]string{"Authorization": "Basic cGlyYW5oYTp4"}, "", http.StatusUnauthorized},
		{"session", "GET", nil, cookie, http.StatusOK},
		{"session, same-origin POST", "POST", map[string]string{"Sec-Fetch-Site": "same-origin"}, cookie, http.StatusOK},
		{"session, cross-site POST", "POST", map[string]string{"Sec-Fetch-Site": "cross-site"}, cookie, http.StatusForbidden},
		{"unknown session", "GET", nil, "forged", http.StatusUnauthorized},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, "/v1/status", nil)
			r.RemoteAddr = "127.0.0.1:40000"
			for k, v := range tt.hdr {
				r.Header.Set(k, v)
			}
			if tt.cookie != "" {
				r.AddCookie(&http.Cookie{Name: SessionCookie, Value: tt.cookie})
			}
			w := httptest.NewRecorder()
			guarded.ServeHTTP(w, r)
			if w.Code != tt.want {
				t.Fatalf("%s /v1/status = %d %s, want %d", tt.method, w.Code, w.Body, tt.want)
			}
			if tt.want == http.StatusUnauthorized {
				var body struct{ Error api.APIError }
				if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body.Error.Code != api.CodeUnauthorized || body.Error.Message == "" {
					t.Errorf("401 body = %s (%v); want a JSON error with code %q", w.Body, err, api.CodeUnauthorized)
				}
				if w.Header().Get("WWW-Authenticate") == "" {
					t.Error("401 without WWW-Authenticate")
				}
			}
		})
	}
}

// TestRequireLoginLimitsGuessing: wrong tokens count against the client
// like failed logins; past the limit even a valid token waits.
func TestRequireLoginLimitsGuessing(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.LoginBurst = 3 })
	token, err := NewToken(h.s.o.TokenFile, "ci", h.clock.now())
	if err != nil {
		t.Fatal(err)
	}
	guarded := h.s.RequireLogin(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	try := func(tok, from string) int {
		r := httptest.NewRequest("GET", "/v1/status", nil)
		r.RemoteAddr = from
		r.Header.Set("Authorization", "Bearer "+tok)
		w := httptest.NewRecorder()
		guarded.ServeHTTP(w, r)
		return w.Code
	}
	for i := range 3 {
		if got := try(TokenPrefix+"guess", "192.0.2.7:1"); got != http.StatusUnauthorized {
			t.Fatalf("guess %d = %d, want 401", i, got)
		}
	}
	if got := try(token, "192.0.2.7:1"); got != http.StatusTooManyRequests {
		t.Errorf("valid token after 3 guesses = %d, want 429", got)
	}
	if got := try(token, "192.0.2.8:1"); got != http.StatusOK {
		t.Errorf("valid token from another client = %d, want 200", got)
	}
	h.clock.add(2 * time.Minute)
	if got := try(token, "192.0.2.7:1"); got != http.StatusOK {
		t.Errorf("valid token after waiting = %d, want 200", got)
	}
}

func TestPasswdToken(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "piranha.passwd")
	var out, errb strings.Builder
	if code := Passwd([]string{"--token", "--label", "ci", "--password-file", pw}, strings.NewReader(""), &out, &errb); code != 0 {
		t.Fatalf("Passwd --token = %d: %s", code, errb.String())
	}
	token := strings.TrimSpace(out.String())
	if !strings.HasPrefix(token, TokenPrefix) || strings.Contains(errb.String(), token) {
		t.Errorf("Passwd --token: stdout %q, stderr %q; want the token on stdout only", out.String(), errb.String())
	}
	tokens := filepath.Join(dir, "piranha.tokens")
	if err := checkToken(tokens, token); err != nil {
		t.Errorf("the printed token does not check against %s: %v", tokens, err)
	}
	if _, err := os.Stat(pw); err == nil {
		t.Error("Passwd --token wrote a password file")
	}
	errb.Reset()
	if code := Passwd([]string{"--revoke-tokens", "--token-file", tokens}, nil, &out, &errb); code != 0 || checkToken(tokens, token) == nil {
		t.Errorf("Passwd --revoke-tokens = %d (%s); token still valid: %v", code, errb.String(), checkToken(tokens, token) == nil)
	}
	for _, args := range [][]string{{"--token", "--revoke-tokens"}, {"--label", "x"}, {"--token", "extra"}} {
		if code := Passwd(args, nil, &out, &errb); code != 2 {
			t.Errorf("Passwd(%q) = %d, want 2", args, code)
		}
	}
}
