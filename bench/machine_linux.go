//go:build linux

package bench

import (
	"bufio"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// realAddrs returns the addresses of n real servers.
func realAddrs(n int) []netip.Addr {
	out := make([]netip.Addr, n)
	for k := range out {
		out[k] = realAddr(k + 1)
	}
	return out
}

// newReport starts the report: machine, settings, pinning, topology.
func (r *runner) newReport() *Report {
	o := r.o
	rep := &Report{
		Started: time.Now().UTC(),
		Machine: machine(),
		Settings: Settings{
			Mode: o.mode(), Reps: o.Reps, Warmup: o.Warmup, Window: o.Window, Baseline: o.Baseline,
			Servers: o.Servers, Flows: o.Flows, FrameBytes: frameBytes, LoadPPS: o.LoadPPS,
			ProbeRate: o.ProbeRate, TCPWorkers: o.TCPWorkers, TCPClose: o.tcpClose(), GenCPU: o.GenCPU, DirectorCPU: o.DirCPU,
			StealRetries: o.StealRetries,
		},
		Pinning: []string{
			fmt.Sprintf("generator, latency probes and TCP clients: CPU%d (their threads, sched_setaffinity, nice %d)", o.GenCPU, trafficNice),
			fmt.Sprintf("director: CPU%d (kernel: RPS of the director's eth0 and eth1 receive queues; lvsd 1 worker: taskset)", o.DirCPU),
			fmt.Sprintf("lvsd 2 workers: CPUs 0-%d (shares the generator's core)", runtime.NumCPU()-1),
			fmt.Sprintf("real-server responders and DR echoes (processes of their own): CPU%d (taskset, nice %d); their receive path follows the director's softirq", o.DirCPU, trafficNice),
			"lvsd: nice 0, like the kernel's ksoftirqd (a higher priority would starve its own receive path)",
			"the harness's own control goroutines: unpinned, idle during windows",
		},
		Topology: topologyText(o.Servers),
	}
	if !o.NoScaling {
		rep.Settings.ScaleWarmup, rep.Settings.ScaleWindow = o.scaleWindows()
		rep.Settings.ScaleReps = o.ScaleReps
	}
	if o.GenCPU == o.DirCPU {
		rep.Notes = append(rep.Notes, "generator and director share one CPU: this machine has only one")
	}
	return rep
}

func topologyText(servers int) string {
	return fmt.Sprintf(`  lvsbench-ID-cli          lvsbench-ID-dir                      lvsbench-ID-sw     lvsbench-ID-rs1..rs%d
  eth0 %v ══ eth0 %v          eth1 %v ══ p0 ┐
  (generator, probes,     VIP %v (kernel LB: on eth0;    br0 ├ p1..p%d ══ eth0 10.250.2.11..
   TCP clients)           lvsd: owned by lvsd)       nat_router %v     (responder: TCP %d greeting+echo,
                                                                                UDP %d echo; flood dropped at
                                                                                netdev ingress; default via nat_router)
  eth1 %v ═══════════════════════════════════════════ pc ┘  (DR segment: dir eth1 also %v,
   (DR client side)                                              real servers 10.250.3.11.. and VIP %v on lo,
                                                                 arp_ignore=1, arp_announce=2; UDP %d echo answering
                                                                 from the address asked, IP_PKTINFO)
  veth pairs only; no link to the host. Static neighbours for the director's own addresses, static bridge
  entries for every station; the VIPs and nat_router are found by ARP, afresh before each contender starts
  (whoever owns them answers). Direct routing: requests go client eth1 → bridge → director eth1 → bridge →
  real server, which answers the client over the bridge; kfwd-dr routes the VIP over the real servers instead (a multipath route hashing the ports).
  Scaling run: up to 1,000 more real servers as addresses 10.251.x.y/16 spread over rs1..rs%d, answering
  through nat_router %v (policy route from their subnet).
`, servers, clientAddr, directorPub, directorPriv, vip, servers, natRouter, tcpPort, udpPort,
		clientDR, directorDR, vipDR, udpPortDR, servers, scaleRouter)
}

// machine describes this machine.
func machine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), Go: runtime.Version()}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if f := strings.Fields(l); len(f) >= 2 && f[0] == "MemTotal:" {
				kb, _ := strconv.ParseFloat(f[1], 64)
				m.MemGiB = kb / (1 << 20)
			}
		}
	}
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		m.Kernel = unix.ByteSliceToString(u.Release[:])
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		m.LoadAvg = strings.Join(strings.Fields(string(b))[:3], " ")
	}
	return m
}
