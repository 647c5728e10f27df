// Package metrics is lvsd's Prometheus exposition (/metrics): the virtual
// server table and counters, the dataplane, conntrack, the router pair and
// the health checks, read from a MetricsSource at every scrape.
package metrics
