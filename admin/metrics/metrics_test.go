package metrics

import (
	"maps"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"lvs/admin"
	"lvs/admin/admintest"
)

// fakeSource is a MetricsSource made of fixed values.
type fakeSource struct {
	st admin.Status
	dp admin.DataplaneStats
	ct admin.ConntrackStats
	ha admin.HAStatus
	hs []admin.HealthStatus
}

func (f *fakeSource) Status() admin.Status            { return f.st }
func (f *fakeSource) Dataplane() admin.DataplaneStats { return f.dp }
func (f *fakeSource) Conntrack() admin.ConntrackStats { return f.ct }
func (f *fakeSource) HA() admin.HAStatus              { return f.ha }
func (f *fakeSource) Health() []admin.HealthStatus    { return f.hs }

var since = time.Date(2026, 11, 25, 20, 0, 0, 0, time.UTC)

// metricsSource is admintest.SampleStatus (the ipvsadm reference table) with names,
// a destination on the firewall-mark service, and every other part filled.
func metricsSource(t *testing.T) *fakeSource {
	st := admintest.SampleStatus(t)
	for i := range st.Services {
		s := &st.Services[i]
		switch {
		case s.FWMark == 80:
			s.Name = "ftp"
			s.Dests = append(s.Dests, admin.DestStatus{Addr: netip.MustParseAddr("10.11.12.4"), Port: 0, Forward: "Masq",
				Weight: 3, Active: 5, Inactive: 6})
		case s.Proto == "TCP":
			s.Name = "www"
		default:
			s.Name = "dns"
		}
	}
	return &fakeSource{
		st: st,
		dp: admin.DataplaneStats{RX: 1000, TX: 900, Verdicts: map[string]uint64{"forward": 880, "reply": 20, "drop": 100},
			Drops:      map[string]uint64{"no_dest": 60, "table_full": 40},
			RingFrames: map[string]uint64{"eth0": 1100}, RingDrops: map[string]uint64{"eth0": 100}},
		ct: admin.ConntrackStats{Entries: 42, MaxEntries: 1 << 16, HalfOpen: 2, Created: 500, Expired: 458, Full: 7},
		ha: admin.HAStatus{Role: "primary", State: "active", Faults: []string{"link"}, Peer: netip.MustParseAddr("192.168.26.2"),
			PeerAlive: true, Takeovers: 3, Releases: 2, Since: since, Refused: map[string]uint64{"auth": 4},
			Channels: []admin.HeartbeatChannel{
				{Channel: "public", Peer: netip.MustParseAddr("192.168.26.2"), Age: 1500 * time.Millisecond},
				{Channel: "private", Peer: netip.MustParseAddr("10.0.0.2"), Age: -1},
			}},
		hs: []admin.HealthStatus{
			{Virtual: "www", Server: "web1", Addr: netip.MustParseAddrPort("10.11.12.1:80"), Check: "send_expect",
				State: "up", Weight: 1, Since: since, Latency: 250 * time.Millisecond, Checks: 10, Failures: 1, Transitions: 2},
			{Virtual: "www", Server: "web2", Addr: netip.MustParseAddrPort("10.11.12.2:80"), Check: "tcp", State: "quiesced"},
			{Virtual: "www", Sorry: true, Addr: netip.MustParseAddrPort("10.11.12.9:80"), State: "down"},
		},
	}
}

// scrape serves reg over HTTP and parses the text exposition.
func scrape(t *testing.T, src MetricsSource) map[string]*dto.MetricFamily {
	t.Helper()
	srv := httptest.NewServer(MetricsHandler(NewMetrics(src)))
	defer srv.Close()
	req, _ := http.NewRequest("GET", srv.URL, nil)
	req.Header.Set("Accept", "text/plain")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s", resp.Status)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("Content-Type = %q, want text/plain", ct)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	return fams
}

// value finds the sample of name whose labels are exactly want.
func value(t *testing.T, fams map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	t.Helper()
	f, ok := fams[name]
	if !ok {
		return 0, false
	}
	for _, m := range f.GetMetric() {
		got := map[string]string{}
		for _, l := range m.GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		if !maps.Equal(got, want) {
			continue
		}
		switch f.GetType() {
		case dto.MetricType_COUNTER:
			return m.GetCounter().GetValue(), true
		case dto.MetricType_GAUGE:
			return m.GetGauge().GetValue(), true
		}
		t.Fatalf("%s has type %v", name, f.GetType())
	}
	return 0, false
}

type sampleCase struct {
	name   string
	metric string
	labels map[string]string
	want   float64
}

