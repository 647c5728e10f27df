package sim

import (
	"math/rand/v2"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"lvs/frame"
)

func TestParseAttackSteps(t *testing.T) {
	flood := "  - name: f\n    fault: {kind: flood, target: c, protocol: syn, to: 10.0.0.100:80, sources: 100.64.0.0/10, " +
		"legit: c, web: 10.0.0.100:80, duration: 60s, short: 5s, settle: 130s}\n"
	tests := []struct {
		name, step string
		want       string // substring of the error; "" parses
	}{
		{"flood", flood, ""},
		{"hostile", "  - name: h\n    fault: {kind: hostile, target: c, legit: c, web: 10.0.0.100:80, duration: 2m, short: 10s}\n", ""},
		{"no protocol", strings.Replace(flood, "protocol: syn, ", "", 1), `missing "protocol"`},
		{"bad protocol", strings.Replace(flood, "protocol: syn", "protocol: rst", 1), `expected protocol to be one of syn, udp, icmp`},
		{"no duration", strings.Replace(flood, "duration: 60s, ", "", 1), `missing "duration"`},
		{"settle on a kill", "  - name: k\n    fault: {kind: kill, target: lvs, settle: 5s}\n", "settle is for flood and hostile steps, not kill"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text := strings.Replace(base, "scenario:\n", "scenario:\n"+tt.step, 1)
			topo, err := ParseTopology("t.yaml", []byte(text))
			if tt.want == "" {
				if err != nil {
					t.Fatalf("ParseTopology: %v", err)
				}
				a := topo.Scenario[0].Fault.Attack
				if a == nil || a.Legit != "c" || a.Web != netip.MustParseAddrPort("10.0.0.100:80") || a.Short == 0 {
					t.Fatalf("attack = %+v", a)
				}
				topo.Shorten()
				if a.Duration != a.Short || a.Settle != 0 {
					t.Errorf("after Shorten: duration %v settle %v, want %v and 0", a.Duration, a.Settle, a.Short)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ParseTopology: err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

// TestFloodFrames decodes the generator's frames with gopacket: final
// checksums, a source inside the prefix, the target address and port.
func TestFloodFrames(t *testing.T) {
	src := netip.MustParsePrefix("100.64.0.0/10")
	to := netip.MustParseAddrPort("192.168.26.10:80")
	for _, proto := range []string{"syn", "udp", "icmp"} {
		t.Run(proto, func(t *testing.T) {
			g := &floodGen{proto: proto, src: src, dst: to, srcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1},
				dstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, rng: rand.New(rand.NewPCG(1, 2))}
			seen := map[netip.Addr]bool{}
			for range 200 {
				b := make([]byte, 2048)
				n := g.put(b)
				if why := badChecksum(b[:n], false); why != "" {
					t.Fatalf("frame %x: %s", b[:n], why)
				}
				p := gopacket.NewPacket(b[:n], layers.LayerTypeEthernet, gopacket.Default)
				ip := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
				a, _ := netip.AddrFromSlice(ip.SrcIP.To4())
				if !src.Contains(a) || ip.DstIP.String() != to.Addr().String() {
					t.Fatalf("frame %v → %v, want from %v to %v", ip.SrcIP, ip.DstIP, src, to.Addr())
				}
				seen[a] = true
				switch proto {
				case "syn":
					tcp := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
					if !tcp.SYN || tcp.ACK || uint16(tcp.DstPort) != to.Port() {
						t.Fatalf("TCP %+v, want a SYN to port %d", tcp, to.Port())
					}
				case "udp":
					if u := p.Layer(layers.LayerTypeUDP).(*layers.UDP); uint16(u.DstPort) != to.Port() {
						t.Fatalf("UDP to port %d, want %d", u.DstPort, to.Port())
					}
				case "icmp":
					if ic := p.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4); ic.TypeCode.Type() != layers.ICMPv4TypeEchoRequest {
						t.Fatalf("ICMP %v, want an echo request", ic.TypeCode)
					}
				}
			}
			if len(seen) < 190 {
				t.Errorf("%d distinct sources in 200 frames, want random ones", len(seen))
			}
		})
	}
}

// TestHostileChecksums checks the checker on the hostile kinds: the ones
// built with wrong checksums are caught, the well-formed ones pass.
func TestHostileChecksums(t *testing.T) {
	side := &hostileSide{iface: "eth0", srcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, dstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2},
		src: [4]byte{192, 168, 26, 66}, dst: [4]byte{192, 168, 26, 10}, vip: [4]byte{192, 168, 26, 10}, dport: 80}
	want := map[string]string{ // kind → what badChecksum says of every frame ("" for none)
		"bad-ip-checksum": "IPv4 header checksum",
		"bad-l4-checksum": "checksum",
		"tcp-flags":       "",
		"icmp-garbage":    "",
	}
	for _, k := range hostileKinds {
		w, ok := want[k.name]
		if !ok {
			continue
		}
		t.Run(k.name, func(t *testing.T) {
			g := &hostileGen{side: side, rng: rand.New(rand.NewPCG(3, 4))}
			for range 256 {
				b := make([]byte, 2048)
				n := k.put(g, b)
				got := badChecksum(b[:n], false)
				if w == "" && got != "" || w != "" && !strings.Contains(got, w) {
					t.Fatalf("badChecksum(%x) = %q, want %q", b[:n], got, w)
				}
			}
		})
	}
}

func TestSendFramesBounded(t *testing.T) {
	// sendFrames stops at its frame limit even on a socket that refuses
	// nothing: a closed descriptor fails at once instead.
	st, err := sendFrames(t.Context(), -1, time.Second, 64, func(b []byte) int { return 60 })
	if err == nil || st.sent != 0 {
		t.Errorf("sendFrames on a bad descriptor: %+v, %v; want an error", st, err)
	}
}

func TestSNMPField(t *testing.T) {
	snmp := "Ip: Forwarding DefaultTTL\nIp: 1 64\nUdp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors\nUdp: 10 2 7 9 5 0\nUdpLite: InDatagrams RcvbufErrors\nUdpLite: 0 3\n"
	tests := []struct {
		prefix, field string
		want          uint64
		ok            bool
	}{
		{"Udp:", "RcvbufErrors", 5, true},
		{"Udp:", "InErrors", 7, true},
		{"UdpLite:", "RcvbufErrors", 3, true},
		{"Udp:", "NoSuchField", 0, false},
		{"Tcp:", "RcvbufErrors", 0, false},
	}
	for _, tt := range tests {
		got, ok := snmpField(snmp, tt.prefix, tt.field)
		if got != tt.want || ok != tt.ok {
			t.Errorf("snmpField(%s %s) = %d, %v; want %d, %v", tt.prefix, tt.field, got, ok, tt.want, tt.ok)
		}
	}
}

// TestHostileFragmentPairs: the fragment kinds alternate a first fragment
// (offset 0, MF) and a later one of the same datagram (same IP ID), each
// pair with an ID of its own — before, every frame after the first was a
// later fragment whose first never went, so lvsd counted them all as
// "fragment" and never saw an overlap or a tiny first fragment.
func TestHostileFragmentPairs(t *testing.T) {
	side := &hostileSide{iface: "eth0", srcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, dstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2},
		src: [4]byte{192, 168, 26, 66}, dst: [4]byte{192, 168, 26, 10}, vip: [4]byte{192, 168, 26, 10}, dport: 80}
	for _, k := range hostileKinds {
		if k.name != "overlapping-fragments" && k.name != "tiny-fragments" {
			continue
		}
		t.Run(k.name, func(t *testing.T) {
			g := &hostileGen{side: side, rng: rand.New(rand.NewPCG(3, 4))}
			ids := map[uint16]bool{}
			for i := range 8 {
				b := make([]byte, 2048)
				n := k.put(g, b)
				ip := frame.IPv4(b[14:n])
				first := ip.FragOffset() == 0 && ip.MF()
				later := ip.FragOffset() > 0 && !ip.MF()
				if i%2 == 0 && !first || i%2 == 1 && !later {
					t.Fatalf("frame %d: offset %d MF %v, want a %s fragment", i, ip.FragOffset(), ip.MF(), map[bool]string{true: "first", false: "later"}[i%2 == 0])
				}
				if i%2 == 0 {
					if ids[ip.ID()] {
						t.Fatalf("frame %d: IP ID %d used by an earlier datagram", i, ip.ID())
					}
					ids[ip.ID()] = true
				} else if !ids[ip.ID()] {
					t.Fatalf("frame %d: IP ID %d is not its first fragment's", i, ip.ID())
				}
			}
		})
	}
}

// TestLossPlaces: the flood step names where legitimate UDP requests were
// lost from the counters that grew at each place.
func TestLossPlaces(t *testing.T) {
	servers := func(a, b uint64) map[string]uint64 { return map[string]uint64{"rs1": a, "rs2": b} }
	tests := []struct {
		name       string
		p          lossPlaces
		lost, sent int
		want       []string // substrings, in order
	}{
		{"none lost", lossPlaces{servers: servers(5, 0), ringDrops: 7}, 0, 1200,
			[]string{"lost 0 of 1200", "rs1 +5, rs2 +0", "none lost"}},
		{"real servers only", lossPlaces{servers: servers(69867, 12)}, 18, 1200,
			[]string{"lost 18 of 1200", "director (lvsd) drops none, its receive rings' drops +0", "rs1 +69867, rs2 +12",
				"they grew at the real servers (flood datagrams among them), not at the director or the client: the 18 lost were lost at the real servers, or where nothing counts"}},
		{"director only", lossPlaces{drops: map[string]float64{"no_neighbour": 3}, servers: servers(0, 0)}, 3, 240,
			[]string{"drops no_neighbour +3", "they grew at the director (flood datagrams among them), not at the real servers or the client: the 3 lost were lost at the director,"}},
		{"client only", lossPlaces{servers: servers(0, 0), client: 2}, 2, 240,
			[]string{"client's full sockets +2", "they grew at the client (flood datagrams among them), not at the director or the real servers: the 2 lost were lost at the client,"}},
		{"director and servers", lossPlaces{ringDrops: 78675, servers: servers(1, 0)}, 4, 1200,
			[]string{"receive rings' drops +78675", "they grew at the director and the real servers (flood datagrams among them), not at the client: the 4 lost were lost at the director or the real servers,"}},
		{"everywhere", lossPlaces{ringDrops: 1, servers: servers(0, 3), client: 1}, 5, 1200,
			[]string{"all of these grew (flood datagrams among them): the 5 lost were lost at the director, the real servers, the client, or where nothing counts"}},
		{"nowhere", lossPlaces{servers: servers(0, 0)}, 1, 1200,
			[]string{"none of these grew: the 1 lost were lost where nothing counts"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.p.where(tt.lost, tt.sent)
			rest := got
			for _, w := range tt.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("where() = %q, want %q in it (after what came before)", got, w)
				}
				rest = rest[i+len(w):]
			}
		})
	}
}
