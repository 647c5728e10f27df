package sim

import (
	"bytes"
	"fmt"
	"net/netip"

	"lvs/config"
)

// LVSSite is a site's lvs.cf as the simulator uses it: the parsed model
// (shared by both routers) and the text written to each router's run dir.
type LVSSite struct {
	Config *config.Config
	Text   []byte // what the routers read, as written by config.Format
}

// loadLVSConf parses a router's lvs.cf with the config package, the same
// code lvsd uses, and formats it back for the routers.
func loadLVSConf(name string, data []byte) (*LVSSite, error) {
	c, err := parseLVSConf(name, data)
	if err != nil {
		return nil, err
	}
	return &LVSSite{Config: c, Text: formatLVSConf(c, data)}, nil
}

// virtualFor returns the active virtual server a traffic destination hits:
// by address and port, or, for firewall-mark services, by address alone.
func (s *LVSSite) virtualFor(to netip.AddrPort, name string) (*config.Virtual, error) {
	if s == nil {
		return nil, fmt.Errorf("the topology has no lvs_cf")
	}
	for _, v := range s.Config.ActiveVirtuals() {
		if name != "" {
			if v.Name == name {
				return v, nil
			}
			continue
		}
		if v.Address == to.Addr() && (v.Port == to.Port() || v.FWMark != 0) {
			return v, nil
		}
	}
	if name != "" {
		return nil, fmt.Errorf("lvs.cf has no active virtual server %q", name)
	}
	return nil, fmt.Errorf("lvs.cf has no active virtual server for %v", to)
}

// activeServers returns the active real servers of v with a positive weight.
func activeServers(v *config.Virtual) []*config.Server {
	var out []*config.Server
	for _, s := range v.Servers {
		if s.Active && s.Weight > 0 {
			out = append(out, s)
		}
	}
	return out
}

// parseLVSConf reads a router's lvs.cf with config.Parse, the parser lvsd
// uses, so a topology's lvs.cf is checked exactly as the routers would.
func parseLVSConf(name string, data []byte) (*config.Config, error) {
	return config.Parse(name, bytes.NewReader(data))
}

// formatLVSConf returns the text the routers read: config.Format of the
// parsed model, the code path users rely on when lvsd rewrites lvs.cf.
func formatLVSConf(c *config.Config, _ []byte) []byte { return config.Format(c) }
