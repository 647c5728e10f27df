package dataplane_test

import (
	"net/netip"
	"testing"
	"time"

	"lvs/dataplane"
	"lvs/dataplane/linktest"
	"lvs/frame"
	"lvs/internal/frametest"
)

// FuzzWorker6 is FuzzWorker for the IPv6 site: nothing may panic, and
// every frame lvsd sends decodes, with valid checksums (gopacket's
// reading) when the frame it answered or rewrote had valid ones.
func FuzzWorker6(f *testing.F) {
	syn := frametest.TCP(client6, web6, frame.SYN, nil, frametest.WithSrcMAC(gwMAC))
	real := netip.AddrPortFrom(rip61, 8080)
	f.Add(syn, false)
	f.Add(frametest.TCP(client6, web6, frame.ACK, []byte("GET / HTTP/1.0\r\n\r\n"), frametest.WithSrcMAC(gwMAC)), false)
	f.Add(frametest.TCP(real, client6, frame.SYN|frame.ACK, nil, frametest.WithSrcMAC(rip1MAC)), true)
	f.Add(frametest.UDP(client6, netip.AddrPortFrom(vip6, 53), []byte("x")), false)
	f.Add(frametest.ICMPv6Echo(client6.Addr(), vip6, 1, 1, nil), false)
	f.Add(frametest.NeighborSolicit(gwMAC, gw6, vip6), false)
	f.Add(frametest.NeighborSolicit(rip1MAC, rip61, natRouter6), true)
	f.Add(frametest.NeighborAdvert(rip1MAC, rip61, privMAC, natRouter6, frame.NASolicited), true)
	f.Add(frametest.ICMPv6Error(frame.ICMPv6DestUnreachable, 1, rip61, syn), true)
	f.Add(frametest.TCP(client6, web6, frame.SYN, nil, frametest.WithTTL(1)), false)
	f.Add(frametest.TCP(client6, netip.AddrPortFrom(vip6, 8443), frame.SYN, nil), false)
	f.Add(frametest.Fragments6(frametest.UDP(client6, netip.AddrPortFrom(vip6, 53), make([]byte, 2000)), 1280, 5)[1], false)
	f.Fuzz(func(t *testing.T, in []byte, private bool) {
		s := newSite6(t, 4096)
		s.run(0, frametest.TCP(client6, web6, frame.SYN, nil, frametest.WithSrcMAC(gwMAC)))
		port := 0
		if private {
			port = 1
		}
		w := dataplane.NewWorker(s.d, s.d.Ports[port], linktest.New(linktest.Config{}), []dataplane.MetaLink{s.tx[0], s.tx[1]})
		valid := validFrame6(in)
		w.Process([][]byte{append([]byte(nil), in...)}, make([]dataplane.Meta, 1), time.Now())
		for _, l := range s.tx {
			for _, out := range l.Sent() {
				var p frame.Parsed
				p.Decode(out)
				if p.Kind != frame.KindIPv6 {
					t.Fatalf("sent a frame that does not decode as IPv6: % x", out)
				}
				if p.Proto == frame.ProtoIPv6 { // IPv6-in-IPv6: the checksums are the inner datagram's
					out = append(append([]byte(nil), out[:frame.EthernetLen]...), out[p.L4:p.End]...)
				}
				if valid || p.Proto == frame.ProtoICMPv6 && !p.ICMPError && p.ICMPType != frame.ICMPv6EchoReply {
					if msg := frametest.SumsOK()(frametest.Decode(out)); msg != "" {
						t.Fatalf("sent %s: % x\nfor % x", msg, out, in)
					}
				}
			}
		}
	})
}

// validFrame6 reports whether f is an IPv6 frame gopacket reads with valid
// checksums.
func validFrame6(f []byte) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	var p frame.Parsed
	p.Decode(f)
	l := frametest.Decode(f)
	return p.Kind == frame.KindIPv6 && l.Err == nil && frametest.SumsOK()(l) == ""
}
