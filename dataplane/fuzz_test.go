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

// FuzzWorker feeds arbitrary frames to the workers of both ports of the NAT
// site: nothing may panic, and every frame lvsd sends must be well formed,
// with valid IP, TCP, UDP and ICMP checksums when it had valid ones on the
// way in (frames lvsd passes through unchanged are not its to fix, but it
// never forwards those: it only forwards what it rewrote).
func FuzzWorker(f *testing.F) {
	syn := frametest.TCP(client, web, frame.SYN, nil, frametest.WithSrcMAC(gwMAC))
	f.Add(syn, false)
	f.Add(frametest.TCP(client, web, frame.ACK, []byte("GET / HTTP/1.0\r\n\r\n"), frametest.WithSrcMAC(gwMAC)), false)
	f.Add(frametest.TCP(netip.AddrPortFrom(rip1, 8080), client, frame.SYN|frame.ACK, nil, frametest.WithSrcMAC(rip1MAC)), true)
	f.Add(frametest.UDP(client, netip.AddrPortFrom(vip, 53), []byte("x")), false)
	f.Add(frametest.ICMPEcho(client.Addr(), vip, 1, 1, nil), false)
	f.Add(frametest.ARPRequest(gwMAC, netip.MustParseAddr("192.168.26.254"), vip), false)
	f.Add(frametest.ICMPError(frame.ICMPDestUnreachable, frame.ICMPFragNeeded, rip1, syn, frametest.WithMTU(1400)), true)
	f.Add(frametest.TCP(client, web, frame.SYN, nil, frametest.WithTTL(1)), false)
	f.Add([]byte{}, false)
	f.Fuzz(func(t *testing.T, in []byte, private bool) {
		s := newSite(t, "rr")
		// A connection exists, so reply-direction frames can match one.
		s.run(0, frametest.TCP(client, web, frame.SYN, nil, frametest.WithSrcMAC(gwMAC)))
		port := 0
		if private {
			port = 1
		}
		w := dataplane.NewWorker(s.d, s.d.Ports[port], linktest.New(linktest.Config{}), []dataplane.MetaLink{s.tx[0], s.tx[1]})
		buf := append([]byte(nil), in...)
		valid := sumsValid(in)
		w.Process([][]byte{buf}, make([]dataplane.Meta, 1), time.Now())
		for _, l := range s.tx {
			for _, out := range l.Sent() {
				if !sameDatagram(in, out) || valid {
					// lvsd made it (an answer), or rewrote a valid frame:
					// it must be valid. A rewritten frame that came in with
					// a bad checksum keeps it bad (RFC 1624 updates preserve
					// the error), so its receiver drops it as the kernel's
					// IPVS NAT does.
					checkSent(t, out)
				}
			}
		}
	})
}

// sumsValid reports whether an IPv4 frame's checksums are all valid.
func sumsValid(f []byte) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	var p frame.Parsed
	p.Decode(f)
	if p.Kind != frame.KindIPv4 {
		return false
	}
	ip := frame.IPv4(f[p.L3:p.End])
	if !ip.ValidChecksum() || p.IsFragment() {
		return ip.ValidChecksum()
	}
	switch p.Proto {
	case frame.ProtoTCP:
		return frame.TCP(f[p.L4:p.End]).ValidChecksum(ip)
	case frame.ProtoUDP:
		u := frame.UDP(f[p.L4:p.End])
		return u.Checksum() == 0 || u.ValidChecksum(ip)
	case frame.ProtoICMP:
		return frame.ICMP(f[p.L4:p.End]).ValidChecksum()
	}
	return true
}

// sameDatagram reports whether out is in rewritten (same IP ID and length)
// rather than a frame lvsd made.
func sameDatagram(in, out []byte) bool {
	var a, b frame.Parsed
	a.Decode(in)
	b.Decode(out)
	return a.Kind == frame.KindIPv4 && b.Kind == frame.KindIPv4 && a.FragID == b.FragID &&
		a.End-a.L3 == b.End-b.L3 && a.Proto == b.Proto
}

// checkSent verifies a frame lvsd transmitted.
func checkSent(t *testing.T, out []byte) {
	t.Helper()
	var p frame.Parsed
	p.Decode(out)
	switch p.Kind {
	case frame.KindARP:
		return
	case frame.KindIPv4:
	default:
		t.Fatalf("sent a frame that does not decode: % x", out)
	}
	ip := frame.IPv4(out[p.L3:p.End])
	if !ip.ValidChecksum() {
		t.Fatalf("sent an IPv4 header with a bad checksum: % x", out)
	}
	if p.IsFragment() {
		return
	}
	switch p.Proto {
	case frame.ProtoTCP:
		if !frame.TCP(out[p.L4:p.End]).ValidChecksum(ip) {
			t.Fatalf("sent a TCP segment with a bad checksum: % x", out)
		}
	case frame.ProtoUDP:
		u := frame.UDP(out[p.L4:p.End])
		if u.Checksum() != 0 && !u.ValidChecksum(ip) {
			t.Fatalf("sent a UDP datagram with a bad checksum: % x", out)
		}
	case frame.ProtoICMP:
		if !frame.ICMP(out[p.L4:p.End]).ValidChecksum() {
			t.Fatalf("sent an ICMP message with a bad checksum: % x", out)
		}
	}
}
