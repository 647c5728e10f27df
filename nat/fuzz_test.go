package nat

import (
	"bytes"
	"net/netip"
	"strconv"
	"testing"
)

// FuzzFTPParsers checks that the control-channel parsers never panic and
// that what they accept round-trips: the rewritten text parses back to the
// same address and port.
func FuzzFTPParsers(f *testing.F) {
	for _, s := range []string{
		"227 Entering Passive Mode (10,11,12,1,39,16).\r\n",
		"229 Entering Extended Passive Mode (|||10000|)\r\n",
		"PORT 203,0,113,11,156,65\r\n",
		"EPRT |1|203.0.113.11|40001|\r\n",
		"227 (1,2,3,4,5,6",
		"EPRT |1|1.2.3.4|",
		"EPRT |2|2001:db8:113::11|40001|\r\n",
		"EPRT |2|::ffff:1.2.3.4|1|",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if ap, sp, ok := ParsePASV(b); ok {
			if sp.Start < 0 || sp.End > len(b) || sp.Start >= sp.End {
				t.Fatalf("ParsePASV span %v out of %d bytes", sp, len(b))
			}
			repl := AppendHostPort(nil, ap)
			if !bytes.Equal(b[sp.Start:sp.End], repl) {
				// Leading zeros ("010") parse to the same value; the
				// formatted text must still parse back to it.
				back, _, ok := parseHostPort(repl)
				if !ok || back != ap {
					t.Fatalf("round trip of %v: %q parses to %v", ap, repl, back)
				}
			}
			buf := make([]byte, len(b)+HostPortMaxLen)
			copy(buf, b)
			n := Splice(buf, 0, len(b), sp, AppendHostPort(nil, netip.AddrPortFrom(netip.MustParseAddr("192.168.26.10"), ap.Port())))
			if got, _, ok := ParsePASV(buf[:n]); !ok || got.Port() != ap.Port() {
				t.Fatalf("rewritten reply %q does not parse back", buf[:n])
			}
		}
		ParseEPSV(b)
		if ap, sp, ok := ParsePORT(b); ok {
			if back, _, ok := parseHostPort(b[sp.Start:sp.End]); !ok || back != ap {
				t.Fatalf("ParsePORT span %v does not hold %v", sp, ap)
			}
		}
		if ap, ok := ParseEPRT(b); ok {
			fam := "1"
			if ap.Addr().Is6() {
				fam = "2"
			}
			text := "EPRT |" + fam + "|" + ap.Addr().String() + "|" + strconv.Itoa(int(ap.Port())) + "|\r\n"
			if back, ok := ParseEPRT([]byte(text)); !ok || back != ap {
				t.Fatalf("ParseEPRT(%q) = %v; its text %q parses to %v, %v", b, ap, text, back, ok)
			}
		}
	})
}
