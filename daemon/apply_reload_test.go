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
	rip := td.sendTCP(t, "the SYN", client, vip, frame.SYN, 1)
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
	if body := td.postReload(t, sock, text); body != "configuration reloaded: 2 services\n" {
		t.Fatalf("POST %s = %q, want 2 services", PathReload, body)
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
	if got := td.sendTCP(t, "the ACK after the reload", client, vip, frame.ACK, 1); got != rip {
		t.Errorf("the connection's next packet went to %v, want %v (its server before the reload)", got, rip)
	}
}

// postReload writes text as lvsd's configuration file and reloads it
// through lvsd's own handler, POST /v1/reload on the API socket sock (as
// SIGHUP does). It fails the test unless lvsd answers 200, and returns the
// answer's body.
func (td *testDaemon) postReload(t *testing.T, sock, text string) string {
	t.Helper()
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
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s = %d %q, want 200", PathReload, resp.StatusCode, body)
	}
	return string(body)
}

// sendTCP injects a TCP segment from -> to with flags on eth0, as from the
// gateway, and returns the destination address of the IPv4 frame lvsd
// sends for it on port.
func (td *testDaemon) sendTCP(t *testing.T, what string, from, to netip.AddrPort, flags frame.TCPFlags, port int) netip.Addr {
	t.Helper()
	td.rx[0].Inject(frametest.TCP(from, to, flags, nil, frametest.WithSrcMAC(testGwMAC), frametest.WithDstMAC(testPubMAC)))
	out := frametest.Decode(td.waitFrame(t, port, what))
	if out.IP == nil {
		t.Fatalf("%s: sent a frame that is not IPv4", what)
	}
	return netip.AddrFrom4([4]byte(out.IP.DstIP.To4()))
}
