package ha

import (
	"bytes"
	"encoding/hex"
	"errors"
	"net/netip"
	"testing"
)

var testKey = []byte("s3cret heartbeat key")

func testMsg() Message {
	return Message{Role: RolePrimary, State: StateActive, Flags: FlagPeerAlive | FlagStandDown,
		Serial: 2026112501, Node: netip.MustParseAddr("192.168.26.1"), Boot: 1_700_000_000_000_000_000,
		Seq: 7, Time: 1_700_000_005_000_000_000, EchoBoot: 1_699_999_000_000_000_000, EchoSeq: 0x0102}
}

func TestEncodeLayout(t *testing.T) {
	m := testMsg()
	b := m.Encode(nil, nil)
	want := "4c564842" + "01" + "12" + "01" + "02" + "78c405f5" +
		"00000000000000000000ffffc0a81a01" + "17979cfe362a0000" + "0000000000000007" + "17979cff602ff200" +
		"17979c156184f000" + "0000000000000102"
	if got := hex.EncodeToString(b); got != want {
		t.Errorf("Encode = %s\nwant     %s", got, want)
	}
	if len(b) != HeaderLen {
		t.Errorf("len = %d, want %d", len(b), HeaderLen)
	}
	if a := m.Encode(nil, testKey); len(a) != AuthLen || a[hbFlags] != 0x13 || !bytes.Equal(a[:4], b[:4]) {
		t.Errorf("authenticated Encode = %x", a)
	}
}

func TestRoundTrip(t *testing.T) {
	for _, key := range [][]byte{nil, testKey} {
		m := testMsg()
		got, err := Decode(m.Encode(nil, key), key)
		if err != nil || got != m {
			t.Errorf("Decode(Encode(%+v), key=%q) = %+v, %v", m, key, got, err)
		}
	}
	v6 := testMsg()
	v6.Node = netip.MustParseAddr("2001:db8::1")
	if got, err := Decode(v6.Encode(nil, nil), nil); err != nil || got != v6 {
		t.Errorf("IPv6 node: Decode = %+v, %v", got, err)
	}
}

func TestDecodeRefuses(t *testing.T) {
	m := testMsg()
	signed := m.Encode(nil, testKey)
	plain := m.Encode(nil, nil)
	flip := func(b []byte, i int) []byte { c := bytes.Clone(b); c[i] ^= 0x01; return c }
	set := func(b []byte, i int, v byte) []byte { c := bytes.Clone(b); c[i] = v; return c }
	tests := []struct {
		name string
		data []byte
		key  []byte
		want error
	}{
		{"empty", nil, nil, ErrShort},
		{"truncated header", plain[:HeaderLen-1], nil, ErrShort},
		{"truncated MAC", signed[:AuthLen-1], testKey, ErrShort},
		{"trailing byte", append(bytes.Clone(plain), 0), nil, ErrMalformed},
		{"bad magic", flip(plain, 0), nil, ErrMagic},
		{"version 2", set(plain, hbVersion, 2), nil, ErrVersion},
		{"unknown flag", set(plain, hbFlags, 0x80), nil, ErrMalformed},
		{"bad role", set(plain, hbRole, 3), nil, ErrMalformed},
		{"bad state", set(plain, hbState, 0), nil, ErrMalformed},
		{"seq zero", func() []byte { z := m; z.Seq = 0; return z.Encode(nil, nil) }(), nil, ErrMalformed},
		{"wrong key", signed, []byte("another key"), ErrAuth},
		{"forged state", flip(signed, hbState), testKey, ErrAuth},
		{"forged seq", flip(signed, hbSeq+7), testKey, ErrAuth},
		{"forged MAC", flip(signed, AuthLen-1), testKey, ErrAuth},
		{"unsigned with key", plain, testKey, ErrNoAuth},
		{"signed without key", signed, nil, ErrAuthNoKey},
		{"MAC cut off", signed[:HeaderLen], testKey, ErrShort},
		{"MAC and auth flag stripped", set(signed[:HeaderLen], hbFlags, signed[hbFlags]&^byte(flagAuth)), testKey, ErrNoAuth},
		{"legacy running", EncodeLegacy(StateActive), nil, ErrLegacy},
		{"legacy stopped", EncodeLegacy(StateStandby), testKey, ErrLegacy},
		{"4 unknown bytes", []byte{1, 2, 3, 4}, nil, ErrShort},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Decode(tt.data, tt.key); !errors.Is(err, tt.want) {
				t.Errorf("Decode(%x) error = %v, want %v", tt.data, err, tt.want)
			}
		})
	}
}

