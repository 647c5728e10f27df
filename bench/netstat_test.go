package bench

import (
	"strings"
	"testing"
)

func TestParseSNMP(t *testing.T) {
	const netstat = "TcpExt: SyncookiesSent ListenDrops TCPSynRetrans\nTcpExt: 0 3 17\nIpExt: InNoRoutes InOctets\nIpExt: 0 12345\n"
	const snmp = "Tcp: RtoAlgorithm MaxConn ActiveOpens RetransSegs\nTcp: 1 -1 900 21\n"
	tests := []struct {
		name, in string
		want     TCPCounters
		bad      bool
	}{
		{name: "netstat", in: netstat, want: TCPCounters{SynRetrans: 17, ListenDrops: 3}},
		{name: "snmp, MaxConn -1 left out", in: snmp, want: TCPCounters{ActiveOpens: 900, RetransSegs: 21}},
		{name: "both", in: netstat + snmp, want: TCPCounters{SynRetrans: 17, ListenDrops: 3, ActiveOpens: 900, RetransSegs: 21}},
		{name: "values short", in: "TcpExt: A B\nTcpExt: 1\n", bad: true},
		{name: "no prefix", in: "garbage\n", bad: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := ParseSNMP(strings.NewReader(tt.in))
			if (err != nil) != tt.bad {
				t.Fatalf("ParseSNMP error = %v, want error %v", err, tt.bad)
			}
			if got := tcpCountersOf(m); !tt.bad && got != tt.want {
				t.Errorf("counters = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestTCPCountersDelta(t *testing.T) {
	a := TCPCounters{SynRetrans: 5, RetransSegs: 9, ActiveOpens: 100, ListenDrops: 1}
	b := TCPCounters{SynRetrans: 2, RetransSegs: 3, ActiveOpens: 40}
	if got, want := a.sub(b), (TCPCounters{SynRetrans: 3, RetransSegs: 6, ActiveOpens: 60, ListenDrops: 1}); got != want {
		t.Errorf("sub = %+v, want %+v", got, want)
	}
	if got, want := b.add(b), (TCPCounters{SynRetrans: 4, RetransSegs: 6, ActiveOpens: 80}); got != want {
		t.Errorf("add = %+v, want %+v", got, want)
	}
}
