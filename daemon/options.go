package daemon

import "log/slog"

// Options are lvsd's command-line settings, filled by cmd/lvsd.
type Options struct {
	// ConfigFile is the lvs.cf to read; "" means config.DefaultFile.
	ConfigFile string
	// IptablesFile is an iptables-save file with the guide's MARK and
	// MASQUERADE rules. "" means config.DefaultIptablesFile, which may be
	// missing; a file named here must exist.
	IptablesFile string
	// ConfigTest checks the configuration, prints every problem and exits.
	ConfigTest bool
	// ConfigDump prints the normalised configuration and exits.
	ConfigDump bool
	// Workers is the number of dataplane workers per interface; 0 means
	// one per CPU.
	Workers int
	// Logger receives lvsd's log; nil means text lines on stderr.
	Logger *slog.Logger
	// Socket is the control socket lvsadm talks to; "" means
	// admin.DefaultSocket, "off" none.
	Socket string
	// Admin is the address of the admin HTTP listener (/metrics, events,
	// /proc texts); "" means DefaultAdmin, "off" none.
	Admin string
}
