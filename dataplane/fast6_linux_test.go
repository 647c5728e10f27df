package dataplane_test

import (
	"net/netip"
	"testing"

	"lvs/dataplane"
	"lvs/dataplane/fastpath"
	"lvs/frame"
	"lvs/internal/frametest"
)

// IPv6 flows stay on the Go path: the eBPF fast path carries IPv4 only,
// so a worker with one never offers it an IPv6 flow, however old.
func TestFastPathLeavesIPv6Alone(t *testing.T) {
	if testing.Short() {
		t.Skip("loads eBPF programs")
	}
	s := newSite6(t, 4096)
	fp, err := fastpath.Open(fastpath.Config{MaxFlows: 256, Slots: 1024})
	if err != nil {
		t.Skipf("skipped: %v (needs root and a kernel with BPF)", err)
	}
	t.Cleanup(func() { fp.Close() })
	s.pub.Ifindex, s.prv.Ifindex = 1, 1
	s.d.SetFastPath(fp)
	s.run(0, frametest.TCP(client6, web6, frame.SYN, nil, frametest.WithSrcMAC(gwMAC)))
	real := netip.AddrPortFrom(rip61, 8080)
	s.run(1, frametest.TCP(real, client6, frame.SYN|frame.ACK, nil, frametest.WithSrcMAC(rip1MAC)))
	for range 8 {
		s.run(0, frametest.TCP(client6, web6, frame.ACK, []byte("data"), frametest.WithSrcMAC(gwMAC)))
		s.run(1, frametest.TCP(real, client6, frame.ACK, []byte("data"), frametest.WithSrcMAC(rip1MAC)))
	}
	if c := dataplane.Sum(&s.w.C); c.FastInstalls != 0 || c.Verdicts[dataplane.Forward] != 9 {
		t.Errorf("public worker: %d fast-path installs, %d forwarded; want 0 and 9", c.FastInstalls, c.Verdicts[dataplane.Forward])
	}
}
