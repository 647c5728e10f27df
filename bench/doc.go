// Package bench runs whole-system benchmarks of lvsd side by side with the
// Linux kernel doing the same job on the same topology, in the same run
// (`lvsbench`, `make bench`).
//
// It imports only sim- and config-level packages, never daemon or
// dataplane: it runs the real lvsd binary, like the simulator.
//
// # Topology
//
// Fresh namespaces named lvsbench-ID-NODE (ID six random hex digits per
// run): a client namespace (cli) joined by a veth pair to the director
// (dir), whose private side (eth1) shares a bridge, in a switch namespace
// (sw), with N real servers (rs1…rsN). Nothing is created in, or connected
// to, the host's namespace. A state file /run/lvsbench/ID.json, written
// before anything is created, lets Sweep (run at every start) remove what
// a crashed run left; processes run in their own process group with
// Pdeathsig and are killed by PID. The harness takes the simulator's site
// lock (sim.LockSites) so no site test runs traffic at the same time.
//
// # Contenders
//
// Each repetition runs every contender in turn on that one topology:
// kfwd (ip_forward, plain L3 to one real server), klb (nftables DNAT with a
// `numgen inc mod N` map, conntrack), and lvsd-1w / lvsd-2w (`lvsd -f lvs.cf
// --workers N` with an lvs.cf written by config.Format: a UDP and a TCP
// virtual service over the real servers, nat_router on the private side).
// A contender that cannot run — lvsd does not build, exits, or forwards
// nothing within 15 s — is reported "not available" with the reason;
// nothing is ever estimated.
//
// # Figures
//
// Per repetition: UDP packets per second delivered at saturation (a
// raw-frame AF_PACKET generator with sendmmsg, counted by the real
// servers' rx_packets), CPU time per packet and per connection (/proc
// accounting of the benchmark's own work: softirq + irq of every CPU minus
// an idle baseline, plus the user and system time of the harness, the
// responders and lvsd), TCP connections per second, and UDP request
// latency p50/p99 at a fixed offered load. Report renders min / median /
// max and lvsd ÷ kernel ratios as Markdown; the same data goes to JSON.
// Timing never fails a test.
package bench