func checkSamples(t *testing.T, fams map[string]*dto.MetricFamily, tests []sampleCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.labels == nil {
				tt.labels = map[string]string{}
			}
			got, ok := value(t, fams, tt.metric, tt.labels)
			if !ok {
				t.Fatalf("%s%v not exported; family: %v", tt.metric, tt.labels, fams[tt.metric])
			}
			if got != tt.want {
				t.Errorf("%s%v = %v, want %v", tt.metric, tt.labels, got, tt.want)
			}
		})
	}
}

func backend(laddr, lport, raddr, rport, proto, mark string) map[string]string {
	return map[string]string{"local_address": laddr, "local_port": lport, "remote_address": raddr,
		"remote_port": rport, "proto": proto, "local_mark": mark}
}

func TestMetricsIPVS(t *testing.T) {
	fams := scrape(t, metricsSource(t))
	web1 := backend("192.168.26.10", "80", "10.11.12.1", "80", "TCP", "")
	web2 := backend("192.168.26.10", "80", "10.11.12.2", "80", "TCP", "")
	ftp := backend("", "0", "10.11.12.4", "0", "FWM", "00000050")
	www := map[string]string{"virtual_server": "www", "local_address": "192.168.26.10", "local_port": "80", "proto": "TCP", "local_mark": ""}
	ftpVS := map[string]string{"virtual_server": "ftp", "local_address": "", "local_port": "0", "proto": "FWM", "local_mark": "00000050"}
	dnsVS := map[string]string{"virtual_server": "dns", "local_address": "192.168.26.10", "local_port": "53", "proto": "UDP", "local_mark": ""}
	checkSamples(t, fams, []sampleCase{
		{"total conns", "lvs_connections_total", nil, 1532},
		{"total in packets", "lvs_incoming_packets_total", nil, 48211},
		{"total in bytes", "lvs_incoming_bytes_total", nil, 123456789},
		{"total out packets", "lvs_outgoing_packets_total", nil, 0},
		{"total out bytes", "lvs_outgoing_bytes_total", nil, 0},
		{"web1 active", "lvs_backend_connections_active", web1, 3},
		{"web1 inactive", "lvs_backend_connections_inactive", web1, 12},
		{"web1 weight", "lvs_backend_weight", web1, 1},
		{"web1 persistent", "lvs_backend_connections_persistent", web1, 4},
		{"web1 in packets", "lvs_backend_incoming_packets_total", web1, 24100},
		{"web1 in bytes", "lvs_backend_incoming_bytes_total", web1, 3120000},
		{"web2 weight", "lvs_backend_weight", web2, 0},
		{"web2 inactive", "lvs_backend_connections_inactive", web2, 1},
		{"fwmark backend active", "lvs_backend_connections_active", ftp, 5},
		{"fwmark backend weight", "lvs_backend_weight", ftp, 3},
		{"www conns", "lvs_virtual_server_connections_total", www, 1532},
		{"www in bytes", "lvs_virtual_server_in_bytes_total", www, 123456789},
		{"www up", "lvs_virtual_server_up", www, 1},
		{"www active servers", "lvs_virtual_server_active_real_servers", www, 1},
		{"ftp up", "lvs_virtual_server_up", ftpVS, 1},
		{"dns up", "lvs_virtual_server_up", dnsVS, 1},
	})
	if f := fams["lvs_build_info"]; f == nil || len(f.GetMetric()) != 1 || f.GetMetric()[0].GetGauge().GetValue() != 1 {
		t.Errorf("lvs_build_info = %v, want one sample of 1", f)
	}
}

// TestMetricsBackendLabels checks that the backend set carries exactly
// node_exporter's IPVS label names.
func TestMetricsBackendLabels(t *testing.T) {
	fams := scrape(t, metricsSource(t))
	want := []string{"local_address", "local_mark", "local_port", "proto", "remote_address", "remote_port"}
	for _, name := range []string{"lvs_backend_connections_active", "lvs_backend_connections_inactive", "lvs_backend_weight"} {
		f := fams[name]
		if f == nil || len(f.GetMetric()) != 4 {
			t.Fatalf("%s: got %v, want 4 backends", name, f)
		}
		for _, m := range f.GetMetric() {
			var got []string
			for _, l := range m.GetLabel() {
				got = append(got, l.GetName())
			}
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Errorf("%s labels = %v, want %v", name, got, want)
			}
		}
	}
}

