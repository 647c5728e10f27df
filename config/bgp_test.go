package config

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
)

// ecmpSite is a two-director ECMP site announcing one VIP by BGP.
const ecmpSite = `primary = 192.168.26.9
network = direct
redundancy = ecmp
directors = [ 192.168.26.9 192.168.26.8 ]
syncdaemon = 1
bgp {
     local_as = 65001
     drain_time = 7
     peer upstream {
         address = 192.168.26.1
         remote_as = 65000
         hold_time = 3
         password = "s3cret key"
         multihop = 2
     }
     peer second {
         address = 192.168.26.2
         remote_as = 65000
     }
}
virtual web {
     active = 1
     address = 192.168.26.10 eth0:1
     scheduler = mh
     bgp_community = 65000:100,65001:7
     bgp_med = 20
     server web1 {
         address = 192.168.26.21
         active = 1
     }
}
`

func TestParseBGP(t *testing.T) {
	c := mustParse(t, ecmpSite)
	if c.Redundancy != RedundancyECMP {
		t.Errorf("Redundancy = %v, want ecmp", c.Redundancy)
	}
	if got, want := c.ECMPDirectors(), []netip.Addr{ip("192.168.26.9"), ip("192.168.26.8")}; !reflect.DeepEqual(got, want) {
		t.Errorf("ECMPDirectors() = %v, want %v", got, want)
	}
	want := &BGP{LocalAS: 65001, DrainTime: 7 * time.Second, Keys: []string{"local_as", "drain_time"},
		Peers: []*BGPPeer{
			{Name: "upstream", Address: ip("192.168.26.1"), RemoteAS: 65000, HoldTime: 3 * time.Second,
				Password: "s3cret key", Multihop: 2, Keys: []string{"address", "remote_as", "hold_time", "password", "multihop"}},
			{Name: "second", Address: ip("192.168.26.2"), RemoteAS: 65000, HoldTime: DefaultHoldTime,
				Keys: []string{"address", "remote_as"}},
		}}
	if !reflect.DeepEqual(c.BGP, want) {
		t.Errorf("BGP = %+v, want %+v", c.BGP, want)
	}
	v := c.Virtuals[0]
	if got := formatCommunities(v.BGPCommunities); got != "65000:100,65001:7" || v.BGPMED != 20 {
		t.Errorf("bgp_community, bgp_med = %s, %d; want 65000:100,65001:7, 20", got, v.BGPMED)
	}
	if len(c.Warnings) != 0 {
		t.Errorf("Warnings = %v, want none", c.Warnings)
	}
	roundTrip(t, c)
	if got := string(Format(c)); got != ecmpSite {
		t.Errorf("Format = \n%s\nwant the file byte for byte:\n%s", got, ecmpSite)
	}
}

// TestBGPBuiltInCode checks Format of a bgp block built without Keys:
// default values are left out.
func TestBGPBuiltInCode(t *testing.T) {
	c := mustParse(t, wrap("", "", ""))
	c.Redundancy = RedundancyECMP
	c.BGP = NewBGP()
	c.BGP.LocalAS = 64512
	p := NewBGPPeer("r")
	p.Address, p.RemoteAS = ip("192.168.26.1"), 64513
	c.BGP.Peers = append(c.BGP.Peers, p)
	c.Virtuals[0].Scheduler = SchedMH
	out := string(Format(c))
	for _, want := range []string{"redundancy = ecmp\n", "bgp {\n     local_as = 64512\n     peer r {\n         address = 192.168.26.1\n         remote_as = 64513\n     }\n}\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("Format = \n%s\nwant it to contain %q", out, want)
		}
	}
	c2 := mustParse(t, out)
	c2.BGP.Keys, c2.BGP.Peers[0].Keys = nil, nil
	if !reflect.DeepEqual(c2.BGP, c.BGP) || c2.Redundancy != RedundancyECMP {
		t.Errorf("Parse(Format(c)).BGP = %+v, want %+v", c2.BGP, c.BGP)
	}
}

