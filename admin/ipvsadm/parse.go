package ipvsadm

import (
	"strings"

	"lvs/admin"
)

// argKind says whether an option takes an argument.
type argKind uint8

const (
	argNone     argKind = iota
	argRequired         // -t ADDR, --weight=N
	argOptional         // -p [timeout]: the next word when it does not start with '-'
)

// option is one entry of ipvsadm's popt option table.
type option struct {
	long  string
	short byte
	arg   argKind
}

// options is ipvsadm's option table (parse_options in ipvsadm.c) plus
// lvsadm's --socket and --save-config. -b (--sched-flags) is ipvsadm 1.31's.
var options = []option{
	{"add-service", 'A', argNone}, {"edit-service", 'E', argNone}, {"delete-service", 'D', argNone},
	{"clear", 'C', argNone}, {"list", 'L', argNone}, {"list", 'l', argNone}, {"zero", 'Z', argNone},
	{"add-server", 'a', argNone}, {"edit-server", 'e', argNone}, {"delete-server", 'd', argNone},
	{"set", 0, argNone}, {"help", 'h', argNone}, {"version", 'v', argNone},
	{"restore", 'R', argNone}, {"save", 'S', argNone},
	{"start-daemon", 0, argRequired}, {"stop-daemon", 0, argRequired},
	{"tcp-service", 't', argRequired}, {"udp-service", 'u', argRequired}, {"fwmark-service", 'f', argRequired},
	{"scheduler", 's', argRequired}, {"persistent", 'p', argOptional}, {"netmask", 'M', argRequired},
	{"real-server", 'r', argRequired}, {"masquerading", 'm', argNone}, {"ipip", 'i', argNone},
	{"gatewaying", 'g', argNone}, {"weight", 'w', argRequired}, {"u-threshold", 'x', argRequired},
	{"l-threshold", 'y', argRequired}, {"numeric", 'n', argNone}, {"connection", 'c', argNone},
	{"mcast-interface", 0, argRequired}, {"syncid", 0, argRequired}, {"timeout", 0, argNone},
	{"daemon", 0, argNone}, {"stats", 0, argNone}, {"rate", 0, argNone}, {"thresholds", 0, argNone},
	{"persistent-conn", 0, argNone}, {"nosort", 0, argNone}, {"sort", 0, argNone}, {"exact", 'X', argNone},
	{"ops", 'o', argNone}, {"sched-flags", 'b', argRequired}, {"ipv6", '6', argNone},
	{"socket", 0, argRequired}, {"save-config", 0, argNone},
}

func shortOption(c byte) *option {
	for i := range options {
		if options[i].short == c {
			return &options[i]
		}
	}
	return nil
}

func longOption(name string) *option {
	for i := range options {
		if options[i].long == name {
			return &options[i]
		}
	}
	return nil
}

// token is one option occurrence: its long name, the argument, and how the
// user spelled it (for messages).
type token struct {
	name     string
	arg      string
	hasArg   bool
	spelling string
}

// scan splits args the way popt does for ipvsadm: clustered short options
// (-Ln, -Lnc), an argument attached (-w3) or in the next word (-w 3),
// --long and --long=value, -p's optional argument, "--" ending the options.
// Words that are not options are returned as positional arguments.
func scan(args []string) (toks []token, pos []string, err error) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			return toks, append(pos, args[i+1:]...), nil
		case strings.HasPrefix(a, "--"):
			name, val, hasVal := strings.Cut(a[2:], "=")
			o := longOption(name)
			if o == nil {
				return nil, nil, usagef("%s: unknown option", a)
			}
			t := token{name: o.long, spelling: "--" + name}
			if hasVal {
				if o.arg == argNone {
					return nil, nil, usagef("%s: option does not take an argument", a)
				}
				t.arg, t.hasArg = val, true
			} else if t.arg, t.hasArg, i, err = nextArg(o, args, i, a); err != nil {
				return nil, nil, err
			}
			toks = append(toks, t)
		case len(a) > 1 && a[0] == '-':
			var more []token
			if more, i, err = scanCluster(args, i); err != nil {
				return nil, nil, err
			}
			toks = append(toks, more...)
		default:
			pos = append(pos, a)
		}
	}
	return toks, pos, nil
}

