package web

import (
	"lvs/admin/api"
	"net/http"
	"strings"
	"time"
)

// RequireLogin guards h, the JSON API (or /metrics) on the TCP admin
// listener. A request passes with "Authorization: Bearer TOKEN" for a
// token of the token file (NewToken), or with the session cookie of a
// browser logged in to the tool; anything else is answered 401 with a JSON
// error (api.CodeUnauthorized). Wrong tokens count against the client
// like failed logins, and a client over the limit gets 429. Requests that
// change something on the strength of a cookie alone must come from the
// tool's own pages (cross-origin protection, as the tool's forms).
func (s *Server) RequireLogin(h http.Handler) http.Handler {
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		api.WriteError(w, &api.APIError{Status: http.StatusForbidden, Code: api.CodeForbidden, Index: -1,
			Message: "cross-origin request refused (CSRF protection): send an API token instead of a cookie"})
	}))
	byCookie := cop.Handler(h)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if token, ok := bearer(r); ok {
			if s.tokenOK(w, r, token) {
				h.ServeHTTP(w, r)
			}
			return
		}
		if s.sess.lookup(r) != nil {
			byCookie.ServeHTTP(w, r)
			return
		}
		unauthorized(w, "this API needs a login: send \"Authorization: Bearer TOKEN\" (make one with lvsadm passwd --token) or log in to the web tool")
	})
}

// tokenOK checks token and answers the request itself when it is refused.
func (s *Server) tokenOK(w http.ResponseWriter, r *http.Request, token string) bool {
	client, _ := clientAddr(r.RemoteAddr)
	now := s.now()
	if ok, wait := s.limit.allow(client.String(), now); !ok {
		w.Header().Set("Retry-After", itoa(int(wait/time.Second)+1))
		api.WriteError(w, &api.APIError{Status: http.StatusTooManyRequests, Code: api.CodeRateLimited, Index: -1,
			Message: "too many failed logins or tokens from " + client.String() + ": try again in " + wait.Round(time.Second).String()})
		return false
	}
	if err := checkToken(s.o.TokenFile, token); err != nil {
		s.limit.failed(client.String(), now)
		s.loginLog.Warn("admin API token refused", "client", client, "path", r.URL.Path, "reason", err)
		unauthorized(w, "the API token is not valid (revoked, or never made by lvsadm passwd --token for this lvsd)")
		return false
	}
	return true
}

// bearer returns the token of an "Authorization: Bearer TOKEN" header.
func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	return strings.TrimSpace(token), true
}

func unauthorized(w http.ResponseWriter, msg string) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="lvsd"`)
	api.WriteError(w, &api.APIError{Status: http.StatusUnauthorized, Code: api.CodeUnauthorized, Index: -1, Message: msg})
}
