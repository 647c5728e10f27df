package web

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"sync"
	"time"
)

// SessionCookie is the name of the session cookie.
const SessionCookie = "lvs_session"

// Session lifetimes: a session ends after IdleTimeout without a request,
// and after MaxSession in any case.
const (
	IdleTimeout = 30 * time.Minute
	MaxSession  = 12 * time.Hour
)

// session is one logged-in browser. Its stage holds the edits accepted and
// not yet applied, so leaving a panel loses nothing.
type session struct {
	id      string
	created time.Time
	seen    time.Time // last request
	flash   []string  // messages for the next page, then cleared

	stage *stage // nil until the first edit
}

// sessions is the server's session table. Each session's fields are
// guarded by mu too: pages of one session are rare and short.
type sessions struct {
	now func() time.Time

	mu  sync.Mutex // guards all, and every *session in it
	all map[string]*session
}

func newSessions(now func() time.Time) *sessions {
	return &sessions{now: now, all: map[string]*session{}}
}

// create starts a session and returns it; the caller sets the cookie.
func (ss *sessions) create() *session {
	var b [32]byte
	rand.Read(b[:]) // never fails (crypto/rand)
	now := ss.now()
	s := &session{id: base64.RawURLEncoding.EncodeToString(b[:]), created: now, seen: now}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	for id, o := range ss.all {
		if ss.expired(o, now) {
			delete(ss.all, id)
		}
	}
	ss.all[s.id] = s
	return s
}

func (ss *sessions) expired(s *session, now time.Time) bool {
	return now.Sub(s.seen) > IdleTimeout || now.Sub(s.created) > MaxSession
}

// lookup returns the live session of r's cookie, renewing its idle time,
// or nil.
func (ss *sessions) lookup(r *http.Request) *session {
	c, err := r.Cookie(SessionCookie)
	if err != nil {
		return nil
	}
	now := ss.now()
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s := ss.all[c.Value]
	if s == nil {
		return nil
	}
	if ss.expired(s, now) {
		delete(ss.all, s.id)
		return nil
	}
	s.seen = now
	return s
}

// end forgets session s.
func (ss *sessions) end(s *session) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	delete(ss.all, s.id)
}

// with runs f with the session table locked, for reading or changing s.
func (ss *sessions) with(f func()) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	f()
}

// cookie returns the session cookie for s: HttpOnly, SameSite=Strict,
// Secure when served over TLS, living as long as the session may.
func cookie(s *session, secure bool) *http.Cookie {
	return &http.Cookie{Name: SessionCookie, Value: s.id, Path: "/", HttpOnly: true, Secure: secure,
		SameSite: http.SameSiteStrictMode, MaxAge: int(MaxSession / time.Second)}
}

// clearCookie removes the session cookie from the browser.
func clearCookie(secure bool) *http.Cookie {
	return &http.Cookie{Name: SessionCookie, Value: "", Path: "/", HttpOnly: true, Secure: secure,
		SameSite: http.SameSiteStrictMode, MaxAge: -1}
}
