package daemon_test

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"lvs/internal/testutil"
)

// TestIntegrationLvsadmEdits is issue 16's crash with the real binaries on
// the guide's NAT site: a server added, edited, then another server
// deleted. lvsd must apply all three, keep running and forward to exactly
// the servers lvsadm left.
func TestIntegrationLvsadmEdits(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped in -short mode: builds lvsd and lvsadm and runs a NAT site in namespaces")
	}
	testutil.RequireRoot(t)
	testutil.RequireCommand(t, "ip", "nft", "ping")
	bin, lvsadm := buildLVSD(t), buildCmd(t, "lvsadm")
	s := newNATSite(t)
	s.writeConf(t, siteConf{sched: "wrr"})
	s.parent = t
	s.startLVSD(t, bin)
	s.waitReady(t)
	run := func(args string) string {
		t.Helper()
		out, err := exec.Command(lvsadm, append(strings.Fields(args), "--socket", filepath.Join(s.dir, "lvsd.sock"))...).CombinedOutput()
		if err != nil {
			t.Fatalf("lvsadm %s: %v\n%s\nlvsd log:\n%s", args, err, out, s.lvsd.log.String())
		}
		return string(out)
	}
	// web3 leaves and comes back as an lvsadm server, so that the server
	// added is one that answers; then the sequence of the crash.
	run("-d -t " + vip + ":80 -r 10.11.12.3:80")
	run("-a -t " + vip + ":80 -r 10.11.12.3:80 -m -w 1")
	run("-e -t " + vip + ":80 -r 10.11.12.3:80 -m -w 3")
	run("-d -t " + vip + ":80 -r 10.11.12.1:80")
	if s.lvsd.exited() {
		t.Fatalf("lvsd exited after the edits: %v\n%s", s.lvsd.err, s.lvsd.log.String())
	}
	saved := run("-S -n")
	for _, want := range []string{"-a -t " + vip + ":80 -r 10.11.12.2:80 -m -w 2\n", "-a -t " + vip + ":80 -r 10.11.12.3:80 -m -w 3\n"} {
		if !strings.Contains(saved, want) {
			t.Errorf("lvsadm -S -n lacks %q:\n%s", want, saved)
		}
	}
	if strings.Contains(saved, vip+":80 -r 10.11.12.1:80") {
		t.Errorf("lvsadm -S -n still has web1 in the HTTP service:\n%s", saved)
	}
	got := countServers(t, s.httpGets(t, s.far, 20))
	if got["web1"] != 0 || got["web2"] == 0 || got["web3"] == 0 || got["web2"]+got["web3"] != 20 {
		t.Errorf("20 GETs after the edits were answered by %v, want web2 and web3 only", got)
	}
	if strings.Contains(s.lvsd.log.String(), "panic") {
		t.Errorf("lvsd logged a panic:\n%s", s.lvsd.log.String())
	}
}
