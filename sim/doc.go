// Package sim builds whole LVS sites in network namespaces (clients, gateway,
// routers running the real lvsd binary, real servers with real services),
// drives traffic, injects faults, checks assertions and writes reports.
//
// It must not import daemon or dataplane: it runs the real binaries.
package sim
