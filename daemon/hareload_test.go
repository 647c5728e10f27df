package daemon

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// loopbackHost is testHost with this router's heartbeat address on
// loopback: 127.0.0.1 is the primary (this router), 127.0.0.2 the backup
// (absent), so the role machine, heartbeats and connection sync run on
// real sockets without a namespace.
var loopbackHost = host{
	iface: testIface,
	addrs: func() ([]netip.Prefix, error) {
		return []netip.Prefix{netip.MustParsePrefix("127.0.0.1/8")}, nil
	},
	guard: testHost.guard,
}

// freeUDPPorts returns a port p with p and p+1 (heartbeats and connection
// sync) free on 127.0.0.1 when it looked.
func freeUDPPorts(t *testing.T) int {
	t.Helper()
	for range 50 {
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		p := c.LocalAddr().(*net.UDPAddr).Port
		c2, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: p + 1})
		c.Close()
		if err == nil {
			c2.Close()
			return p
		}
	}
	t.Fatal("no two consecutive free UDP ports")
	return 0
}

// pairCf is guideNAT as the primary of a pair on loopback.
func pairCf(port int, keepalive, deadtime int, syncd bool) string {
	s := "0"
	if syncd {
		s = "1"
	}
	return strings.Replace(guideNAT, "primary = 192.168.26.9\n",
		"primary = 127.0.0.1\nbackup = 127.0.0.2\nbackup_active = 1\nheartbeat = 1\nheartbeat_port = "+strconv.Itoa(port)+
			"\nkeepalive = "+strconv.Itoa(keepalive)+"\ndeadtime = "+strconv.Itoa(deadtime)+"\nsyncdaemon = "+s+"\n", 1)
}

// TestReloadAppliesHeartbeatAndSyncLive: a reload through lvsd's own
// handler (POST /v1/reload, as SIGHUP) that turns syncdaemon on starts
// connection sync on its socket in the role's mode, new keepalive and
// deadtime reach the running role machine, and syncdaemon off stops sync
// and frees the socket — without a restart (before, lvsd logged that
// these took effect when it restarted).
func TestReloadAppliesHeartbeatAndSyncLive(t *testing.T) {
	port := freeUDPPorts(t)
	td := newTestDaemonOn(t, pairCf(port, 1, 3, false), loopbackHost)
	sock := td.serveAPI(t)
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}}
	defer hc.CloseIdleConnections()
	reload := func(text string) {
		t.Helper()
		if err := os.WriteFile(td.opts.ConfigFile, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		resp, err := hc.Post("http://lvsd"+PathReload, "text/plain", nil)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("POST %s = %d %q", PathReload, resp.StatusCode, body)
		}
	}
	syncLocal := func() (netip.AddrPort, string, bool) {
		t.Helper()
		var local netip.AddrPort
		var mode string
		var on bool
		if err := td.do(context.Background(), func() {
			if on = td.sync != nil; on {
				local = td.sync.cfg.Local
				mode = "backup"
				if td.sync.send.Load() != nil {
					mode = "master"
				}
			}
		}); err != nil {
			t.Fatal(err)
		}
		return local, mode, on
	}
	if _, _, on := syncLocal(); on {
		t.Fatal("connection sync runs with syncdaemon = 0")
	}

	reload(pairCf(port, 2, 7, true))
	local, mode, on := syncLocal()
	want := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port+1))
	if !on || local != want {
		t.Fatalf("after syncdaemon = 1: sync on %v at %v, want on at %v", on, local, want)
	}
	var active bool
	td.do(context.Background(), func() { active = td.active })
	if wantMode := map[bool]string{true: "master", false: "backup"}[active]; mode != wantMode {
		t.Errorf("sync mode %s while active = %v, want %s", mode, active, wantMode)
	}
	// The role machine logs the settings it took (bounded wait: the
	// event travels through forwardHA and the runner).
	deadline := time.Now().Add(10 * time.Second)
	for td.logs.count("heartbeat settings changed: keepalive 2s, deadtime 7s") == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the role machine did not take keepalive 2 / deadtime 7")
		}
		time.Sleep(20 * time.Millisecond)
	}

	if n := td.logs.count("take effect when lvsd restarts"); n > 0 {
		t.Errorf("a live change was reported %d times as needing a restart", n)
	}
	if st := td.HA(); st.ConnSync == nil { // as /metrics reads it, off the management goroutine
		t.Error("the HA status shows no connection sync after it started")
	}

	reload(pairCf(port, 2, 7, false))
	if _, _, on := syncLocal(); on {
		t.Fatal("connection sync still runs after syncdaemon = 0")
	}
	c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(want))
	if err != nil {
		t.Fatalf("the sync socket was not closed: %v", err)
	}
	c.Close()
}

// TestLvsadmStartStopDaemon: `lvsadm --start-daemon` and `--stop-daemon`
// through lvsd's handler and control loop start and stop connection sync
// at once, as ipvsadm does with the kernel's sync daemon (before, lvsadm
// only said sync was configured in lvs.cf); on a router without a backup
// --start-daemon says why it cannot.
func TestLvsadmStartStopDaemon(t *testing.T) {
	port := freeUDPPorts(t)
	td := newTestDaemonOn(t, pairCf(port, 1, 3, false), loopbackHost)
	sock := td.serveAPI(t)
	syncOn := func() (on bool) {
		t.Helper()
		if err := td.do(context.Background(), func() { on = td.sync != nil && td.cfg.SyncDaemon }); err != nil {
			t.Fatal(err)
		}
		return on
	}
	steps := []struct {
		args string
		on   bool
	}{
		{"--start-daemon master", true},
		{"--stop-daemon master", false},
		{"--start-daemon backup", true},
		{"--stop-daemon backup", false},
	}
	for _, s := range steps {
		if out, errs, code := lvsadm(t, sock, s.args); code != 0 || out != "" || errs != "" {
			t.Fatalf("lvsadm %s = exit %d, stdout %q, stderr %q", s.args, code, out, errs)
		}
		if on := syncOn(); on != s.on {
			t.Errorf("after lvsadm %s: connection sync on = %v, want %v", s.args, on, s.on)
		}
	}

	alone := newTestDaemon(t, guideNAT)
	_, errs, code := lvsadm(t, alone.serveAPI(t), "--start-daemon master")
	if code == 0 || !strings.Contains(errs, "set backup and backup_active = 1") {
		t.Errorf("--start-daemon on a router alone = exit %d, stderr %q", code, errs)
	}
}