func TestMetricsDaemon(t *testing.T) {
	fams := scrape(t, metricsSource(t))
	web1 := map[string]string{"virtual_server": "www", "real_server": "web1", "kind": "real",
		"remote_address": "10.11.12.1", "remote_port": "80", "check": "send_expect"}
	web2 := map[string]string{"virtual_server": "www", "real_server": "web2", "kind": "real",
		"remote_address": "10.11.12.2", "remote_port": "80", "check": "tcp"}
	sorry := map[string]string{"virtual_server": "www", "real_server": "", "kind": "sorry",
		"remote_address": "10.11.12.9", "remote_port": "80", "check": ""}
	with := func(m map[string]string, k, v string) map[string]string {
		m = maps.Clone(m)
		m[k] = v
		return m
	}
	checkSamples(t, fams, []sampleCase{
		{"rx", "lvs_dataplane_rx_frames_total", nil, 1000},
		{"tx", "lvs_dataplane_tx_frames_total", nil, 900},
		{"forward", "lvs_dataplane_frames_total", map[string]string{"verdict": "forward"}, 880},
		{"drop no_dest", "lvs_packets_dropped_total", map[string]string{"reason": "no_dest"}, 60},
		{"drop table_full", "lvs_packets_dropped_total", map[string]string{"reason": "table_full"}, 40},
		{"ring frames", "lvs_dataplane_ring_frames_total", map[string]string{"interface": "eth0"}, 1100},
		{"ring drops", "lvs_dataplane_ring_drops_total", map[string]string{"interface": "eth0"}, 100},
		{"entries", "lvs_connection_table_entries", nil, 42},
		{"limit", "lvs_connection_table_max_entries", nil, 65536},
		{"half open", "lvs_connection_table_half_open_entries", nil, 2},
		{"pressure", "lvs_connection_table_pressure", nil, 0},
		{"created", "lvs_connection_table_created_total", nil, 500},
		{"expired", "lvs_connection_table_expired_total", nil, 458},
		{"full", "lvs_connection_table_full_total", nil, 7},
		{"web1 up", "lvs_real_server_up", web1, 1},
		{"web1 state up", "lvs_real_server_state", with(web1, "state", "up"), 1},
		{"web1 state down", "lvs_real_server_state", with(web1, "state", "down"), 0},
		{"web1 latency", "lvs_health_check_last_duration_seconds", web1, 0.25},
		{"web1 checks", "lvs_health_checks_total", web1, 10},
		{"web1 failures", "lvs_health_check_failures_total", web1, 1},
		{"web1 transitions", "lvs_real_server_transitions_total", web1, 2},
		{"web1 since", "lvs_real_server_last_change_timestamp_seconds", web1, float64(since.Unix())},
		{"web2 up", "lvs_real_server_up", web2, 0},
		{"web2 quiesced", "lvs_real_server_state", with(web2, "state", "quiesced"), 1},
		{"sorry down", "lvs_real_server_state", with(sorry, "state", "down"), 1},
	})
	// Unknown values are left out rather than exported as zero.
	for _, name := range []string{"lvs_health_check_last_duration_seconds", "lvs_health_checks_total", "lvs_real_server_last_change_timestamp_seconds"} {
		if _, ok := value(t, fams, name, web2); ok {
			t.Errorf("%s exported for a server never checked", name)
		}
	}
	if n := len(fams["lvs_real_server_state"].GetMetric()); n != 3*len(serverStates) {
		t.Errorf("lvs_real_server_state has %d series, want %d (one per state per server)", n, 3*len(serverStates))
	}
}

