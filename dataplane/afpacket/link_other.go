//go:build !linux

package afpacket

import (
	"errors"
	"fmt"

	"lvs/dataplane"
)

// Link is the AF_PACKET Link; AF_PACKET exists only on Linux.
type Link struct{ dataplane.MetaLink }

// Open fails: AF_PACKET exists only on Linux.
func Open(c Config) (*Link, error) {
	return nil, fmt.Errorf("opening AF_PACKET on %s: %w", c.Interface, errors.ErrUnsupported)
}

// Stats returns zero counters.
func (l *Link) Stats() Stats { return Stats{} }

// Interface returns "".
func (l *Link) Interface() string { return "" }
