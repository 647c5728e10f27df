package web

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"lvs/internal/browsertest"
)

// TestBrowserAddRealServer drives the tool in headless Chromium as an
// administrator following the guide's chapter 4: log in, add a real server
// through the form, apply, see lvs.cf and the routing table updated, and
// watch a real server's status turn down live. It keeps a screenshot of
// every panel.
func TestBrowserAddRealServer(t *testing.T) {
	b := browsertest.New(t, 90*time.Second, nil)
	h := newHarness(t, func(o *Options) { o.Now = time.Now })
	srv := httptest.NewServer(h.s.Handler()) // 127.0.0.1: inside the default allow-list
	t.Cleanup(srv.Close)
	do, text, shot, dir := b.Do, b.Text, b.Shot, b.Dir

	do("open the tool", chromedp.Navigate(srv.URL+"/control"), chromedp.WaitVisible(chromedp.ID("password")))
	shot("01-login")
	do("log in",
		chromedp.SendKeys(chromedp.ID("password"), testPassword),
		chromedp.Click(chromedp.ID("login")),
		chromedp.WaitVisible(chromedp.ID("ipvsadm")))
	shot("02-control")
	if s := text("#ipvsadm"); !strings.Contains(s, "192.168.26.10:80") {
		t.Fatalf("routing table after login:\n%s", s)
	}

	do("add a real server",
		chromedp.Navigate(srv.URL+"/virtual/web/real"),
		chromedp.WaitVisible(chromedp.ID("newname")),
		chromedp.SendKeys(chromedp.ID("newname"), "web3"),
		chromedp.Click(chromedp.ID("add")),
		chromedp.WaitVisible(chromedp.ID("f-address")),
		chromedp.SendKeys(chromedp.ID("f-address"), "10.11.12.3"),
		chromedp.SetValue(chromedp.ID("f-weight"), "3"))
	shot("03-real-server-form")
	do("accept", chromedp.Click(chromedp.ID("accept")), chromedp.WaitVisible(chromedp.ID("pending-banner")))
	shot("04-real-servers-pending")
	if s := text("#reals"); !strings.Contains(s, "10.11.12.3") {
		t.Fatalf("REAL SERVER list after ACCEPT has no 10.11.12.3:\n%s", s)
	}
	if strings.Contains(h.b.file(t), "web3") {
		t.Fatal("lvs.cf changed before APPLY")
	}

	do("apply", chromedp.Click(chromedp.ID("apply")), chromedp.WaitVisible(chromedp.ID("ondisk")))
	shot("05-applied")
	if s := text("#ondisk"); !strings.Contains(s, "server web3 {") || !strings.Contains(h.b.file(t), "address = 10.11.12.3") {
		t.Fatalf("lvs.cf after APPLY, as the page shows it:\n%s", s)
	}

	do("see it routed", chromedp.Navigate(srv.URL+"/control"), chromedp.WaitVisible(chromedp.ID("routing")))
	if s := text("#routing"); !strings.Contains(s, "10.11.12.3:80") {
		t.Fatalf("routing table after APPLY has no 10.11.12.3:80:\n%s", s)
	}

	// A real server fails: the event stream tells the open page, which
	// refreshes its status without a reload.
	do("wait for live updates", chromedp.WaitVisible(`//span[@id="live" and text()="live updates on"]`))
	h.b.setState("web", "web1", "down")
	h.b.events.Publish("RS 10.11.12.1:80 DOWN")
	do("watch web1 go down", chromedp.WaitVisible(chromedp.CSS("#health tr.st-down")))
	shot("06-control-live-down")
	if s := text("#health tr.st-down"); !strings.Contains(s, "web1") {
		t.Errorf("the row that turned down is %q, want web1", s)
	}
	if s := text("#events"); !strings.Contains(s, "RS 10.11.12.1:80 DOWN") {
		t.Errorf("event list = %q, want the DOWN line", s)
	}

	for _, p := range []struct {
		path string
		sel  chromedp.CSS
		name string
	}{
		{"/global", "#f-primary", "07-global-settings"},
		{"/redundancy", "#f-backup", "08-redundancy"},
		{"/virtual", "#virtuals", "09-virtual-servers"},
		{"/virtual/web", "#f-address", "10-virtual-server"},
		{"/virtual/web/scripts", "#f-expect", "11-monitoring-scripts"},
		{"/charts", "h2", "12-charts"},
		{"/pending", "#staged", "13-pending"},
		{"/help", "h2", "14-help"},
	} {
		do("panel "+p.path, chromedp.Navigate(srv.URL+p.path), chromedp.WaitVisible(p.sel))
		shot(p.name)
	}

	do("test now",
		chromedp.Navigate(srv.URL+"/virtual/web/scripts"),
		chromedp.WaitVisible(chromedp.ID("test")),
		chromedp.Click(chromedp.ID("test")),
		chromedp.WaitVisible(chromedp.ID("test-result")))
	shot("15-test-now")
	if s := text("#test-result"); !strings.HasPrefix(s, "PASS web1") {
		t.Errorf("TEST NOW result = %q, want PASS web1 …", s)
	}
	t.Logf("screenshots in %s", dir)
}
