package bench

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"
	"time"

	"lvs/config"
)

// sampleReport6 is sampleReport with the IPv6 contenders: a measured klb6
// and an lvsd6 with saturation and fixed-load windows only.
func sampleReport6() *Report {
	r := sampleReport()
	rep := func(n int, pps, dirNs float64) *Rep {
		cpu := CPUCost{Valid: true, DirectorNs: dirNs, MachineNs: 2 * dirNs, DirectorBusy: 1}
		return &Rep{Rep: n,
			UDP:   &UDPRun{Window: time.Second, Sent: 500_000, Delivered: uint64(pps), SentPPS: 500_000, DeliveredPPS: pps, CPU: cpu},
			Paced: &PacedRun{Window: time.Second, OfferedPPS: 100_000, SentPPS: 100_000, DeliveredPPS: 100_000, CPU: cpu, Latency: Latency{Sent: 1000, P50: 60 * time.Microsecond, P99: 120 * time.Microsecond}},
		}
	}
	k6 := &Contender{Name: KernelLB6, Label: "IPv6: kernel LB (nftables ip6 DNAT, numgen)", Kind: "kernel", Available: true,
		Runs: []*Rep{rep(1, 380_000, 2400), rep(2, 400_000, 2500)}}
	l6 := &Contender{Name: LVSD6, Label: "IPv6: lvsd NAT66 (nat_router6), 1 worker", Kind: "lvsd", Base: KernelLB6, Available: true,
		Runs: []*Rep{rep(1, 190_000, 5000), rep(2, 210_000, 5200)}}
	l6.Runs[0].Mode, l6.Runs[1].Mode = "tcx+afpacket", "tcx+afpacket"
	r.Contenders = append(r.Contenders, k6, l6)
	return r
}

func TestMarkdownIPv6(t *testing.T) {
	md := Markdown(sampleReport6())
	for _, want := range []string{
		"## IPv6 NAT beside IPv4 (same run)",
		"| figure | klb (IPv4) | lvsd-1w (IPv4) [afpacket, tcx] | lvsd-1w ÷ klb | klb6 (IPv6) | lvsd6 (IPv6) [tcx+afpacket] | lvsd6 ÷ klb6 |",
		"| UDP delivered at saturation (pps) | 420,000 (400,000–440,000) | 315,000 (300,000–330,000) | 0.75× | 390,000 (380,000–400,000) | 200,000 (190,000–210,000) | 0.51× |",
		"| CPU per packet at fixed load, director core (ns) | 2,100 (2,000–2,200) | 3,150 (3,000–3,300) | 1.50× | 2,450 (2,400–2,500) | 5,100 (5,000–5,200) | 2.08× |",
		"| requests lost at fixed load | 0 | 0 | | 0 | 0 | |",
		"| UDP delivered at fixed load (pps) | 100,000 | 100,000 | 1.00× | 100,000 | 100,000 | 1.00× |",
		// The headline: IPv6 columns, lvsd6's ratio against klb6.
		"| lvsd-1w ÷ klb | lvsd-2w ÷ klb | lvsd6 ÷ klb6 |",
		"| UDP delivered at saturation (pps) | 420,000 (400,000–440,000) | 315,000 (300,000–330,000) | n/a | 390,000 (380,000–400,000) | 200,000 (190,000–210,000) | 0.75× (pairs 0.75×) | n/a | 0.51× (pairs 0.51×) |",
		"| lvsd6 | 1 | tcx+afpacket | 500,000 | 190,000 |",
		"nftables ip6 DNAT (klb6) for IPv6 NAT",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("Markdown lacks %q", want)
		}
	}
	// No TCP row in the IPv6 section, and lvsd6 has no TCP figures.
	sec := md[strings.Index(md, "## IPv6 NAT"):]
	sec = sec[:strings.Index(sec[1:], "## ")+1]
	if strings.Contains(sec, "| TCP") {
		t.Errorf("IPv6 section has a TCP row:\n%s", sec)
	}
	if md4 := Markdown(sampleReport()); strings.Contains(md4, "## IPv6") {
		t.Errorf("a report without IPv6 contenders has an IPv6 section")
	}
}

// TestMarkdownIPv6Alone: a run of only the IPv6 contenders (lvsbench
// --contenders klb6,lvsd6) shows the IPv4 columns as n/a.
func TestMarkdownIPv6Alone(t *testing.T) {
	r := sampleReport6()
	r.Contenders = r.Contenders[3:]
	md := Markdown(r)
	want := "| UDP delivered at saturation (pps) | n/a | n/a | n/a | 390,000 (380,000–400,000) | 200,000 (190,000–210,000) | 0.51× |"
	if !strings.Contains(md, want) {
		t.Errorf("Markdown lacks %q:\n%s", want, md)
	}
}

func TestSiteConfig6(t *testing.T) {
	reals := []netip.Addr{netip.MustParseAddr("2001:db8:250:2::b"), netip.MustParseAddr("2001:db8:250:2::c")}
	c := siteConfig6(siteSpec{primary: netip.MustParseAddr("10.250.1.1"), vip: netip.MustParseAddr("2001:db8:250:1::100"),
		natRouter: netip.MustParseAddr("2001:db8:250:2::fe"), reals: reals, udpPort: 9000, tcpPort: 8080})
	text, err := formatSite(c)
	if err != nil {
		t.Fatalf("formatSite: %v", err)
	}
	parsed, err := config.Parse("lvs6.cf", bytes.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := config.Validate(parsed); err != nil {
		t.Errorf("lvs6.cf does not validate: %v\n%s", err, text)
	}
	for _, want := range []string{"nat_router6 = 2001:db8:250:2::fe eth1:1", "nat_nmask6 = 64", "address = 2001:db8:250:1::100 eth0:1", "address = 2001:db8:250:2::c", "protocol = udp"} {
		if !strings.Contains(string(text), want) {
			t.Errorf("lvs6.cf lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(string(text), "nat_router =") {
		t.Errorf("lvs6.cf has an IPv4 nat_router:\n%s", text)
	}
	rules := kernelLBRules(c, "t6", pickNumgen)
	for _, want := range []string{
		"table ip6 t6 {",
		"delete table ip6 t6",
		"ip6 daddr 2001:db8:250:1::100 udp dport 9000 dnat to numgen inc mod 2 map { 0 : 2001:db8:250:2::b, 1 : 2001:db8:250:2::c }",
		"ip6 daddr 2001:db8:250:1::100 tcp dport 8080 dnat to numgen inc mod 2 map",
	} {
		if !strings.Contains(rules, want) {
			t.Errorf("ip6 rules lack %q:\n%s", want, rules)
		}
	}
	if rules := kernelLBRules(c, "t6", pickJhash); !strings.Contains(rules, "jhash ip6 saddr . udp sport mod 2") {
		t.Errorf("ip6 jhash rules:\n%s", rules)
	}
}

func TestPlanIPv6(t *testing.T) {
	o, err := Options{Quick: true, Contenders: []string{KernelForward}, NoOverload: true, NoScaling: true}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	o6 := o
	o6.Contenders = []string{KernelLB6}
	if o.wants6() || !o6.wants6() {
		t.Errorf("wants6: %v for kfwd, %v for klb6", o.wants6(), o6.wants6())
	}
	// An IPv6 contender runs no TCP window: one warm-up and window less
	// per repetition.
	if d, want := o.plan()-o6.plan(), time.Duration(o.Reps)*(o.Warmup+o.Window); d != want {
		t.Errorf("plan(kfwd) - plan(klb6) = %v, want %v", d, want)
	}
}
