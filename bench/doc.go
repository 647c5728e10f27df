// Package bench runs whole-system benchmarks of lvsd side by side with the
// Linux kernel doing the same job on the same topology.
package bench
