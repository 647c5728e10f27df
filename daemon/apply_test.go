package daemon

import (
	"net/netip"
	"strings"
	"testing"

	"lvs/config"
	"lvs/ipvs"
)

// firstSched picks the first available destination; enough to build tables.
type firstSched struct{}

func (firstSched) Name() string         { return "first" }
func (firstSched) Update(*ipvs.Service) {}
func (firstSched) Pick(s *ipvs.Service, _ *ipvs.Flow) *ipvs.Dest {
	for _, d := range s.Dests {
		if d.Available() {
			return d
		}
	}
	return nil
}

func testTable() *ipvs.Table {
	return ipvs.NewTable(ipvs.NewRegistry(), func(string, ipvs.SchedOptions) (ipvs.Scheduler, error) { return firstSched{}, nil })
}

const bundleCf = `primary = 192.168.26.9
network = nat
nat_router = 10.11.12.10 eth1:1
virtual web {
     active = 1
     address = 192.168.26.10 eth0:1
     fwmark = 80
     port = 80
     persistent = 300
     pmask = 255.255.255.0
     scheduler = wrr
     server web1 {
         address = 10.11.12.1
         active = 1
         weight = 1
     }
     server web2 {
         address = 10.11.12.2
         active = 1
         weight = 2
     }
     server off {
         address = 10.11.12.3
         active = 0
     }
}
virtual https {
     active = 1
     address = 192.168.26.10 eth0:1
     fwmark = 80
     port = 443
     persistent = 300
     pmask = 255.255.255.0
     scheduler = wrr
     server web1 {
         address = 10.11.12.1
         active = 1
     }
     server alt {
         address = 10.11.12.4
         active = 1
         port = 8443
     }
}
virtual dns {
     active = 1
     address = 192.168.26.11 eth0:2
     port = 53
     protocol = udp
     scheduler = rr
     server ns1 {
         address = 10.11.12.5
         active = 1
     }
}
virtual idle {
     active = 0
     address = 192.168.26.12 eth0:3
     server x {
         address = 10.11.12.6
         active = 1
     }
}
`

func parse(t *testing.T, text string) *config.Config {
	t.Helper()
	c, err := config.Parse("test.cf", strings.NewReader(text))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return c
}

func TestDesiredMergesFirewallMarkBundles(t *testing.T) {
	want := Desired(parse(t, bundleCf), nil)
	if len(want) != 2 {
		t.Fatalf("Desired gave %d services, want 2 (the fwmark 80 bundle and dns; idle is inactive)", len(want))
	}
	fw := want[0]
	if fw.Spec.Key != ipvs.MarkKey(80) || len(fw.From) != 2 {
		t.Fatalf("first service = %v from %d blocks, want FWM 80 from 2", fw.Spec.Key, len(fw.From))
	}
	if fw.Spec.SchedName != "wrr" || fw.Spec.Persistence.Seconds() != 300 || fw.Spec.PMaskBits != 24 {
		t.Errorf("bundle spec = %+v", fw.Spec.SchedSpec)
	}
	var got []string
	for _, d := range fw.Dests {
		got = append(got, netip.AddrPortFrom(d.Addr, d.Port).String()+"/"+d.Method.String())
	}
	wantDests := "10.11.12.1:0/Masq 10.11.12.2:0/Masq 10.11.12.4:8443/Masq"
	if strings.Join(got, " ") != wantDests {
		t.Errorf("bundle dests = %v, want %v", got, wantDests)
	}
	if fw.Dests[1].Weight != 2 {
		t.Errorf("web2 weight = %d, want 2", fw.Dests[1].Weight)
	}
	dns := want[1]
	if dns.Spec.Key != (ipvs.ServiceKey{Proto: ipvs.UDP, Addr: netip.MustParseAddr("192.168.26.11"), Port: 53}) {
		t.Errorf("dns key = %v", dns.Spec.Key)
	}
	if len(dns.Dests) != 1 || dns.Dests[0].Port != 53 {
		t.Errorf("dns dests = %+v, want 10.11.12.5:53", dns.Dests)
	}
}

