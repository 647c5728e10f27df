// Package netlab is the one namespace lab of the module: the simulator's
// sites, the benchmark's testbed and the root integration tests all build
// their networks with it.
//
// A Lab is one run. Before it creates anything it writes a state file
// (Store.Dir/ID.json) naming its owner (PID and start time), and it adds
// every namespace and every process it starts to that file before creating
// or right after starting them. Every namespace is named Prefix+ID+"-"+node,
// so a run owns exactly the names under its prefix. A Lab's Close stops its
// processes (by PID, each in a process group of its own) and deletes its
// namespaces and its state file; Store.Sweep, run when a Lab starts, does the
// same for runs whose owner is dead, so a crash is cleaned up by the next
// run. Processes are only ever signalled by the PID recorded for them, and
// only while they still run inside one of the run's namespaces.
//
// Links (veth pairs, bridges), addresses, routes, neighbours and sysctls are
// set through netlink handles into the namespaces (vishvananda/netlink), so
// nothing is created in, or connected to, the host's namespace. Console
// writes log lines under a progress line on a terminal.
//
// netlab is a leaf: it imports none of the module's packages above
// internal/procstat and internal/testutil.
package netlab
