// Package conntrack owns the director's connection table: flows, TCP states and
// timeouts, persistence templates, active/inactive counts, expiry, size limits,
// and export/import of entries for connection sync.
//
// It must not parse frames, and it imports neither frame, dataplane nor net.
//
// # The packet path
//
// A client packet to a virtual service: In (or InBatch) finds its entry,
// applies conn_reuse_mode and expire_nodest_conn, steps the TCP state machine
// and re-arms the timer. On Miss the worker finds the service in its
// ipvs.Table snapshot and calls Schedule, which applies persistence
// templates, asks the service's scheduler, binds the new entry to the
// destination and applies the packet. A NAT reply from a real server: Out
// (or OutBatch) finds the entry by the reply key (RIP:port → client) and
// steps it in the OUTPUT direction. The returned Conn carries everything
// the rewrite needs (Real, Virtual, Method), so no snapshot lookup is needed
// to forward. None of these allocate, lock more than two shards, or read the
// clock. The batch forms hide memory latency by touching every key's bucket
// and entry before the per-key work.
//
// The daemon calls Expire periodically (a budgeted sweep), SetTimeouts and
// SetSettings on configuration changes, Stats for metrics and the "table
// full" log, Walk for ipvsadm -L -c; the sync engine uses Record, Records,
// AppendRecord, ParseRecord and Import.
//
// # Storage
//
// Entries live in per-shard slabs of fixed-size chunks of a pointer-free
// 64-byte struct (IPv4 addresses as uint32), linked by uint32 indices, so the
// garbage collector has nothing to scan however many flows there are, and a
// steady-state insert reuses a freed slot without allocating. An IPv6 flow
// is the same entry plus a 48-byte record of its three addresses in a
// second slab of its shard (addr6.go): IPv4 entries do not grow (about 76
// bytes per flow at a million flows, buckets included; IPv6 about 125),
// and the IPv4 lookup path reads nothing new. A Conn stays 48 bytes, so
// for an IPv6 flow its accessors give the ports only; Table.Addrs, and
// Info from Walk, give the addresses. A seeded hash
// picks one of 256 shards; each shard has one mutex for writers and a
// sequence counter so lookups read without locking (a seqlock: every word a
// reader looks at is read and written with sync/atomic, so the race detector
// agrees). Every connection is on two chains: the client-direction chain of
// its home shard and the reply-direction chain of the shard its reverse key
// hashes to; a change to both holds both locks, taken in shard order.
//
// # Differences from IPVS
//
// Entries expire at the first sweep after their deadline, not on a per-entry
// timer. There is no netfilter conntrack to keep in
// step, so conn_reuse_mode never drops a packet to let an old conntrack entry
// die. expire_nodest_conn defaults to on (reference §5 #1), secure_tcp to
// "while under pressure", and under pressure half-open entries get a short
// timeout and are the only ones ever evicted.
package conntrack
