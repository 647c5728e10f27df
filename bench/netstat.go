package bench

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// TCPCounters are the TCP counters of one namespace that say whether a
// connection-rate window lost time to retransmits (/proc/net/netstat's
// TcpExt and /proc/net/snmp's Tcp lines).
type TCPCounters struct {
	SynRetrans  uint64 `json:"syn_retrans"`  // TcpExt TCPSynRetrans: SYN and SYN-ACK retransmits
	RetransSegs uint64 `json:"retrans_segs"` // Tcp RetransSegs: every retransmitted segment
	ActiveOpens uint64 `json:"active_opens"` // Tcp ActiveOpens: connect()s
	ListenDrops uint64 `json:"listen_drops"` // TcpExt ListenDrops: SYNs a full accept queue dropped
}

func (a TCPCounters) sub(b TCPCounters) TCPCounters {
	return TCPCounters{
		SynRetrans: a.SynRetrans - b.SynRetrans, RetransSegs: a.RetransSegs - b.RetransSegs,
		ActiveOpens: a.ActiveOpens - b.ActiveOpens, ListenDrops: a.ListenDrops - b.ListenDrops,
	}
}

func (a TCPCounters) add(b TCPCounters) TCPCounters {
	return TCPCounters{
		SynRetrans: a.SynRetrans + b.SynRetrans, RetransSegs: a.RetransSegs + b.RetransSegs,
		ActiveOpens: a.ActiveOpens + b.ActiveOpens, ListenDrops: a.ListenDrops + b.ListenDrops,
	}
}

// ParseSNMP reads the "Proto: names" / "Proto: values" line pairs of
// /proc/net/netstat or /proc/net/snmp into "Proto.Name" → value. Values
// that are not unsigned numbers (Tcp MaxConn is -1) are left out.
func ParseSNMP(r io.Reader) (map[string]uint64, error) {
	out := make(map[string]uint64)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var names []string
	var proto string
	for line := 1; sc.Scan(); line++ {
		p, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			return nil, fmt.Errorf("line %d: no \"Proto:\" prefix", line)
		}
		f := strings.Fields(rest)
		if names == nil || p != proto {
			proto, names = p, f
			continue
		}
		if len(f) != len(names) {
			return nil, fmt.Errorf("line %d: %s has %d values for %d names", line, p, len(f), len(names))
		}
		for i, v := range f {
			if n, err := strconv.ParseUint(v, 10, 64); err == nil {
				out[p+"."+names[i]] = n
			}
		}
		names = nil
	}
	return out, sc.Err()
}

// tcpCountersOf picks TCPCounters out of ParseSNMP's maps.
func tcpCountersOf(m map[string]uint64) TCPCounters {
	return TCPCounters{
		SynRetrans: m["TcpExt.TCPSynRetrans"], RetransSegs: m["Tcp.RetransSegs"],
		ActiveOpens: m["Tcp.ActiveOpens"], ListenDrops: m["TcpExt.ListenDrops"],
	}
}
