package daemon

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"
	"time"

	"lvs/admin"
	"lvs/admin/ipvsadm"
	"lvs/conntrack"
	"lvs/dataplane"
	"lvs/ipvs"
	"lvs/nat"
	"lvs/sched"
)

func TestNATFlowListedAsConnection(t *testing.T) {
	e := nat.Entry{Flow: nat.Flow{Proto: 6, Inner: netip.MustParseAddrPort("10.11.12.1:20"),
		Peer: netip.MustParseAddrPort("203.0.113.7:40001"), Outer: netip.MustParseAddrPort("192.168.26.10:20")},
		State: conntrack.StateEstablished, Left: 14*time.Minute + 59*time.Second + 500*time.Millisecond}
	var b bytes.Buffer
	if err := ipvsadm.WriteConns(&b, []admin.ConnStatus{natConnStatus(e)}, 0); err != nil {
		t.Fatal(err)
	}
	want := "TCP 14:59  ESTABLISHED 203.0.113.7:40001  192.168.26.10:20   10.11.12.1:20"
	if got := strings.Split(b.String(), "\n")[2]; got != want {
		t.Errorf("lvsadm -L -n -c row = %q, want %q", got, want)
	}
	u := e
	u.Proto, u.State = 17, conntrack.StateNone
	if got := natConnStatus(u); got.Proto != "UDP" || got.State != "UDP" {
		t.Errorf("UDP flow listed as %s %s, want UDP UDP", got.Proto, got.State)
	}
}

func TestSyncedNATFlowsGoToTheNATTable(t *testing.T) {
	reg := ipvs.NewRegistry()
	tbl := ipvs.NewTable(reg, sched.New)
	dp := dataplane.New(nil, conntrack.NewTable(reg, conntrack.Config{}), &dataplane.State{Table: tbl})
	s := &connSync{}
	s.dp.Store(dp)
	flow := nat.Entry{Flow: nat.Flow{Proto: 6, Inner: netip.MustParseAddrPort("10.11.12.1:20"),
		Peer: netip.MustParseAddrPort("203.0.113.7:40001"), Outer: netip.MustParseAddrPort("192.168.26.10:20")},
		State: conntrack.StateEstablished, Left: time.Minute}.Record()
	conn := conntrack.Record{Proto: ipvs.TCP, State: conntrack.StateEstablished, Method: ipvs.Masq,
		Client: netip.MustParseAddrPort("203.0.113.7:40000"), Virtual: netip.MustParseAddrPort("192.168.26.10:21"),
		Real: netip.MustParseAddrPort("10.11.12.1:21"), Timeout: time.Minute}
	rest := s.importNAT([]conntrack.Record{conn, flow})
	if len(rest) != 1 || rest[0] != conn {
		t.Errorf("importNAT left %+v, want only the connection record", rest)
	}
	fl, ok := dp.NAT.LookupOut(6, flow.Real, flow.Client, 0x10, dp.Tick(time.Now()))
	if !ok || fl.Outer != flow.Virtual {
		t.Errorf("synced flow in the NAT table: %+v %v, want outer %v", fl, ok, flow.Virtual)
	}
}
