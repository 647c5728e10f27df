package daemon_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"lvs/internal/testutil"
)

// webSite is the NAT site with the real lvsd serving the web tool on its
// default admin listener, a password set with lvsd --set-password, and
// real server web3 left out of the HTTP service for the administrator to
// add. text is the lvs.cf it starts with.
type webSite struct {
	*natSite
	text string
	jar  string
}

// toolURL is the web tool as seen from the router itself: the default
// allow-list is loopback.
const toolURL = "http://127.0.0.1:3636"

// webPassword is the password the tests set.
const webPassword = "web tool password"

func startWebSite(t *testing.T) *webSite {
	t.Helper()
	if testing.Short() {
		t.Skip("skipped in -short mode: builds lvsd and runs a NAT site in namespaces")
	}
	testutil.RequireRoot(t)
	testutil.RequireCommand(t, "ip", "nft", "ping", "curl")
	bin := buildLVSD(t)
	s := newNATSite(t)
	text := siteConf{sched: "rr"}.text()
	// The HTTP service starts without web3: the administrator adds it.
	start := strings.Index(text, "virtual http {")
	i := start + strings.Index(text[start:], "\tserver web3 {")
	j := i + strings.Index(text[i:], "\t}\n") + len("\t}\n")
	text = text[:i] + text[j:]
	if err := os.WriteFile(s.confPath(), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	pw := filepath.Join(s.dir, "piranha.passwd")
	set := exec.Command(bin, "--set-password", "-f", s.confPath())
	set.Stdin = strings.NewReader(webPassword + "\n")
	if out, err := set.CombinedOutput(); err != nil {
		t.Fatalf("lvsd --set-password: %v\n%s", err, out)
	}
	if st, err := os.Stat(pw); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("password file next to lvs.cf: %v", err)
	}
	s.parent = t
	s.startLVSD(t, bin)
	s.waitReady(t)
	w := &webSite{natSite: s, text: text, jar: filepath.Join(s.dir, "cookies")}
	s.waitFor(t, "the web tool", 10*time.Second, func() bool {
		out, err := s.lab.In(s.router, "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", toolURL+"/login")
		return err == nil && strings.TrimSpace(out) == "200"
	})
	return w
}

// curl runs curl on the router with the site's cookie jar and returns the
// body, then a line "CODE REDIRECT".
func (w *webSite) curl(t *testing.T, args ...string) string {
	t.Helper()
	out, err := w.lab.In(w.router, append([]string{"curl", "-sS", "-b", w.jar, "-c", w.jar, "-o", "/dev/stdout",
		"-w", "\n%{http_code} %{redirect_url}"}, args...)...)
	if err != nil {
		t.Fatalf("curl %v: %v\n%s", args, err, out)
	}
	return out
}

// TestIntegrationWeb runs the real lvsd on the NAT site with the web tool
// on its default admin listener and, as an administrator on the router
// would with a text browser, logs in, adds real server web3 to the HTTP
// service through the REAL SERVER form, applies, and checks lvs.cf (and its
// .bak), the routing table the tool shows, and real traffic reaching web3.
func TestIntegrationWeb(t *testing.T) {
	w := startWebSite(t)
	s, text, tool := w.natSite, w.text, toolURL
	curl := func(args ...string) string { t.Helper(); return w.curl(t, args...) }
	if out := curl("-d", "username=piranha", "-d", "password=wrong guess", tool+"/login"); !strings.Contains(out, "\n401 ") {
		t.Fatalf("login with a wrong password:\n%s", out)
	}
	if out := curl("-d", "username=piranha", "-d", "password=web tool password", tool+"/login"); !strings.Contains(out, "\n303 ") {
		t.Fatalf("login:\n%s", out)
	}
	if out := curl("-d", "name=web3", "-d", "address=10.11.12.3", "-d", "weight=3", "-d", "active=1",
		tool+"/virtual/http/real/web3"); !strings.Contains(out, "\n303 ") {
		t.Fatalf("ACCEPT web3:\n%s", out)
	}
	if b, _ := os.ReadFile(s.confPath()); string(b) != text {
		t.Fatal("ACCEPT wrote lvs.cf; it must only stage")
	}
	before := strings.Count(s.lvsd.log.String(), "configuration applied from the web tool")
	if out := curl("-X", "POST", tool+"/apply"); !strings.Contains(out, "\n303 ") {
		t.Fatalf("APPLY:\n%s", out)
	}
	if out := curl(tool + "/pending"); !strings.Contains(out, "applied: lvs.cf written and reloaded") {
		t.Fatalf("after APPLY the tool says:\n%s\nlvsd log:\n%s", out, s.lvsd.log.String())
	}
	if n := strings.Count(s.lvsd.log.String(), "configuration applied from the web tool"); n != before+1 {
		t.Errorf("lvsd logged %d web applies, want %d", n, before+1)
	}
	b, err := os.ReadFile(s.confPath())
	if err != nil {
		t.Fatal(err)
	}
	httpBlock := string(b)[strings.Index(string(b), "virtual http {"):]
	httpBlock = httpBlock[:strings.Index(httpBlock, "\n}\n")]
	if !strings.Contains(httpBlock, "server web3 {") || !strings.Contains(httpBlock, "address = 10.11.12.3") ||
		!strings.Contains(string(b), "serial_no = 2") {
		t.Errorf("lvs.cf after APPLY:\n%s", b)
	}
	if bak, err := os.ReadFile(s.confPath() + ".bak"); err != nil || string(bak) != text {
		t.Errorf("lvs.cf.bak after APPLY = %v; want the previous file", err)
	}
	if out := curl(tool + "/control"); !strings.Contains(out, "10.11.12.3:80") {
		t.Errorf("CONTROL/MONITORING after APPLY has no 10.11.12.3:80 in the routing table:\n%s", out)
	}
	// Once web3's first health check has passed (a check result rebuilds
	// the table, which may restart rr's rotation), rr shares 12 requests
	// out 4:4:4; a restart in between still gives web3 at least 3.
	s.waitFor(t, "web3's first health check", 15*time.Second, func() bool {
		return strings.Contains(curl(tool+"/control"), `<tr class="st-up"><td>http</td><td>web3</td>`)
	})
	replies := s.httpGets(t, s.far, 12)
	if got := countServers(t, replies); len(replies) != 12 || got["web3"] < 3 {
		t.Errorf("12 requests through rr after adding web3 reached %v, want about 4 on each of web1..3", got)
	}
}