func TestBGPErrors(t *testing.T) {
	peer := func(body string) string {
		return base + "bgp {\n     local_as = 65001\n     peer r {\n" + body + "     }\n}\n"
	}
	tests := []struct {
		name string
		text string
		line int
		msg  string
	}{
		{"bad redundancy", base + "redundancy = active\n", 5, `redundancy: expected pair or ecmp, got "active"`},
		{"named bgp block", base + "bgp main {\n     local_as = 1\n}\n", 5, `bgp: expected "bgp {" (the block has no name)`},
		{"second bgp block", base + "bgp {\n     local_as = 1\n     peer r {\n         address = 1.2.3.4\n         remote_as = 2\n     }\n}\nbgp {\n}\n", 12, "a second bgp block (the first is on line 5)"},
		{"no local_as", base + "bgp {\n     peer r {\n         address = 1.2.3.4\n         remote_as = 2\n     }\n}\n", 5, "bgp: missing local_as"},
		{"no peer", base + "bgp {\n     local_as = 1\n}\n", 5, "bgp: no peer block"},
		{"bad AS", base + "bgp {\n     local_as = 0\n}\n", 6, "local_as: expected an AS number"},
		{"unknown bgp key", base + "bgp {\n     local_asn = 1\n}\n", 6, `unknown key "local_asn" in bgp (did you mean "local_as"?)`},
		{"unknown block in bgp", base + "bgp {\n     neighbor r {\n     }\n}\n", 6, `unknown block "neighbor" in bgp: expected peer`},
		{"peer without address", peer("         remote_as = 2\n"), 7, "bgp, peer r: missing address"},
		{"peer without remote_as", peer("         address = 1.2.3.4\n"), 7, "bgp, peer r: missing remote_as"},
		{"short hold time", peer("         address = 1.2.3.4\n         remote_as = 2\n         hold_time = 2\n"), 10, "hold_time must be 0 or at least 3 seconds"},
		{"multihop range", peer("         address = 1.2.3.4\n         remote_as = 2\n         multihop = 256\n"), 10, "multihop: expected a TTL"},
		{"unknown peer key", peer("         adress = 1.2.3.4\n"), 8, `unknown key "adress" in bgp, peer r (did you mean "address"?)`},
		{"same peer address", base + "bgp {\n     local_as = 1\n     peer a {\n         address = 1.2.3.4\n         remote_as = 2\n     }\n     peer b {\n         address = 1.2.3.4\n         remote_as = 2\n     }\n}\n", 12, "bgp, peer b: address 1.2.3.4 is also peer a"},
		{"bad community", wrap("", "     bgp_community = 65000\n", ""), 8, "bgp_community: expected communities AS:VALUE"},
		{"director twice", base + "redundancy = ecmp\ndirectors = [ 1.2.3.4 1.2.3.4 ]\n", 6, "directors: 1.2.3.4 is listed twice"},
		{"unclosed bgp", base + "bgp {\n     local_as = 1\nvirtual web {\n}\n", 7, "virtual web starts inside bgp (line 5)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("test.cf", strings.NewReader(tt.text))
			for _, e := range Errors(err) {
				if e.Line == tt.line && strings.Contains(e.Msg, tt.msg) && e.File == "test.cf" {
					return
				}
			}
			t.Errorf("Parse errors = %v\nwant one at test.cf:%d containing %q", err, tt.line, tt.msg)
		})
	}
}

func TestECMPWarnings(t *testing.T) {
	bgp := "bgp {\n     local_as = 1\n     peer r {\n         address = 192.168.26.1\n         remote_as = 2\n     }\n}\n"
	tests := []struct {
		name string
		text string
		line int    // 0: no warning wanted
		msg  string // in the warning; with line 0, in none
	}{
		{"unsafe scheduler", wrap("redundancy = ecmp\n"+bgp, "     scheduler = wlc\n", ""), 16, "virtual web: scheduler wlc is not ECMP-safe"},
		{"default scheduler is unsafe", wrap("redundancy = ecmp\n"+bgp, "", ""), 13, "scheduler wlc is not ECMP-safe"},
		{"mh is safe", wrap("redundancy = ecmp\n"+bgp, "     scheduler = mh\n", ""), 0, "ECMP-safe"},
		{"sh is safe", wrap("redundancy = ecmp\n"+bgp, "     scheduler = sh\n", ""), 0, "ECMP-safe"},
		{"dh is safe", wrap("redundancy = ecmp\n"+bgp, "     scheduler = dh\n", ""), 0, "ECMP-safe"},
		{"unsafe with sync", wrap("redundancy = ecmp\nsyncdaemon = 1\n"+bgp, "     scheduler = rr\n", ""), 0, "ECMP-safe"},
		{"pair mode", wrap(bgp, "     scheduler = rr\n", ""), 0, "ECMP-safe"},
		{"ecmp without bgp", wrap("redundancy = ecmp\n", "     scheduler = mh\n", ""), 5, "redundancy = ecmp without a bgp block"},
		{"ecmp with nat", wrap("redundancy = ecmp\n"+bgp, "     scheduler = mh\n", ""), 2, "network = nat with redundancy = ecmp"},
		{"community without bgp", wrap("", "     bgp_med = 5\n", ""), 8, "bgp_community and bgp_med need a bgp block"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustParse(t, tt.text)
			for _, w := range c.Warnings {
				if strings.Contains(w.Msg, tt.msg) {
					if tt.line == 0 || w.Line != tt.line {
						t.Errorf("warning %v, want it at line %d (0: no such warning)", w, tt.line)
					}
					return
				}
			}
			if tt.line != 0 {
				t.Errorf("Warnings = %v, want one at line %d containing %q", c.Warnings, tt.line, tt.msg)
			}
		})
	}
}
