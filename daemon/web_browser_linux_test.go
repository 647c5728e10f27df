package daemon_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"lvs/internal/browsertest"
)

// TestIntegrationWebBrowser is the browser test against the real
// lvsd: headless Chromium runs on the router (inside its namespace, where
// the tool's default allow-list lets it in), logs in, adds real server web3
// through the REAL SERVER form, applies, sees lvs.cf and the routing table
// updated, then watches web1's status turn down live when its link goes
// down. Screenshots go to $LVS_ARTIFACTS (or the test's temporary
// directory).
func TestIntegrationWebBrowser(t *testing.T) {
	if _, err := os.Stat(browsertest.Chromium); err != nil {
		t.Skipf("browser test skipped: %s is not installed (apt-get install chromium, or scripts/install-deps.sh)", browsertest.Chromium)
	}
	w := startWebSite(t)
	ipPath, err := exec.LookPath("ip")
	if err != nil {
		t.Fatal(err)
	}
	// `ip netns exec ROUTER chromium …`: ip execs the browser, which then
	// talks to chromedp over its pipe.
	b := browsertest.New(t, 2*time.Minute, func(cmd *exec.Cmd) {
		cmd.Args = append([]string{"ip", "netns", "exec", w.router}, cmd.Args...)
		cmd.Path = ipPath
	})
	do, text, shot, dir := b.Do, b.Text, b.Shot, b.Dir

	do("log in",
		chromedp.Navigate(toolURL+"/control"),
		chromedp.WaitVisible(chromedp.ID("password")),
		chromedp.SendKeys(chromedp.ID("password"), webPassword),
		chromedp.Click(chromedp.ID("login")),
		chromedp.WaitVisible(chromedp.ID("ipvsadm")))
	shot("01-control")
	if s := text("#ipvsadm"); !strings.Contains(s, "192.168.26.10:80") || strings.Contains(s, "10.11.12.3:80") {
		t.Fatalf("routing table before the edit:\n%s", s)
	}

	do("add web3",
		chromedp.Navigate(toolURL+"/virtual/http/real"),
		chromedp.WaitVisible(chromedp.ID("newname")),
		chromedp.SendKeys(chromedp.ID("newname"), "web3"),
		chromedp.Click(chromedp.ID("add")),
		chromedp.WaitVisible(chromedp.ID("f-address")),
		chromedp.SendKeys(chromedp.ID("f-address"), "10.11.12.3"),
		chromedp.SetValue(chromedp.ID("f-weight"), "3"),
		chromedp.Click(chromedp.ID("accept")),
		chromedp.WaitVisible(chromedp.ID("pending-banner")))
	shot("02-real-servers-pending")
	do("apply", chromedp.Click(chromedp.ID("apply")), chromedp.WaitVisible(chromedp.ID("ondisk")))
	shot("03-applied")
	if s := text("#ondisk"); !strings.Contains(s, "server web3 {") {
		t.Fatalf("lvs.cf after APPLY, as the tool shows it:\n%s", s)
	}
	if b, _ := os.ReadFile(w.confPath()); !strings.Contains(string(b), "address = 10.11.12.3") {
		t.Fatalf("lvs.cf on disk after APPLY:\n%s", b)
	}
	do("routing table", chromedp.Navigate(toolURL+"/control"), chromedp.WaitVisible(chromedp.ID("routing")))
	if s := text("#routing"); !strings.Contains(s, "10.11.12.3:80") {
		t.Fatalf("routing table after APPLY has no 10.11.12.3:80:\n%s", s)
	}

	// web1 fails: its link goes down, its health check times out, lvsd
	// publishes the event and the open page turns its row down live.
	do("live updates", chromedp.WaitVisible(`//span[@id="live" and text()="live updates on"]`))
	const web1HTTP = `//table[@id="health"]//tr[td[1]="http" and td[2]="web1"]`
	do("web1 is up first", chromedp.WaitVisible(web1HTTP+`[contains(@class, "st-up")]`))
	w.lab.Must("ip", "-n", w.reals[0], "link", "set", "eth0", "down")
	do("web1 turns down", chromedp.WaitVisible(web1HTTP+`[contains(@class, "st-down")]`))
	shot("04-control-web1-down")
	if s := text("#events"); !strings.Contains(s, "RS [10.11.12.1]:tcp:80 [192.168.26.10]:tcp:80 DOWN") {
		t.Errorf("the events list has no DOWN line for web1: %q", s)
	}
	t.Logf("screenshots in %s", dir)
}
