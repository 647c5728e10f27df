package daemon

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
)

// KernelGuard is an installed nftables netdev table that keeps the kernel
// out of the dataplane's traffic (see GuardSpec). Install replaces any table
// of the same name left by a crashed run, so a crash never blocks a restart.
type KernelGuard struct {
	nft   string // path of the nft binary
	table string
}

// InstallGuard installs (or atomically replaces) the guard table.
func InstallGuard(ctx context.Context, spec GuardSpec) (*KernelGuard, error) {
	nft, err := exec.LookPath("nft")
	if err != nil {
		return nil, fmt.Errorf("keeping the kernel out of the dataplane's traffic needs nft (Debian package nftables): %w", err)
	}
	g := &KernelGuard{nft: nft, table: spec.table()}
	if err := g.Update(ctx, spec); err != nil {
		return nil, err
	}
	return g, nil
}

// Update replaces the guard's rules in one transaction, for example after a
// reload changed the VIPs or the real servers.
func (g *KernelGuard) Update(ctx context.Context, spec GuardSpec) error {
	spec.Table = g.table
	script, err := spec.ruleset()
	if err != nil {
		return err
	}
	if err := g.run(ctx, script); err != nil {
		return fmt.Errorf("installing nftables table netdev %s: %w", g.table, err)
	}
	return nil
}

// Remove deletes the guard table. Removing a table that is already gone is
// not an error.
func (g *KernelGuard) Remove(ctx context.Context) error {
	script := fmt.Sprintf("table netdev %s\ndelete table netdev %s\n", g.table, g.table)
	if err := g.run(ctx, script); err != nil {
		return fmt.Errorf("removing nftables table netdev %s: %w", g.table, err)
	}
	return nil
}

func (g *KernelGuard) run(ctx context.Context, script string) error {
	cmd := exec.CommandContext(ctx, g.nft, "-f", "-")
	cmd.Stdin = strings.NewReader(script)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		if msg := strings.TrimSpace(stderr.String()); msg != "" {
			return fmt.Errorf("%w: %s", err, msg)
		}
		return err
	}
	return nil
}
