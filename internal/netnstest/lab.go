// Package netnstest is the former name of the root integration tests'
// namespace lab, kept so that tests written against it still build: the lab
// is internal/netlab (netlab.NewT), and new tests use it directly.
package netnstest

import (
	"testing"

	"lvs/internal/netlab"
)

// Lab is a set of namespaces owned by one test (netlab.T).
type Lab = netlab.T

// New returns a lab for t whose namespaces are named lvst-PID-N-NODE (see
// netlab.NewT), skipping the test unless it runs as root with ip.
func New(t testing.TB) *Lab { return netlab.NewT(t, "lvst-") }