func TestDecodeLegacy(t *testing.T) {
	tests := []struct {
		name   string
		data   []byte
		want   State
		wantOK bool
	}{
		// pulse.c magics in x86 (little-endian) host order.
		{"RUNNING", []byte{0xda, 0xdb, 0xad, 0xbd}, StateActive, true},
		{"STOPPED", []byte{0xbd, 0xda, 0xbd, 0xad}, StateStandby, true},
		{"big-endian RUNNING", []byte{0xbd, 0xad, 0xdb, 0xda}, StateNone, false},
		{"FOS running", []byte{0xbe, 0xba, 0xef, 0xbe}, StateNone, false},
		{"5 bytes", []byte{0xda, 0xdb, 0xad, 0xbd, 0}, StateNone, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := DecodeLegacy(tt.data)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("DecodeLegacy(%x) = %v, %v, want %v, %v", tt.data, got, ok, tt.want, tt.wantOK)
			}
		})
	}
	if got := EncodeLegacy(StateActive); !bytes.Equal(got, []byte{0xda, 0xdb, 0xad, 0xbd}) {
		t.Errorf("EncodeLegacy(active) = %x", got)
	}
}

func TestReplayGuard(t *testing.T) {
	msg := func(boot, seq uint64) Message { return Message{Boot: boot, Seq: seq} }
	type step struct {
		boot, seq uint64
		want      error
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"in order", []step{{10, 1, nil}, {10, 2, nil}, {10, 3, nil}}},
		{"exact replay", []step{{10, 1, nil}, {10, 2, nil}, {10, 2, ErrReplay}}},
		{"reordered within window", []step{{10, 5, nil}, {10, 3, nil}, {10, 4, nil}, {10, 3, ErrReplay}}},
		{"below window", []step{{10, 100, nil}, {10, 100 - replayWindow, ErrReplay}, {10, 101 - replayWindow, nil}}},
		{"large jump clears window", []step{{10, 1, nil}, {10, 1000, nil}, {10, 999, nil}, {10, 1, ErrReplay}}},
		{"new boot resets", []step{{10, 50, nil}, {11, 1, nil}, {11, 2, nil}}},
		{"old boot refused", []step{{10, 50, nil}, {11, 1, nil}, {10, 51, ErrOldBoot}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var g replayGuard
			for i, s := range tt.steps {
				if err := g.check(msg(s.boot, s.seq)); !errors.Is(err, s.want) {
					t.Fatalf("step %d: check(boot %d, seq %d) = %v, want %v", i, s.boot, s.seq, err, s.want)
				}
			}
		})
	}
}

func FuzzDecode(f *testing.F) {
	m := testMsg()
	f.Add(m.Encode(nil, nil))
	f.Add(m.Encode(nil, testKey))
	f.Add(EncodeLegacy(StateActive))
	f.Add([]byte{})
	m.State, m.Role, m.Flags = StateStopping, RoleBackup, FlagHeld|FlagFault
	f.Add(m.Encode(nil, testKey))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, key := range [][]byte{nil, testKey} {
			m, err := Decode(b, key)
			if err != nil {
				continue
			}
			if out := m.Encode(nil, key); !bytes.Equal(out, b) {
				t.Fatalf("Encode(Decode(%x)) = %x", b, out)
			}
			if again, err := Decode(m.Encode(nil, key), key); err != nil || again != m {
				t.Fatalf("Decode(Encode(%+v)) = %+v, %v", m, again, err)
			}
		}
		DecodeLegacy(b)
	})
}