func TestDesiredFilterTakesServerOutOfWholeBundle(t *testing.T) {
	c := parse(t, bundleCf)
	want := Desired(c, func(v *config.Virtual, s *config.Server) (int32, bool) {
		// The HTTPS check of web1 fails; web2 is drained to weight 0.
		if v.Name == "https" && s.Name == "web1" {
			return 0, false
		}
		if s.Name == "web2" {
			return 0, true
		}
		return int32(s.Weight), true
	})
	for _, d := range want[0].Dests {
		if d.Addr == netip.MustParseAddr("10.11.12.1") {
			t.Errorf("web1 is in the bundle although its HTTPS check failed")
		}
		if d.Addr == netip.MustParseAddr("10.11.12.2") && d.Weight != 0 {
			t.Errorf("web2 weight = %d, want 0 (quiesced)", d.Weight)
		}
	}
}

func TestReconcileKeepsCountersAcrossReload(t *testing.T) {
	c := parse(t, bundleCf)
	t1, err := Reconcile(testTable(), Desired(c, nil))
	if err != nil {
		t.Fatal(err)
	}
	web2 := t1.Service(ipvs.MarkKey(80)).Dest(netip.MustParseAddr("10.11.12.2"), 0)
	web2.C.Bind(true, web2.C.Epoch())

	// Reload: web2's weight changes, web1 leaves, dns changes scheduler, a
	// new UDP service appears.
	edited := strings.Replace(bundleCf, "weight = 2", "weight = 5", 1)
	edited = strings.Replace(edited, "scheduler = rr", "scheduler = wlc", 1)
	edited = strings.Replace(edited, "virtual idle {\n     active = 0", "virtual idle {\n     active = 1", 1)
	edited = strings.Replace(edited, "         address = 10.11.12.1\n         active = 1\n         weight = 1", "         address = 10.11.12.1\n         active = 0", 1)
	edited = strings.Replace(edited, "server web1 {\n         address = 10.11.12.1\n         active = 1\n     }", "server web1 {\n         address = 10.11.12.1\n         active = 0\n     }", 1)
	t2, err := Reconcile(t1, Desired(parse(t, edited), nil))
	if err != nil {
		t.Fatal(err)
	}
	fw := t2.Service(ipvs.MarkKey(80))
	got := fw.Dest(netip.MustParseAddr("10.11.12.2"), 0)
	if got == nil || got.ID != web2.ID || got.C.Active.Load() != 1 || got.Weight != 5 {
		t.Fatalf("web2 after reload = %+v, want same ID %d, 1 active, weight 5", got, web2.ID)
	}
	if fw.Dest(netip.MustParseAddr("10.11.12.1"), 0) != nil {
		t.Errorf("web1 still in the bundle after it was deactivated")
	}
	dns := t2.Lookup(ipvs.UDP, netip.MustParseAddr("192.168.26.11"), 53)
	if dns == nil || dns.SchedName != "wlc" || dns.ID != t1.Lookup(ipvs.UDP, netip.MustParseAddr("192.168.26.11"), 53).ID {
		t.Errorf("dns after reload = %+v, want the same service with wlc", dns)
	}
	if len(sortedKeys(t2)) != 3 {
		t.Errorf("services after reload = %v, want 3", sortedKeys(t2))
	}
	// Idempotent: reconciling the same config again changes nothing.
	t3, err := Reconcile(t2, Desired(parse(t, edited), nil))
	if err != nil {
		t.Fatal(err)
	}
	if t3.Generation() != t2.Generation() {
		t.Errorf("second reconcile made %d edits, want 0", t3.Generation()-t2.Generation())
	}
	// Removing everything deletes every service.
	t4, err := Reconcile(t3, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(t4.Services()) != 0 || got.C.Available() {
		t.Errorf("empty config left %d services (web2 available=%v)", len(t4.Services()), got.C.Available())
	}
}
