package daemon

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"lvs/config"
)

// Exit statuses of the one-shot modes.
const (
	ExitOK    = 0 // the configuration is usable
	ExitError = 1 // it is not, or it could not be read
)

// loaded is a configuration and its rules, read and checked.
type loaded struct {
	cfg      *config.Config
	rules    *config.Rules
	errs     []*config.ParseError
	warnings []*config.ParseError
	text     []byte // lvs.cf as read
}

// load reads the configuration and the iptables rules named by opts. err is
// set only when a file cannot be read; problems inside files go to errs.
func load(opts Options) (*loaded, error) {
	name := opts.configFile()
	text, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("reading configuration: %w", err)
	}
	return loadText(opts, name, text)
}

// loadText is load for lvs.cf's bytes, read from name or received from the
// partner router (config sync); the iptables rules come from opts.
func loadText(opts Options, name string, text []byte) (*loaded, error) {
	c, err := config.Parse(name, bytes.NewReader(text))
	if c == nil {
		return nil, err
	}
	l := &loaded{cfg: c, text: text, errs: config.Errors(err), warnings: c.Warnings, rules: c.Rules(name)}
	ipt, err := loadIptables(opts.IptablesFile)
	if err != nil && !errors.Is(err, config.ErrInvalid) {
		return nil, err
	}
	l.errs = append(l.errs, config.Errors(err)...)
	l.rules.Merge(ipt)
	if ipt != nil {
		l.warnings = append(l.warnings, ipt.Warnings...)
	}
	ip6t, err := loadIp6tables(opts.Ip6tablesFile)
	if err != nil && !errors.Is(err, config.ErrInvalid) {
		return nil, err
	}
	l.errs = append(l.errs, config.Errors(err)...)
	l.rules.Merge(ip6t)
	if ip6t != nil {
		l.warnings = append(l.warnings, ip6t.Warnings...)
	}
	if len(l.errs) == 0 {
		l.warnings = append(l.warnings, config.CheckRules(name, c, l.rules)...)
	}
	return l, nil
}

// defaultIptablesFile is config.DefaultIptablesFile; tests point it elsewhere.
var defaultIptablesFile = config.DefaultIptablesFile

// loadIptables reads the iptables-save file; a missing default file means
// no rules.
func loadIptables(name string) (*config.Rules, error) {
	explicit := name != ""
	if !explicit {
		name = defaultIptablesFile
	}
	f, err := os.Open(name)
	if errors.Is(err, fs.ErrNotExist) && !explicit {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading iptables rules: %w", err)
	}
	defer f.Close()
	return config.ParseIptables(name, f)
}

// loadIp6tables reads the ip6tables-save file named by --ip6tables, if
// any.
func loadIp6tables(name string) (*config.Rules, error) {
	if name == "" {
		return nil, nil
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("reading ip6tables rules: %w", err)
	}
	defer f.Close()
	return config.ParseIp6tables(name, f)
}

// ConfigTest implements `lvsd -t`: it reads the configuration and rules
// of opts, prints every error and warning to stderr (warnings prefixed
// "warning: "), then a verdict to stdout, and returns the exit status:
// ExitOK when the configuration is usable, ExitError otherwise.
func ConfigTest(opts Options, stdout, stderr io.Writer) int {
	l, err := load(opts)
	if err != nil {
		fmt.Fprintln(stderr, "lvsd:", err)
		return ExitError
	}
	report(l, stderr)
	if n := len(l.errs); n > 0 {
		fmt.Fprintln(stdout, plural(n, "error"))
		return ExitError
	}
	fmt.Fprintln(stdout, summary(l))
	return ExitOK
}

// ConfigDump implements `lvsd --config-dump`: it prints the configuration
// in the normalised layout of config.Format to stdout. Problems go to
// stderr as in ConfigTest; with errors nothing is printed to stdout.
func ConfigDump(opts Options, stdout, stderr io.Writer) int {
	l, err := load(opts)
	if err != nil {
		fmt.Fprintln(stderr, "lvsd:", err)
		return ExitError
	}
	report(l, stderr)
	if n := len(l.errs); n > 0 {
		fmt.Fprintln(stderr, "lvsd:", plural(n, "error"))
		return ExitError
	}
	if _, err := stdout.Write(config.Format(l.cfg)); err != nil {
		fmt.Fprintln(stderr, "lvsd: writing configuration:", err)
		return ExitError
	}
	return ExitOK
}

// report prints errors and warnings, errors first, each in line order.
func report(l *loaded, w io.Writer) {
	for _, e := range l.errs {
		fmt.Fprintln(w, e)
	}
	for _, e := range l.warnings {
		fmt.Fprintln(w, "warning:", e)
	}
}

func summary(l *loaded) string {
	c := l.cfg
	virtuals, servers := c.Counts()
	s := fmt.Sprintf("configuration OK: %s (%d active), %s", plural(virtuals, "virtual server"), len(c.ActiveVirtuals()), plural(servers, "real server"))
	if len(c.Failovers) > 0 {
		s += ", " + plural(len(c.Failovers), "failover service")
	}
	if n := len(l.rules.Marks) + len(l.rules.Masquerades); n > 0 {
		s += fmt.Sprintf(", %s, %s", plural(len(l.rules.Marks), "firewall-mark rule"), plural(len(l.rules.Masquerades), "masquerade rule"))
	}
	if n := len(l.warnings); n > 0 {
		s += ", " + plural(n, "warning")
	}
	return s
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
