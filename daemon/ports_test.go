package daemon

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"lvs/dataplane"
	"lvs/frame"
	"lvs/internal/frametest"
)

// TestReloadAddsInterface: a reload through lvsd's own handler (POST
// /v1/reload, as SIGHUP) that moves nat_router to an interface lvsd did
// not serve (eth1; at start only eth0 carried the VIP and nat_router)
// serves it without a restart: eth1 becomes a port after eth0, new
// connections and the next packet of one made before the reload go out of
// it to the real servers, and a worker reads it (a real server's reply
// arriving there goes back to the client). Before, the reload was
// refused: "interface eth1:1 is not one lvsd serves: restart lvsd to add
// it".
func TestReloadAddsInterface(t *testing.T) {
	oneIface := strings.Replace(guideNAT, "nat_router = 10.11.12.10 eth1:1", "nat_router = 10.11.12.10 eth0:2", 1)
	td := newTestDaemon(t, oneIface)
	sock := td.serveAPI(t)
	var ports []*dataplane.Port
	readPorts := func() {
		t.Helper()
		if err := td.do(context.Background(), func() { ports = td.site.ports }); err != nil {
			t.Fatal(err)
		}
	}
	readPorts()
	if len(ports) != 1 || ports[0].Name != "eth0" {
		t.Fatalf("ports at start: %v, want eth0 alone", td.names(ports))
	}
	now := time.Now()
	reals := map[netip.Addr]frame.MAC{}
	for i := byte(1); i <= 3; i++ {
		reals[netip.AddrFrom4([4]byte{10, 11, 12, i})] = frame.MAC{2, 0, 0, 0, 1, i}
	}
	ports[0].Neigh.Learn(testGw, testGwMAC, now)
	for ip, mac := range reals {
		ports[0].Neigh.Learn(ip, mac, now)
	}
	client := netip.MustParseAddrPort("203.0.113.7:40000")
	vip := netip.MustParseAddrPort("192.168.26.10:80")
	rip := td.sendTCP(t, "the SYN before the reload", client, vip, frame.SYN, 0) // apply_reload_test.go
	if _, ok := reals[rip]; !ok {
		t.Fatalf("the SYN went to %v, not a real server", rip)
	}

	td.postReload(t, sock, guideNAT) // apply_reload_test.go
	readPorts()
	if len(ports) != 2 || ports[0].Name != "eth0" || ports[1].Name != "eth1" || ports[1].Index != 1 {
		t.Fatalf("ports after the reload: %v, want eth0 then eth1", td.names(ports))
	}
	if td.logs.count("serving new interfaces without a restart") != 1 {
		t.Errorf("no log line for the new interface")
	}
	for ip, mac := range reals {
		ports[1].Neigh.Learn(ip, mac, time.Now())
	}
	if got := td.sendTCP(t, "the ACK after the reload", client, vip, frame.ACK, 1); got != rip {
		t.Errorf("the connection's next packet went to %v out of eth1, want %v (its server before the reload)", got, rip)
	}
	other := netip.MustParseAddrPort("203.0.113.8:40001")
	rip2 := td.sendTCP(t, "a new SYN after the reload", other, vip, frame.SYN, 1)
	if _, ok := reals[rip2]; !ok {
		t.Fatalf("the new SYN went to %v, not a real server", rip2)
	}
	// The real server answers on eth1: eth1's worker translates it back
	// from the VIP to the client, through the gateway on eth0.
	td.rx[1].Inject(frametest.TCP(netip.AddrPortFrom(rip2, 80), other, frame.SYN|frame.ACK, nil,
		frametest.WithSrcMAC(reals[rip2]), frametest.WithDstMAC(testPrivMAC)))
	out := frametest.Decode(td.waitFrame(t, 0, "the SYN-ACK from eth1"))
	if out.IP == nil || netip.AddrFrom4([4]byte(out.IP.SrcIP.To4())) != vip.Addr() || out.TCP == nil || uint16(out.TCP.SrcPort) != vip.Port() {
		t.Errorf("the reply went out as %+v, want from the VIP %v", out, vip)
	}
}
