//go:build !linux

package bench

import (
	"context"
	"errors"
	"io"
)

// ErrNotRoot is returned when the harness does not run as root.
var ErrNotRoot = errors.New("lvsbench needs root (it creates network namespaces); run it with sudo")

// Run needs Linux network namespaces.
func Run(context.Context, Options) (*Report, error) {
	return nil, errors.New("lvsbench runs on Linux only (network namespaces, AF_PACKET)")
}

// DREcho needs Linux (IP_PKTINFO, network namespaces).
func DREcho(context.Context, []string, io.Writer) error {
	return errors.New("lvsbench dr-echo runs on Linux only")
}
