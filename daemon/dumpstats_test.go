package daemon

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"lvs/dataplane/afpacket"
)

// fakeRing is a receive ring's statistics at the ringLink seam (the test
// links keep none).
type fakeRing struct {
	name string
	st   afpacket.Stats
}

func (r fakeRing) Stats() afpacket.Stats { return r.st }
func (r fakeRing) Interface() string     { return r.name }

// TestStatsDumpRingDrops: SIGUSR2's lvsd.stats says, per interface, how
// many frames the receive rings were offered and how many they lost full —
// under a flood the place where legitimate frames are lost with the rest,
// which no drop reason counts.
func TestStatsDumpRingDrops(t *testing.T) {
	td := newTestDaemon(t, guideNAT)
	td.opts.Socket = filepath.Join(t.TempDir(), "lvsd.sock")
	if err := td.do(context.Background(), func() {
		td.pp.mu.Lock()
		td.rings = append(td.rings, fakeRing{"eth0", afpacket.Stats{Packets: 1000, Drops: 42}},
			fakeRing{"eth0", afpacket.Stats{Packets: 500, Drops: 8}}, fakeRing{"eth1", afpacket.Stats{Packets: 7}})
		td.pp.mu.Unlock()
		td.dumpStats()
	}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(filepath.Dir(td.opts.Socket), "lvsd.stats"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ring eth0: frames 1500, dropped full 50\n", "ring eth1: frames 7, dropped full 0\n"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("lvsd.stats has no %q:\n%s", want, b)
		}
	}
}
