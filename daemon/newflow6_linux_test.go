package daemon_test

import (
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// forwards reads the workers' forward verdicts from an lvsd.stats dump.
func forwards(stats string) int {
	for _, l := range strings.Split(stats, "\n") {
		var n int
		if _, err := fmt.Sscanf(strings.TrimSpace(l), "forward %d", &n); err == nil {
			return n
		}
	}
	return 0
}

// state is the state column of a line of lvsadm -L -n -c.
func state(l string) string {
	if f := strings.Fields(l); len(f) > 2 {
		return f[2]
	}
	return ""
}

// TestIntegrationNAT66KernelScheduled runs the real lvsd on the IPv6 NAT
// site and checks that the NAT66 service's connections are scheduled in
// the kernel (fastpath/newflow6.go): ten GETs through the VIP go round
// robin over both real servers while the workers forward at most two
// frames of each (the last ACK after the close takes the flow out of the
// fast path; a connection the workers schedule costs them its SYN, its
// ACK and its request at least), each connection is adopted into lvsd's
// table (lvsadm -L -c lists it) and closes normally there, in TIME_WAIT
// once both FINs went through the kernel.
func TestIntegrationNAT66KernelScheduled(t *testing.T) {
	s := newSite6(t, "k6")
	lab, c := s.lab, s.c
	var reals, addrs []string
	for _, rs := range realServers6 {
		reals, addrs = append(reals, lab.NS(rs.name+"-k6")), append(addrs, rs.addr)
	}
	s.natSegments(reals, addrs)
	for i, rs := range realServers6 {
		serveHTTP(t, lab, reals[i], "tcp6", rs.name, nil)
	}
	s.start(lvsCF6, "the IPv6 site's lvs.cf")
	s.waitPing6()
	s.waitFor(t, "both real servers up", 15*time.Second, func() bool {
		body, err := get6(lab, c, "/", io.Discard)
		return err == nil && body != "" && checkedUp(t, lab, c)
	})
	lvsadm := buildCmd(t, "lvsadm")
	sock := filepath.Join(s.dir, "lvsd.sock")
	conns := func() []string {
		out, err := exec.Command(lvsadm, "-L", "-n", "-c", "--socket", sock).CombinedOutput()
		if err != nil {
			t.Fatalf("lvsadm -L -n -c: %v\n%s", err, out)
		}
		var mine []string
		for _, l := range strings.Split(string(out), "\n") {
			if strings.Contains(l, "["+client6+"]:") && strings.Contains(l, "["+vip6+"]:80") {
				mine = append(mine, l)
			}
		}
		return mine
	}
	// The checks' connections close first, so the GETs below are alone.
	s.waitFor(t, "the earlier connections to close", 10*time.Second, func() bool {
		for _, l := range conns() {
			if st := state(l); st != "TIME_WAIT" && st != "CLOSE" {
				return false
			}
		}
		return true
	})
	before, listed := forwards(s.lvsdStats()), len(conns())
	const n = 10
	got := map[string]int{}
	for range n {
		body, err := get6(lab, c, "/", io.Discard)
		if err != nil {
			t.Fatalf("GET http://[%s]/: %v", vip6, err)
		}
		got[body]++
	}
	if got["web1"] != n/2 || got["web2"] != n/2 {
		t.Errorf("%d GETs through the VIP answered %v, want web1 %d, web2 %d (rr)", n, got, n/2, n/2)
	}
	var open []string
	s.waitFor(t, "the GETs' connections adopted and closed", 10*time.Second, func() bool {
		all := conns()
		open = open[:0]
		for _, l := range all {
			if state(l) != "TIME_WAIT" {
				open = append(open, l)
			}
		}
		return len(all) >= listed+n && len(open) == 0
	})
	fwd := forwards(s.lvsdStats()) - before
	t.Logf("the workers forwarded %d frames of %d connections", fwd, n)
	if fwd > 2*n {
		t.Errorf("the workers forwarded %d frames of %d NAT66 connections, want at most %d: the kernel schedules them", fwd, n, 2*n)
	}
}
