package keepalived

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"

	"lvs/config"
)

// Usage is the help of `lvsadm import-keepalived`.
const Usage = `Usage: lvsadm import-keepalived [-o FILE] [--primary IP] [--backup IP] [--config-id ID] KEEPALIVED.CONF

Convert a keepalived.conf (and the files it includes) into an lvs.cf: its
virtual_server blocks, real servers and checkers, and the vrrp_instance that
carries the virtual addresses. Everything that has no equivalent in lvs.cf
is printed as "warning: FILE:LINE: ..." and listed in comments at the top of
the output. The result is checked as lvsd -t checks it; with an error
nothing is written and the exit status is 1.

  -o, --output FILE   write lvs.cf to FILE (atomically, keeping FILE.bak)
                      instead of standard output
  --primary IP        the primary router's public address, when the
  --backup IP         vrrp_instance does not tell it (multicast VRRP takes
                      the address from the interface at run time)
  --config-id ID      keep the @ID conditional lines, as keepalived -i ID
`

// Exit statuses of Command, as lvsadm's.
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

// Command runs `lvsadm import-keepalived ARGS` and returns its exit status.
func Command(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("import-keepalived", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var out, primary, backup string
	var opts Options
	fs.StringVar(&out, "o", "", "")
	fs.StringVar(&out, "output", "", "")
	fs.StringVar(&primary, "primary", "", "")
	fs.StringVar(&backup, "backup", "", "")
	fs.StringVar(&opts.ConfigID, "config-id", "", "")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, Usage)
			return exitOK
		}
		fmt.Fprintf(stderr, "lvsadm: import-keepalived: %v\n%s", err, Usage)
		return exitUsage
	}
	if fs.NArg() != 1 {
		fmt.Fprintf(stderr, "lvsadm: import-keepalived: expected one keepalived.conf, got %d arguments\n%s", fs.NArg(), Usage)
		return exitUsage
	}
	for _, a := range []struct {
		flag, val string
		to        *netip.Addr
	}{{"--primary", primary, &opts.Primary}, {"--backup", backup, &opts.Backup}} {
		if a.val == "" {
			continue
		}
		ip, err := netip.ParseAddr(a.val)
		if err != nil || !ip.Is4() {
			fmt.Fprintf(stderr, "lvsadm: import-keepalived: %s: expected an IPv4 address, got %q\n", a.flag, a.val)
			return exitUsage
		}
		*a.to = ip
	}
	name := fs.Arg(0)
	res, err := Import(name, opts)
	if res == nil {
		fmt.Fprintln(stderr, "lvsadm: import-keepalived:", err)
		return exitFail
	}
	errs := config.Errors(err)
	for _, e := range errs {
		fmt.Fprintln(stderr, e)
	}
	for _, w := range res.Warnings {
		fmt.Fprintln(stderr, "warning:", w)
	}
	if len(errs) > 0 {
		what := "errors"
		if len(errs) == 1 {
			what = "error"
		}
		fmt.Fprintf(stderr, "lvsadm: import-keepalived: %d %s in %s: nothing written\n", len(errs), what, name)
		return exitFail
	}
	text := Text(name, res)
	outName := out
	if outName == "" {
		outName = "lvs.cf"
	}
	// The same check as lvsd -t, on the text as written.
	c, err := config.Parse(outName, bytes.NewReader(text))
	if c != nil {
		for _, w := range c.Warnings {
			fmt.Fprintln(stderr, "warning:", w)
		}
	}
	if err != nil {
		for _, e := range config.Errors(err) {
			fmt.Fprintln(stderr, e)
		}
		fmt.Fprintln(stderr, "lvsadm: import-keepalived: the converted lvs.cf does not pass lvsd -t: nothing written")
		return exitFail
	}
	if out == "" {
		if _, err := stdout.Write(text); err != nil {
			fmt.Fprintln(stderr, "lvsadm: import-keepalived:", err)
			return exitFail
		}
		return exitOK
	}
	if err := config.ReplaceText(out, text); err != nil {
		fmt.Fprintln(stderr, "lvsadm: import-keepalived:", err)
		return exitFail
	}
	return exitOK
}

// Text is the lvs.cf of a conversion: a comment naming the source and
// listing what did not carry over, then config.Format of the configuration.
func Text(name string, res *Result) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# lvs.cf converted from %s by lvsadm import-keepalived.\n", name)
	if len(res.Warnings) > 0 {
		b.WriteString("# Not carried over, or changed (keepalived.conf line: what):\n")
		for _, w := range res.Warnings {
			fmt.Fprintf(&b, "#   %s\n", w)
		}
	}
	b.Write(config.Format(res.Config))
	return b.Bytes()
}
