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
// (sw), with N real servers (rs1…rsN) and with the client's second
// interface (cli eth1): that segment also carries the direct-routing
// subnet, where the real servers hold the DR VIP on lo (arp_ignore=1,
// arp_announce=2) and answer the client straight back. Nothing is created
// in, or connected to, the host's namespace. The namespace lab is the
// simulator's (internal/netlab): a state file
// /run/lvsbench/ID.json, written before anything is created, lets Sweep
// (run at every start) remove what a crashed run left; processes run in
// their own process group with Pdeathsig and are killed by PID. The
// harness takes the simulator's site lock (sim.LockSites) so no site test
// runs traffic at the same time.
//
// # Contenders
//
// Each repetition runs every contender in turn on that one topology:
// kfwd (ip_forward, plain L3 to one real server), klb and klb-jhash
// (nftables DNAT with a `numgen inc mod N` or `jhash ip saddr . sport mod
// N` map, conntrack), lvsd-1w / lvsd-2w (`lvsd -f lvs.cf --workers N` with
// an lvs.cf written by config.Format: a UDP and a TCP virtual service over
// the real servers, nat_router on the private side; lvsd's default
// dataplane mode), lvsd-afp (lvsd-1w with `--dataplane afpacket`: the Go
// worker on AF_PACKET alone), kfwd-dr (the kernel
// routing the DR VIP over the real servers on the same segment with a
// multipath route that hashes the ports, so flows spread over them as
// lvsd's do: this kernel has no IPVS, so plain forwarding is the DR
// reference), lvsd-dr
// (`network = direct`) and lvsd-ecmp (two lvsd in the ECMP mode, the
// second director in a namespace of its own on the bridge, both on the
// director's core; see ecmp_linux.go), and over IPv6 klb6 (nftables ip6
// DNAT) and lvsd6 (lvsd NAT66 with nat_router6) on the same namespaces
// with 2001:db8:: addresses added (ipv6.go). A contender that cannot run — lvsd
// does not build, exits, or forwards nothing within 15 s — is reported
// "not available"
// with the reason; nothing is ever estimated.
//
// # Figures
//
// Per repetition: UDP packets per second delivered at saturation (a
// raw-frame AF_PACKET generator with sendmmsg, counted by the real
// servers' rx_packets), CPU time per packet and per connection (/proc
// accounting of the benchmark's own work: softirq + irq of every CPU minus
// an idle baseline, plus the user and system time of the harness, the
// responders and lvsd), TCP connections per second, and UDP request
// latency p50/p99 at a fixed offered load. Every lvsd figure names the
// dataplane mode lvsd reported in its /metrics (lvs_dataplane_mode).
//
// Then the overload phase (Overload): delivered against offered pps, from
// 50k in geometric steps up to what the generator sends flat out, for the
// kernel's DNAT, lvsd in both modes and direct routing on the fair
// placement, and for klb and lvsd-1w again with no RPS (the director's
// receive work on the generator's core), as a table, an SVG plot per path
// and a no-collapse check (lvsd never below 90 % of its own peak). For the
// whole phase the receive work of the switch port the director transmits
// into (the bridge, the real servers' receive and the sink that counts
// delivered frames) is steered to the generator's core for every
// contender, as if switch and servers were machines of their own: left on
// the director's core it shares the backlog the flood fills, and forwarded
// frames are dropped there after the director's work (each point reports
// both cores' backlog drops, softnet.go). Then
// the scaling phase: the
// director's memory with 10k, 100k and 1M flows held (raw frames from
// distinct source addresses and ports, no socket per flow; lvsd's VmRSS
// against its /metrics entry count, the kernel's nf_conntrack slab against
// nf_conntrack_count) and delivered pps against the number of flows, of
// real servers (2 to 1,000, extra addresses on the real-server
// namespaces) and the scheduler, plotted as SVG (Plot). Report renders
// min / median / max and lvsd ÷ kernel ratios as Markdown; the same data
// goes to JSON. Timing never fails a test.
package bench