// scanCluster reads the short options of args[i] ("-Lnc", "-w3").
func scanCluster(args []string, i int) ([]token, int, error) {
	a := args[i]
	var toks []token
	for j := 1; j < len(a); j++ {
		o := shortOption(a[j])
		if o == nil {
			return nil, i, usagef("-%c: unknown option", a[j])
		}
		t := token{name: o.long, spelling: "-" + string(a[j])}
		if o.arg != argNone {
			if rest := a[j+1:]; rest != "" {
				t.arg, t.hasArg = rest, true
			} else {
				var err error
				if t.arg, t.hasArg, i, err = nextArg(o, args, i, t.spelling); err != nil {
					return nil, i, err
				}
			}
			return append(toks, t), i, nil
		}
		toks = append(toks, t)
	}
	return toks, i, nil
}

// nextArg takes the argument of option o from the word after args[i].
func nextArg(o *option, args []string, i int, spelling string) (string, bool, int, error) {
	switch o.arg {
	case argRequired:
		if i+1 >= len(args) {
			return "", false, i, usagef("%s: missing argument", spelling)
		}
		return args[i+1], true, i + 1, nil
	case argOptional:
		if i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") {
			return args[i+1], true, i + 1, nil
		}
	}
	return "", false, i, nil
}

// commandOf maps the command options to their Kind.
var commandOf = map[string]Kind{
	"add-service": KindAddService, "edit-service": KindEditService, "delete-service": KindDelService,
	"clear": KindClear, "list": KindList, "zero": KindZero, "add-server": KindAddDest,
	"edit-server": KindEditDest, "delete-server": KindDelDest, "set": KindSetTimeouts,
	"help": KindHelp, "version": KindVersion, "restore": KindRestore, "save": KindSave,
	"start-daemon": KindStartDaemon, "stop-daemon": KindStopDaemon, "save-config": KindSaveConfig,
}

// ParseArgs turns an ipvsadm command line (without the program name) into a
// checked Command, with ipvsadm's defaults, rules and messages: the
// command×option matrix, weight 0..65535, -p defaulting to 300 s, a port 0
// service only when persistent, and so on. No arguments at all means -L, as
// ipvsadm. Errors are *UsageError (exit 2) or ErrNoScheduler (exit 1).
//
// Unlike ipvsadm built with popt, the command option may come anywhere
// (`-n -L` works, as with ipvsadm built with getopt), and a second command
// is "multiple commands specified". Host names in addresses are resolved,
// IPv4 only, as ipvsadm's gethostbyname.
func ParseArgs(args []string) (Command, error) {
	if len(args) == 0 {
		return Command{Kind: KindList}, nil
	}
	toks, pos, err := scan(args)
	if err != nil {
		return Command{}, err
	}
	p := newParser()
	for _, t := range toks {
		if err := p.apply(t); err != nil {
			return Command{}, err
		}
	}
	if p.cmd.Kind == "" {
		return Command{}, usagef("%s", TryHelp)
	}
	if p.cmd.Kind == KindHelp || p.cmd.Kind == KindVersion {
		return p.cmd, nil
	}
	if err := p.positional(pos); err != nil {
		return Command{}, err
	}
	if err := p.finish(); err != nil {
		return Command{}, err
	}
	return p.cmd, nil
}

// TryHelp is ipvsadm's tryhelp_exit text.
const TryHelp = "Try `lvsadm -h' or 'lvsadm --help' for more information."

// positional takes --set's three timeouts; any other word is unexpected.
func (p *parser) positional(pos []string) error {
	if p.cmd.Kind == KindSetTimeouts {
		if len(pos) < 3 {
			return usagef("--set option requires 3 timeout values")
		}
		var vals [3]int
		for i := range vals {
			v, err := parseTimeout(pos[i], 0)
			if err != nil {
				return err
			}
			vals[i] = v
		}
		p.cmd.Timeouts = admin.Timeouts{TCP: seconds(vals[0]), TCPFin: seconds(vals[1]), UDP: seconds(vals[2])}
		pos = pos[3:]
	}
	if len(pos) > 0 {
		return usagef("unexpected argument %s", pos[0])
	}
	return nil
}
