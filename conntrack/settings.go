package conntrack

import "time"

// Settings are the IPVS sysctls that change what the table does, with the
// kernel's names (Documentation/networking/ipvs-sysctl.rst). Change them at
// run time with SetSettings.
type Settings struct {
	// ExpireNodestConn: a packet of an entry whose destination was removed
	// (or failed and left the table) expires the entry and is scheduled
	// afresh, and the sweep expires such entries without waiting for a
	// packet (ip_vs_expire_nodest_conn_flush). With it off the packet is
	// dropped and the entry lives out its timeout (kernel default 0). On by
	// default here: stale UDP flows to a dead server were the first
	// complaint of IPVS users (reference §5 #1).
	ExpireNodestConn bool
	// ExpireQuiescentTemplate: a persistence template whose destination has
	// weight 0 is invalidated when next used, so new connections of that
	// client are scheduled afresh (kernel default 0: they stick).
	ExpireQuiescentTemplate bool
	// ConnReuseMode: bit 0 reschedules a new SYN that hits an entry in
	// TIME_WAIT or CLOSE (client port reuse), bit 1 also one in FIN_WAIT of
	// a DR/TUN entry (NOOUTPUT); 0 reuses the old entry (kernel default 1).
	ConnReuseMode int
	// SecureTCP: 0 never, 1 while the table is under pressure, 2 always use
	// the stricter tcp_states_dos table and HalfOpenTimeout for SYN_RECV and
	// SYNACK (a merge of the kernel's secure_tcp and drop_entry modes).
	SecureTCP int
	// HalfOpenTimeout replaces the SYN_RECV and SYNACK timeouts while secure
	// TCP is in force (default 5 s; the kernel's are 60 s and 120 s).
	HalfOpenTimeout time.Duration
	// PressurePercent is the fill level, in percent of MaxEntries, above
	// which the table is under pressure (default 90).
	PressurePercent int
}

// DefaultSettings returns the settings a new table starts with.
func DefaultSettings() Settings {
	return Settings{
		ExpireNodestConn: true,
		ConnReuseMode:    1,
		SecureTCP:        1,
		HalfOpenTimeout:  5 * time.Second,
		PressurePercent:  90,
	}
}

// Settings returns the current settings.
func (t *Table) Settings() Settings { return *t.set.Load() }

// SetSettings replaces the settings; zero HalfOpenTimeout or PressurePercent
// keep their defaults.
func (t *Table) SetSettings(s Settings) {
	d := DefaultSettings()
	if s.HalfOpenTimeout <= 0 {
		s.HalfOpenTimeout = d.HalfOpenTimeout
	}
	if s.PressurePercent <= 0 || s.PressurePercent > 100 {
		s.PressurePercent = d.PressurePercent
	}
	t.set.Store(&s)
}
