package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"lvs/admin/api"
	"lvs/admin/client"
	"lvs/admin/ipvsadm"
	"lvs/ipvs"
)

// CLI is lvsadm: ipvsadm's command line, run against a live lvsd through
// its control API. cmd/lvsadm only wires it to the process.
type CLI struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
}

// Run runs one lvsadm invocation (args without the program name) and
// returns the exit status, as ipvsadm: 0 done, 1 the operation failed
// (ipvsadm's kernel errors, lvsd unreachable), 2 a usage error. Messages go
// to Stderr with ipvsadm's wording.
func (c CLI) Run(ctx context.Context, args []string) int {
	cmd, err := ipvsadm.ParseArgs(args)
	if err != nil {
		return c.fail(err, "")
	}
	switch cmd.Kind {
	case ipvsadm.KindHelp:
		fmt.Fprint(c.Stdout, Usage)
		return 0
	case ipvsadm.KindVersion:
		fmt.Fprintln(c.Stdout, Version)
		return 0
	}
	cl := client.NewClient(cmd.Socket)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, answerTimeout)
	defer cancel()
	if err := c.exec(ctx, cl, cmd); err != nil {
		if cmd.Kind.IsEdit() {
			err = withoutPrefix(err, &cmd, 0)
		}
		return c.fail(err, cmd.Kind)
	}
	return 0
}

// withoutPrefix drops from the daemon's message the name it gives command
// i of the batch (CommandError), when lvsadm names the command itself: as
// ipvsadm, `lvsadm -a …` prints only what went wrong, and -R the line.
func withoutPrefix(err error, cmd *ipvsadm.Command, i int) error {
	var ae *api.APIError
	if !errors.As(err, &ae) || ae.Index != i {
		return err
	}
	short := *ae
	short.Message = strings.TrimPrefix(ae.Message, ipvsadm.CommandPrefix(i, cmd))
	return &short
}

// answerTimeout bounds how long lvsadm waits for lvsd, so that a wedged
// daemon cannot hang a script; edits normally take milliseconds.
const answerTimeout = time.Minute

// fail prints err as ipvsadm would and returns the exit status.
func (c CLI) fail(err error, k ipvsadm.Kind) int {
	var re *ipvsadm.RestoreError
	if errors.As(err, &re) {
		fmt.Fprintf(c.Stderr, "line %d: %s\n", re.Line, IpvsadmMessage(re.Err, ""))
	} else {
		fmt.Fprintln(c.Stderr, IpvsadmMessage(err, k))
	}
	var ue *ipvsadm.UsageError
	if errors.As(err, &ue) {
		return 2
	}
	return 1
}

func (c CLI) exec(ctx context.Context, cl *client.Client, cmd ipvsadm.Command) error {
	switch {
	case cmd.Kind == ipvsadm.KindList:
		return c.list(ctx, cl, cmd)
	case cmd.Kind == ipvsadm.KindSave:
		st, err := cl.Status(ctx)
		if err != nil {
			return err
		}
		return ipvsadm.WriteList(c.Stdout, st, ipvsadm.FmtRule)
	case cmd.Kind.IsEdit(), cmd.Kind.IsSync():
		return cl.Apply(ctx, []ipvsadm.Command{cmd})
	case cmd.Kind == ipvsadm.KindZero:
		var svc *ipvs.ServiceKey
		if cmd.HasService {
			svc = &cmd.Service
		}
		return cl.Zero(ctx, svc)
	case cmd.Kind == ipvsadm.KindSetTimeouts:
		_, err := cl.SetTimeouts(ctx, cmd.Timeouts)
		return err
	case cmd.Kind == ipvsadm.KindRestore:
		return c.restore(ctx, cl)
	case cmd.Kind == ipvsadm.KindSaveConfig:
		path, err := cl.SaveConfig(ctx)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(c.Stdout, "saved the running table to %s\n", path)
		return err
	}
	return fmt.Errorf("running %q: %w", cmd.Kind, errors.ErrUnsupported)
}

// list is ipvsadm's CMD_LIST: connections, one service, the timeouts, the
// sync daemons, or the whole table.
func (c CLI) list(ctx context.Context, cl *client.Client, cmd ipvsadm.Command) error {
	switch {
	case cmd.Conns:
		conns, err := cl.Connections(ctx)
		if err != nil {
			return err
		}
		return ipvsadm.WriteConns(c.Stdout, conns, cmd.Format)
	case cmd.HasService:
		st, err := cl.Status(ctx)
		if err != nil {
			return err
		}
		return ipvsadm.WriteService(c.Stdout, st, cmd.Service, cmd.Format)
	case cmd.ShowTimeouts:
		t, err := cl.Timeouts(ctx)
		if err != nil {
			return err
		}
		return ipvsadm.WriteTimeouts(c.Stdout, t)
	case cmd.ShowDaemon:
		h, err := cl.HA(ctx)
		if err != nil {
			return err
		}
		return ipvsadm.WriteDaemon(c.Stdout, h, time.Now())
	}
	st, err := cl.Status(ctx)
	if err != nil {
		return err
	}
	return ipvsadm.WriteList(c.Stdout, st, cmd.Format)
}

// restore is -R: parse all of stdin, then apply it as one batch.
func (c CLI) restore(ctx context.Context, cl *client.Client) error {
	cmds, lines, err := ipvsadm.ParseRestore(c.Stdin)
	if err != nil {
		return err
	}
	if len(cmds) == 0 {
		return nil
	}
	err = cl.Apply(ctx, cmds)
	var ae *api.APIError
	if errors.As(err, &ae) && ae.Index >= 0 && ae.Index < len(cmds) {
		// ipvsadm would have applied the lines before this one; lvsd applied none.
		err = withoutPrefix(err, &cmds[ae.Index], ae.Index)
		return &ipvsadm.RestoreError{Line: lines[ae.Index], Err: errors.New(IpvsadmMessage(err, cmds[ae.Index].Kind))}
	}
	return err
}
