package web

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"lvs/internal/browsertest"
)

// TestBrowserBGPPanel drives the BGP panel in headless Chromium: the
// running speaker's sessions and routes are shown, a bgp block with its
// first peer is added through the form, a wrong hold time is refused
// next to its field, and APPLY writes the block to lvs.cf.
func TestBrowserBGPPanel(t *testing.T) {
	b := browsertest.New(t, 90*time.Second, nil)
	h := newHarness(t, withBGP(testBGPStatus), func(o *Options) { o.Now = time.Now })
	srv := httptest.NewServer(h.s.Handler())
	t.Cleanup(srv.Close)
	do, text, shot, dir := b.Do, b.Text, b.Shot, b.Dir
	do("log in",
		chromedp.Navigate(srv.URL+"/bgp"),
		chromedp.WaitVisible(chromedp.ID("password")),
		chromedp.SendKeys(chromedp.ID("password"), testPassword),
		chromedp.Click(chromedp.ID("login")),
		chromedp.WaitVisible(chromedp.ID("bgp-peers")))
	shot("01-bgp")
	if s := text("#bgp-as"); s != "65001" {
		t.Errorf("local AS shown = %q, want 65001", s)
	}
	if s := text("#bgp-peers"); !strings.Contains(s, "established") || !strings.Contains(s, "hold timer expired") {
		t.Errorf("sessions shown:\n%s\nwant gw established and gw2's last reason", s)
	}
	if s := text("#bgp-vips"); !strings.Contains(s, "announced") || !strings.Contains(s, "no real server up") {
		t.Errorf("routes shown:\n%s\nwant one announced and one withdrawn with its reason", s)
	}

	do("add the bgp block with its first peer",
		chromedp.SendKeys(chromedp.ID("f-local_as"), "65001"),
		chromedp.SendKeys(chromedp.ID("f-name"), "gw"),
		chromedp.SendKeys(chromedp.ID("f-address"), "192.168.26.254"),
		chromedp.SendKeys(chromedp.ID("f-remote_as"), "65000"),
		chromedp.Click(chromedp.ID("accept")),
		chromedp.WaitVisible(chromedp.ID("pending-banner")))
	shot("02-bgp-pending")
	if s := text("#peers"); !strings.Contains(s, "192.168.26.254") {
		t.Fatalf("peers after ACCEPT:\n%s", s)
	}

	do("a hold time BGP refuses",
		chromedp.Navigate(srv.URL+"/bgp/peer/gw"),
		chromedp.WaitVisible(chromedp.ID("f-hold_time")),
		chromedp.SetValue(chromedp.ID("f-hold_time"), "2"),
		chromedp.Click(chromedp.ID("accept")),
		chromedp.WaitVisible(chromedp.CSS(`div.field-error[data-field="hold_time"]`)))
	shot("03-peer-refused")
	if s := text(`div.field-error[data-field="hold_time"]`); !strings.Contains(s, "hold_time must be 0 or at least 3 seconds") {
		t.Errorf("error at the hold time = %q", s)
	}

	// APPLY from the banner of the BGP panel: the PENDING page it leads to
	// shows the file on disk (#ondisk).
	do("apply", chromedp.Navigate(srv.URL+"/bgp"), chromedp.WaitVisible(chromedp.ID("apply")),
		chromedp.Click(chromedp.ID("apply")), chromedp.WaitVisible(chromedp.ID("ondisk")))
	shot("04-applied")
	if f := h.b.file(t); !strings.Contains(f, "bgp {") || !strings.Contains(f, "peer gw {") || !strings.Contains(f, "remote_as = 65000") {
		t.Fatalf("lvs.cf after APPLY:\n%s", f)
	}
	t.Logf("screenshots in %s", dir)
}
