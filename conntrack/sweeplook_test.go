package conntrack

import (
	"testing"

	"lvs/ipvs"
)

// countingOffload is a fakeOffload that counts the sweep's questions.
type countingOffload struct {
	fakeOffload
	asked int
}

func (f *countingOffload) Seen(c Conn) (ipvs.Tick, bool, bool) {
	f.asked++
	return f.fakeOffload.Seen(c)
}

// TestSweepAsksHalfOpenFlowsSparingly: a half-open connection whose reply
// direction alone is offloaded (the real server's SYN-ACK, offered with
// the first SYN, as under a SYN flood) is asked about at half its timeout
// and at its end, not at every pass: each question is a system call or two
// of the fast path. One whose client direction is offloaded (adopted from
// the fast path) is still asked every synRecvLook, to follow its handshake.
func TestSweepAsksHalfOpenFlowsSparingly(t *testing.T) {
	const flows = 1000
	for _, tt := range []struct {
		name        string
		dir         Dir
		wantBy20s   int // questions over the passes of the first 20 s
		wantBy45s   int // then past half of SYN_RECV's 60 s
		wantBy61s   int // then at the timer's end
		wantExpired bool
	}{
		{"reply direction (SYN-ACK offered)", DirOutput, 0, flows, 2 * flows, true},
		{"client direction (adopted)", DirInput, 18 * flows, 43 * flows, 44 * flows, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			v := newEnv(t, Config{})
			s := v.service(ipvs.ServiceSpec{Key: web}, ipvs.Masq, rip1, rip2)
			off := &countingOffload{fakeOffload: fakeOffload{seen: map[Key]ipvs.Tick{}, acked: map[Key]bool{}}}
			v.ct.SetOffload(off)
			for i := range flows {
				c := v.schedule(s, flowKey(i), SYN, start)
				if !v.ct.SetOffloaded(c.Handle, tt.dir, true) {
					t.Fatalf("SetOffloaded(%v) reported no change", flowKey(i))
				}
				off.seen[flowKey(i)] = start // the offload forwarded one packet, at once
			}
			pass := func(at ipvs.Tick) { v.ct.Expire(at, 1<<30) }
			for sec1 := 1; sec1 <= 20; sec1++ {
				pass(start + ipvs.Tick(sec1)*sec)
			}
			if off.asked != tt.wantBy20s {
				t.Errorf("asked %d times in 20 one-second passes, want %d", off.asked, tt.wantBy20s)
			}
			for sec1 := 21; sec1 <= 45; sec1++ {
				pass(start + ipvs.Tick(sec1)*sec)
			}
			if off.asked != tt.wantBy45s {
				t.Errorf("asked %d times in 45 one-second passes, want %d", off.asked, tt.wantBy45s)
			}
			pass(start + 61*sec)
			if off.asked != tt.wantBy61s {
				t.Errorf("asked %d times by the pass at 61 s, want %d", off.asked, tt.wantBy61s)
			}
			if got := v.ct.Len(); (got == 0) != tt.wantExpired {
				t.Errorf("Len() at 61 s = %d, want expired %v", got, tt.wantExpired)
			}
			check(t, v.ct, v.reg)
		})
	}
}
