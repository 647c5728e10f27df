package health

import (
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"
)

// replyServer answers every connection with reply, after reading the request
// up to a blank line when readReq is set, and records the request.
func replyServer(t *testing.T, readReq bool, reply ...string) (*tcpServer, chan string) {
	got := make(chan string, 16)
	srv := listenTCP(t, func(c net.Conn) {
		if readReq {
			got <- readUntil(c, "\r\n\r\n")
		}
		for i, r := range reply {
			if i > 0 {
				time.Sleep(200 * time.Millisecond) // a second segment, after the first read
			}
			c.Write([]byte(r))
		}
	})
	return srv, got
}

func TestSendExpect(t *testing.T) {
	ok200, _ := replyServer(t, true, "HTTP/1.1 200 OK\r\nServer: nginx\r\n\r\n")
	bad500, _ := replyServer(t, true, "HTTP/1.0 500 Internal Server Error\r\n\r\n")
	split, _ := replyServer(t, true, "HT", "TP/1.0 200 OK\r\n\r\n")
	lines, _ := replyServer(t, true, "OK\nDone\n")
	silent := listenTCP(t, func(c net.Conn) { readUntil(c, "\r\n\r\n"); time.Sleep(time.Second); c.Write([]byte("HTTP")) })
	closer := listenTCP(t, func(c net.Conn) { readUntil(c, "\r\n\r\n") })
	const get = `GET / HTTP/1.0\r\n\r\n` // as written in lvs.cf
	tests := []struct {
		name   string
		addr   netip.AddrPort
		expect string
		regex  bool
		ok     bool
		reason string
	}{
		{"prefix match", ok200.addr, "HTTP", false, true, ""},
		{"longer prefix", ok200.addr, "HTTP/1.1 200", false, true, ""},
		{"mismatch", bad500.addr, "HTTP/1.0 200", false, false, `expect mismatch: got "HTTP/1.0 500"`},
		{"first read only", split.addr, "HTTP", false, false, `short read, got "HT"`},
		{"star accepts any byte", bad500.addr, "*", false, true, ""},
		{"star accepts EOF", closer.addr, "*", false, true, ""},
		{"EOF is short", closer.addr, "HTTP", false, false, `short read, got ""`},
		{"read timeout", silent.addr, "HTTP", false, false, "timeout (read)"},
		{"regex anywhere", ok200.addr, "nginx", true, true, ""},
		{"regex anchored", ok200.addr, `^HTTP/1\.[01] 200`, true, true, ""},
		{"regex mismatch", bad500.addr, `^HTTP/1\.[01] 200`, true, false, `expect mismatch: got "HTTP/1.0 500 Internal Server Error\r\n\r\n"`},
		{"regex dot matches newline", lines.addr, `^OK.Done`, true, true, ""},
		{"regex class", lines.addr, `^[[:upper:]]+$`, true, false, "expect mismatch"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Spec{Addr: tt.addr, VPort: 80, Send: get, Expect: tt.expect, UseRegex: tt.regex}
			timeout := 3 * time.Second
			if tt.addr == silent.addr {
				timeout = 300 * time.Millisecond // the server answers after 1 s
			}
			wantResult(t, tt.name, runCheck(t, s, timeout), tt.ok, tt.reason)
		})
	}
}

// TestSendEscapes checks that send reaches the server with the guide's
// escapes expanded.
func TestSendEscapes(t *testing.T) {
	srv, got := replyServer(t, true, "220 ready")
	s := Spec{Addr: srv.addr, VPort: 21, Send: `HELO\tx\\y\r\n\r\n`, Expect: "220"}
	wantResult(t, "escapes", runCheck(t, s, 2*time.Second), true, "")
	if req, want := <-got, "HELO\tx\\y\r\n\r\n"; req != want {
		t.Errorf("server got %q, want %q", req, want)
	}
}

// TestSendOnly checks that with send and no expect nanny passes once the
// bytes are written, without waiting for a reply.
func TestSendOnly(t *testing.T) {
	srv := listenTCP(t, func(c net.Conn) { time.Sleep(time.Second) })
	s := Spec{Addr: srv.addr, VPort: 25, Send: `QUIT\r\n`}
	start := time.Now()
	wantResult(t, "send only", runCheck(t, s, 3*time.Second), true, "")
	if d := time.Since(start); d > 900*time.Millisecond { // reading would wait for the server's 1 s
		t.Errorf("send-only check took %v, want no wait for a reply", d)
	}
}

func TestDefaultHTTPProbe(t *testing.T) {
	var paths []string
	good := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		paths = append(paths, r.Method+" "+r.URL.Path+" "+r.Proto)
	}))
	defer good.Close()
	addr := netip.MustParseAddrPort(good.Listener.Addr().String())
	garbage, _ := replyServer(t, true, "SSH-2.0-OpenSSH\r\n")

	wantResult(t, "vport 80", runCheck(t, Spec{Addr: addr, VPort: 80}, 2*time.Second), true, "")
	if len(paths) != 1 || paths[0] != "GET / HTTP/1.0" {
		t.Errorf("HTTP server saw %q, want one GET / HTTP/1.0", paths)
	}
	wantResult(t, "vport 80, not HTTP", runCheck(t, Spec{Addr: garbage.addr, VPort: 80}, 2*time.Second),
		false, `expect mismatch: got "SSH-"`)
	// Any other virtual port: a plain connect, which a non-HTTP server passes.
	wantResult(t, "vport 8080", runCheck(t, Spec{Addr: garbage.addr, VPort: 8080}, 2*time.Second), true, "")
	// An expect alone turns the default off: nothing is sent, the greeting is judged.
	greeter, _ := replyServer(t, false, "SSH-2.0-OpenSSH\r\n")
	wantResult(t, "vport 80 with expect", runCheck(t, Spec{Addr: greeter.addr, VPort: 80, Expect: "SSH"}, 2*time.Second), true, "")
}

func TestBadRegex(t *testing.T) {
	for _, expr := range []string{`(a`, `\1`, `a**`} {
		_, err := NewChecker(Spec{Addr: netip.MustParseAddrPort("127.0.0.1:1"), Expect: expr, UseRegex: true})
		if !errors.Is(err, ErrSpec) {
			t.Errorf("NewChecker(expect %q, use_regex) error = %v, want ErrSpec", expr, err)
		}
	}
}

func TestUnescape(t *testing.T) {
	tests := []struct{ in, want string }{
		{`GET / HTTP/1.0\r\n\r\n`, "GET / HTTP/1.0\r\n\r\n"},
		{`a\tb`, "a\tb"},
		{`a\\nb`, `a\nb`},
		{`\'\"`, `'"`},
		{`\x41`, `\x41`},
		{`end\`, `end\`},
		{`\`, `\`},
		{`\n`, "\n"},
		{``, ``},
		{`plain`, `plain`},
	}
	for _, tt := range tests {
		if got := unescape(tt.in); got != tt.want {
			t.Errorf("unescape(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func FuzzUnescape(f *testing.F) {
	for _, s := range []string{`GET / HTTP/1.0\r\n\r\n`, `\\\`, `\x`, `a\'b`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := unescape(s)
		if len(got) > len(s) {
			t.Errorf("unescape(%q) = %q grew", s, got)
		}
		// Without escapes the string is unchanged.
		if got2 := unescape(got); !containsBackslash(got) && got2 != got {
			t.Errorf("unescape(%q) changed a string without backslashes", got)
		}
	})
}

func containsBackslash(s string) bool {
	for i := range len(s) {
		if s[i] == '\\' {
			return true
		}
	}
	return false
}