func TestMetricsHA(t *testing.T) {
	src := metricsSource(t)
	fams := scrape(t, src)
	peer := map[string]string{"peer": "192.168.26.2"}
	checkSamples(t, fams, []sampleCase{
		{"info", "lvs_router_info", map[string]string{"role": "primary", "peer": "192.168.26.2"}, 1},
		{"active", "lvs_router_state", map[string]string{"state": "active"}, 1},
		{"standby", "lvs_router_state", map[string]string{"state": "standby"}, 0},
		{"link fault", "lvs_router_fault", map[string]string{"fault": "link"}, 1},
		{"checker fault", "lvs_router_fault", map[string]string{"fault": "checker"}, 0},
		{"since", "lvs_router_last_transition_timestamp_seconds", nil, float64(since.Unix())},
		{"failovers", "lvs_failovers_total", peer, 3},
		{"releases", "lvs_router_releases_total", peer, 2},
		{"peer up", "lvs_peer_up", peer, 1},
		{"public age", "lvs_heartbeat_age_seconds", map[string]string{"peer": "192.168.26.2", "channel": "public"}, 1.5},
		{"refused", "lvs_heartbeats_refused_total", map[string]string{"reason": "auth"}, 4},
	})
	if _, ok := value(t, fams, "lvs_heartbeat_age_seconds", map[string]string{"peer": "10.0.0.2", "channel": "private"}); ok {
		t.Error("heartbeat age exported for a channel never heard")
	}

	// Sync and config sync.
	src.ha.SerialMismatch = true
	src.ha.ConnSync = &admin.ConnSyncStatus{Mode: "master", Records: 42, Last: since, Lag: 2 * time.Second}
	src.ha.ConfigSync = &admin.ConfigSyncStatus{Enabled: true, Pushes: 3, Refused: 1}
	fams = scrape(t, src)
	checkSamples(t, fams, []sampleCase{
		{"serial mismatch", "lvs_config_serial_mismatch", peer, 1},
		{"sync lag", "lvs_conn_sync_lag_seconds", map[string]string{"mode": "master"}, 2},
		{"sync records", "lvs_conn_sync_records_total", map[string]string{"mode": "master"}, 42},
		{"pushes", "lvs_config_sync_pushes_total", map[string]string{"result": "pushed"}, 3},
		{"refused pushes", "lvs_config_sync_pushes_total", map[string]string{"result": "refused"}, 1},
	})

	// No role machine: no router metrics at all; no peer: no peer metrics.
	src.ha = admin.HAStatus{}
	fams = scrape(t, src)
	for name := range fams {
		if strings.HasPrefix(name, "lvs_router_") || strings.HasPrefix(name, "lvs_peer_") || name == "lvs_failovers_total" {
			t.Errorf("%s exported without a role machine", name)
		}
	}
	src.ha = admin.HAStatus{Role: "primary", State: "active"}
	fams = scrape(t, src)
	if _, ok := fams["lvs_peer_up"]; ok {
		t.Error("lvs_peer_up exported without a backup router")
	}
	if v, ok := value(t, fams, "lvs_router_state", map[string]string{"state": "active"}); !ok || v != 1 {
		t.Errorf("lvs_router_state{state=active} = %v, %v; want 1", v, ok)
	}
}

// TestMetricsLint runs promlint over the collector: names, units, help.
func TestMetricsLint(t *testing.T) {
	problems, err := testutil.CollectAndLint(newCollector(metricsSource(t)))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

// TestMetricsRegistryPerInstance checks that two directors in one process
// each get their own registry and their own numbers.
func TestMetricsRegistryPerInstance(t *testing.T) {
	a, b := metricsSource(t), metricsSource(t)
	b.ct.Entries = 7
	fa, fb := scrape(t, a), scrape(t, b)
	va, _ := value(t, fa, "lvs_connection_table_entries", map[string]string{})
	vb, _ := value(t, fb, "lvs_connection_table_entries", map[string]string{})
	if va != 42 || vb != 7 {
		t.Errorf("entries = %v and %v, want 42 and 7", va, vb)
	}
	if _, ok := fa["go_goroutines"]; !ok {
		t.Error("go_goroutines missing: the Go collector is not registered")
	}
}

// TestMetricsIPv6Labels: IPv6 services and servers carry their addresses
// as node_exporter derives them from /proc/net/ip_vs ("[2001:0db8:…]"
// parsed to an IP and printed compressed, no brackets); an IPv6
// firewall-mark service is labelled as any firewall-mark service.
func TestMetricsIPv6Labels(t *testing.T) {
	vip, rip1, rip2 := netip.MustParseAddr("2001:db8::10"), netip.MustParseAddr("2001:db8:1::1"), netip.MustParseAddr("2001:db8:1::2")
	src := &fakeSource{st: admin.Status{Services: []admin.ServiceStatus{
		{Name: "www6", Proto: "TCP", Addr: vip, Port: 443, Sched: "rr", Stats: admin.Counters{Conns: 9},
			Dests: []admin.DestStatus{{Addr: rip1, Port: 8443, Forward: "Masq", Weight: 2, Active: 4, Inactive: 1}}},
		{Name: "mark6", FWMark: 2, IPv6: true, Sched: "rr",
			Dests: []admin.DestStatus{{Addr: rip2, Forward: "Route", Weight: 1, Active: 1}}},
	}}}
	fams := scrape(t, src)
	www6 := backend("2001:db8::10", "443", "2001:db8:1::1", "8443", "TCP", "")
	mark6 := backend("", "0", "2001:db8:1::2", "0", "FWM", "00000002")
	checkSamples(t, fams, []sampleCase{
		{"v6 backend active", "lvs_backend_connections_active", www6, 4},
		{"v6 backend inactive", "lvs_backend_connections_inactive", www6, 1},
		{"v6 backend weight", "lvs_backend_weight", www6, 2},
		{"v6 mark backend active", "lvs_backend_connections_active", mark6, 1},
		{"v6 service conns", "lvs_virtual_server_connections_total",
			map[string]string{"virtual_server": "www6", "local_address": "2001:db8::10", "local_port": "443", "proto": "TCP", "local_mark": ""}, 9},
	})
}
