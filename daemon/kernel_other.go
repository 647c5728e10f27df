//go:build !linux

package daemon

import (
	"context"
	"errors"
)

// KernelGuard is only available on Linux.
type KernelGuard struct{}

// InstallGuard fails: the guard needs Linux nftables.
func InstallGuard(context.Context, GuardSpec) (*KernelGuard, error) {
	return nil, errors.New("the kernel guard needs Linux nftables")
}

// Update fails on this platform.
func (g *KernelGuard) Update(context.Context, GuardSpec) error {
	return errors.New("the kernel guard needs Linux nftables")
}

// Remove does nothing on this platform.
func (g *KernelGuard) Remove(context.Context) error { return nil }
