//go:build !linux

package tap

import (
	"errors"
	"fmt"

	"lvs/dataplane"
)

// Link is the TAP Link; this package supports TAP devices on Linux only.
type Link struct{ dataplane.MetaLink }

// Open fails: this package supports TAP devices on Linux only.
func Open(c Config) (*Link, error) {
	return nil, fmt.Errorf("creating TAP device %q: %w", c.Name, errors.ErrUnsupported)
}

// Name returns "".
func (l *Link) Name() string { return "" }
