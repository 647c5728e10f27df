// Package sched implements every IPVS scheduler behind ipvs.Scheduler with
// the kernel's exact semantics (net/netfilter/ipvs/ip_vs_*.c): rr, wrr, lc,
// wlc (the default), sed, nq, fo, ovf, twos, lblc, lblcr, dh, sh and mh. New
// is the ipvs.SchedulerFactory that makes them by name.
//
// It owns the scheduling decision only. It must not allocate per pick, must
// not read the clock (lblc and lblcr age their caches by Flow.Now), must not
// start goroutines, and must not know about packets or sockets.
//
// Concurrency follows the kernel's. Pick runs on every worker at once;
// Update runs on the single writer, possibly while Pick still runs on the
// previous snapshot.
//   - Stateless schedulers (lc, wlc, sed, nq, fo, ovf) read only the
//     immutable Service and the atomic counters.
//   - rr and wrr keep their mark (cursor, and wrr's current weight) in one
//     atomic word advanced by compare-and-swap, where the kernel takes
//     svc->sched_lock; twos draws from one atomic SplitMix64 counter.
//   - dh, sh and mh build a new lookup table in Update and publish it with
//     an atomic pointer, as the kernel swaps RCU pointers.
//   - lblc and lblcr keep a 1024-chain cache with a mutex per chain; the
//     kernel's 60 s garbage-collection timer becomes a check that the first
//     Pick at or after each due Flow.Now runs (or GC, for an idle service).
//
// Comparisons use 64-bit arithmetic where the kernel's 32-bit products
// could wrap; otherwise the choices, tie-breaks and state changes are the
// kernel's. Deviations are listed on the types (LBLC, MH, WRR).
package sched
