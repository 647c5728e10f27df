package config

import (
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// virtualKeys are the keys of a virtual (and failover) block, in the order
// Format writes them: the Piranha GUI's order (reference §1.5).
var virtualKeys = []keyDef[Virtual]{
	boolKey("active", false, func(v *Virtual) *bool { return &v.Active }),
	addrDevKey("address", func(v *Virtual) (*netip.Addr, *string) { return &v.Address, &v.Device }),
	{name: "vip_nmask", nargs: 1,
		set: func(v *Virtual, t []token) (err error) { v.VIPNetmask, err = parseMask(t[0].text); return },
		get: func(v *Virtual) (string, bool) { return v.VIPNetmask.String(), v.VIPNetmask.IsValid() }},
	{name: "fwmark", nargs: 1,
		set: func(v *Virtual, t []token) error {
			n, err := intIn(t[0].text, 0, math.MaxUint32, "a firewall mark")
			v.FWMark = uint32(n)
			return err
		},
		get: func(v *Virtual) (string, bool) { return strconv.FormatUint(uint64(v.FWMark), 10), true }},
	{name: "port", nargs: 1,
		set: func(v *Virtual, t []token) (err error) { v.Port, err = parsePort(t[0].text, 0); return },
		get: func(v *Virtual) (string, bool) { return strconv.Itoa(int(v.Port)), true }},
	secsKey("persistent", 0, func(v *Virtual) *time.Duration { return &v.Persistent }),
	{name: "pmask", nargs: 1,
		set: func(v *Virtual, t []token) (err error) {
			v.PMask, err = parseMask(t[0].text)
			if v.PMask.Bits() == 32 && !v.PMask.IsPrefixLen() || v.PMask.Bits() == 128 {
				v.PMask = Netmask{} // Piranha: 255.255.255.255 means unset; so does /128 for IPv6
			}
			return err
		},
		get: func(v *Virtual) (string, bool) {
			if !v.PMask.IsValid() && v.IsIPv6() {
				return "128", true
			}
			if !v.PMask.IsValid() {
				return "255.255.255.255", true
			}
			return v.PMask.String(), true
		}},
	strKey("send", false, true, func(v *Virtual) *string { return &v.Send }),
	strKey("expect", false, true, func(v *Virtual) *string { return &v.Expect }),
	boolKey("use_regex", false, func(v *Virtual) *bool { return &v.UseRegex }),
	strKey("send_program", false, true, func(v *Virtual) *string { return &v.SendProgram }),
	{name: "load_monitor", nargs: 1,
		set: func(v *Virtual, t []token) error {
			if t[0].text == "" {
				return fmt.Errorf("expected none, uptime, rup, ruptime or a command, got an empty string")
			}
			v.LoadMonitor = t[0].text
			return nil
		},
		get: func(v *Virtual) (string, bool) { return quoteValue(v.LoadMonitor, false), v.LoadMonitor != "" }},
	{name: "scheduler", nargs: 1,
		set: func(v *Virtual, t []token) error {
			s, ok := ParseScheduler(t[0].text)
			if !ok {
				return fmt.Errorf("expected a scheduler (%s), got %q", strings.Join(SchedulerNames(), " "), t[0].text)
			}
			v.Scheduler = s
			return nil
		},
		get: func(v *Virtual) (string, bool) { return v.Scheduler.String(), v.Scheduler != 0 }},
	{name: "scheduler_flags", nargs: 1, ext: true,
		set: func(v *Virtual, t []token) (err error) { v.SchedFlags, err = parseSchedFlags(t[0].text); return },
		get: func(v *Virtual) (string, bool) { return v.SchedFlags.format(v.Scheduler), v.SchedFlags != 0 }},
	{name: "mh_table_size", nargs: 1, ext: true,
		set: func(v *Virtual, t []token) error {
			n, ok := parseCInt(t[0].text)
			if !ok || !slices.Contains(mhTableSizes, int(n)) {
				return fmt.Errorf("expected a Maglev table size (one of the kernel's primes %s), got %q",
					strings.Trim(fmt.Sprint(mhTableSizes), "[]"), t[0].text)
			}
			v.MHTableSize = int(n)
			return nil
		},
		get: func(v *Virtual) (string, bool) { return strconv.Itoa(v.MHTableSize), true }},
	{name: "protocol", nargs: 1,
		set: func(v *Virtual, t []token) (err error) { v.Protocol, err = parseProtocol(t[0].text); return },
		get: func(v *Virtual) (string, bool) { return v.Protocol.String(), v.Protocol != 0 }},
	{name: "ftp_helper", nargs: 1, ext: true,
		set: func(v *Virtual, t []token) (err error) { v.FTPHelper, err = parseBool(t[0].text); return },
		get: func(v *Virtual) (string, bool) { return fmtBool(v.FTPHelper), v.FTPHelper }},
	secsKey("timeout", 1, func(v *Virtual) *time.Duration { return &v.Timeout }),
	secsKey("reentry", 0, func(v *Virtual) *time.Duration { return &v.Reentry }),
	boolKey("quiesce_server", false, func(v *Virtual) *bool { return &v.QuiesceServer }),
	addrKey("sorry_server", func(v *Virtual) *netip.Addr { return &v.SorryServer }),
	strKey("client_monitor", false, false, func(v *Virtual) *string { return &v.ClientMonitor }),
	strKey("start_cmd", false, true, func(v *Virtual) *string { return &v.StartCmd }),
	strKey("stop_cmd", false, true, func(v *Virtual) *string { return &v.StopCmd }),
	addrKey("master", func(v *Virtual) *netip.Addr { return &v.Master }),
	{name: "dirs", nargs: listArgs,
		set: func(v *Virtual, t []token) error {
			v.Dirs = []string{} // "dirs = [ ]" is an empty list, not an absent key
			for _, x := range t {
				v.Dirs = append(v.Dirs, x.text)
			}
			return nil
		},
		get: func(v *Virtual) (string, bool) {
			parts := []string{"["}
			for _, d := range v.Dirs {
				parts = append(parts, quoteValue(d, false))
			}
			return strings.Join(append(parts, "]"), " "), v.Dirs != nil
		}},
	bgpCommunityKey,
	bgpMEDKey,
}

// serverKeys are the keys of a server block, in the order Format writes them.
var serverKeys = []keyDef[Server]{
	{name: "address", nargs: 1, always: true,
		set: func(s *Server, t []token) (err error) { s.Address, err = parseIP(t[0].text); return },
		get: func(s *Server) (string, bool) { return fmtAddr(s.Address) }},
	{name: "active", nargs: 1, always: true,
		set: func(s *Server, t []token) (err error) { s.Active, err = parseBool(t[0].text); return },
		get: func(s *Server) (string, bool) { return fmtBool(s.Active), true }},
	{name: "port", nargs: 1,
		set: func(s *Server, t []token) (err error) { s.Port, err = parsePort(t[0].text, 1); return },
		get: func(s *Server) (string, bool) { return strconv.Itoa(int(s.Port)), s.Port != 0 }},
	intKey("weight", false, 0, 65535, "a weight", func(s *Server) *int { return &s.Weight }),
	intKey("uthreshold", true, 0, math.MaxInt32, "an upper connection threshold", func(s *Server) *int { return &s.UThreshold }),
	intKey("lthreshold", true, 0, math.MaxInt32, "a lower connection threshold", func(s *Server) *int { return &s.LThreshold }),
}
