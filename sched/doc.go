// Package sched implements every IPVS scheduler behind one interface with the
// kernel's exact semantics: rr, wrr, lc, wlc, lblc, lblcr, dh, sh, sed, nq, mh,
// fo, ovf and twos.
//
// It must not allocate per pick and must not know about packets.
package sched
