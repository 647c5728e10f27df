package daemon

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"lvs/frame"
	"lvs/internal/frametest"
	"lvs/ipvs"
)

// TestReloadIsADiff: a reload through lvsd's own handler (POST /v1/reload,
// as SIGHUP) goes through Reconcile, lvsd's one diff of a configuration
// against the running table: the server a connection uses stays the same
// destination with its counters, and the connection's next packet goes to
// it; a removed server leaves, a new service arrives.
func TestReloadIsADiff(t *testing.T) {
	td := newTestDaemon(t, guideNAT)
	sock := td.serveAPI(t)
	now := time.Now()
	td.site.ports[0].Neigh.Learn(testGw, testGwMAC, now)
	for i := byte(1); i <= 3; i++ {
		td.site.ports[1].Neigh.Learn(netip.AddrFrom4([4]byte{10, 11, 12, i}), frame.MAC{2, 0, 0, 0, 1, i}, now)
	}
	client := netip.MustParseAddrPort("203.0.113.7:40000")
	vip := netip.MustParseAddrPort("192.168.26.10:80")
	send := func(what string, flags frame.TCPFlags) netip.Addr {
		t.Helper()
		td.rx[0].Inject(frametest.TCP(client, vip, flags, nil, frametest.WithSrcMAC(testGwMAC), frametest.WithDstMAC(testPubMAC)))
		out := frametest.Decode(td.waitFrame(t, 1, what))
		if out.IP == nil {
			t.Fatalf("%s: sent a frame that is not IPv4", what)
		}
		return netip.AddrFrom4([4]byte(out.IP.DstIP.To4()))
	}
	rip := send("the SYN", frame.SYN)
	web := ipvs.ServiceKey{Proto: ipvs.TCP, Addr: vip.Addr(), Port: 80}
	before := td.dp.State().Table.Service(web).Dest(rip, 80)
	if before == nil || before.C.Conns.Load() != 1 {
		t.Fatalf("the SYN went to %v, which is not a destination with one connection: %+v", rip, before)
	}

	// The new file: the connection's server gets weight 7, another server
	// leaves, and an HTTPS service arrives.
	gone := netip.MustParseAddr("10.11.12.1")
	if rip == gone {
		gone = netip.MustParseAddr("10.11.12.2")
	}
	text := strings.Replace(guideNAT, "address = "+rip.String()+"\n         active = 1\n         weight = 1",
		"address = "+rip.String()+"\n         active = 1\n         weight = 7", 1)
	text = strings.Replace(text, "address = "+rip.String()+"\n         active = 1\n         weight = 2",
		"address = "+rip.String()+"\n         active = 1\n         weight = 7", 1)
	text = strings.Replace(text, "address = "+gone.String()+"\n         active = 1", "address = "+gone.String()+"\n         active = 0", 1)
	text += "virtual https {\n     active = 1\n     address = 192.168.26.10 eth0:1\n     port = 443\n     server web1 {\n         address = 10.11.12.1\n         active = 1\n     }\n}\n"
	if err := os.WriteFile(td.opts.ConfigFile, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}}
	defer hc.CloseIdleConnections()
	resp, err := hc.Post("http://lvsd"+PathReload, "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != "configuration reloaded: 2 services\n" {
		t.Fatalf("POST %s = %d %q, want 200 and 2 services", PathReload, resp.StatusCode, body)
	}

	tb := td.dp.State().Table
	after := tb.Service(web).Dest(rip, 80)
	if after == nil || after.ID != before.ID || after.Weight != 7 || after.C.Conns.Load() != 1 {
		t.Errorf("the connection's server after the reload = %+v, want the same destination (ID %d) with weight 7 and its connection", after, before.ID)
	}
	if tb.Service(web).Dest(gone, 80) != nil {
		t.Errorf("%v is still in the table after its server was deactivated", gone)
	}
	if tb.Service(ipvs.ServiceKey{Proto: ipvs.TCP, Addr: vip.Addr(), Port: 443}) == nil {
		t.Errorf("the HTTPS service did not arrive")
	}
	if got := send("the ACK after the reload", frame.ACK); got != rip {
		t.Errorf("the connection's next packet went to %v, want %v (its server before the reload)", got, rip)
	}
}
