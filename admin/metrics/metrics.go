package metrics

import (
	"fmt"
	"net/http"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"lvs/admin"
)

// Label names. The backend set is node_exporter's IPVS collector's
// (collector/ipvs_linux.go), so IPVS dashboards carry over with the metric
// prefix renamed from node_ipvs_ to lvs_.
var (
	backendLabels = []string{"local_address", "local_port", "remote_address", "remote_port", "proto", "local_mark"}
	serviceLabels = []string{"virtual_server", "local_address", "local_port", "proto", "local_mark"}
	serverLabels  = []string{"virtual_server", "real_server", "kind", "remote_address", "remote_port", "check"}
)

// Known values of the one-hot state gauges: every one is exported, 1 on the
// current value, so that a missing series never hides a state change.
var (
	routerStates = []string{"none", "standby", "active", "stopping"}
	routerFaults = []string{"link", "dataplane", "checker"}
	serverStates = []string{"unknown", "up", "down", "quiesced", "drain"}
)

// metric is a descriptor with its value type.
type metric struct {
	desc *prometheus.Desc
	typ  prometheus.ValueType
}

func newMetric(typ prometheus.ValueType, name, help string, labels ...string) metric {
	return metric{prometheus.NewDesc(name, help, labels, nil), typ}
}

func counter(name, help string, labels ...string) metric {
	return newMetric(prometheus.CounterValue, name, help, labels...)
}

func gauge(name, help string, labels ...string) metric {
	return newMetric(prometheus.GaugeValue, name, help, labels...)
}

// emit sends one sample; a label-count mistake becomes a scrape error
// rather than a panic.
func emit(ch chan<- prometheus.Metric, m metric, v float64, labels ...string) {
	s, err := prometheus.NewConstMetric(m.desc, m.typ, v, labels...)
	if err != nil {
		s = prometheus.NewInvalidMetric(m.desc, err)
	}
	ch <- s
}

// collector snapshots a MetricsSource at scrape time: no per-packet label
// updates, nothing kept between scrapes.
type collector struct {
	src               MetricsSource
	all               []metric // every descriptor, for Describe
	version, revision string   // of the main module, for lvs_build_info

	build metric
	// Totals of /proc/net/ip_vs_stats (node_ipvs_*_total).
	conns, inPkts, outPkts, inBytes, outBytes metric
	// Per destination (node_ipvs_backend_*), plus its traffic counters.
	beActive, beInactive, beWeight, bePersist                  metric
	beConns, beInPkts, beOutPkts, beInBytes, beOutBytes        metric
	vsConns, vsInPkts, vsOutPkts, vsInBytes, vsOutBytes, vsUp  metric
	vsServers                                                  metric
	dpRX, dpTX, dpVerdicts, dpDrops                            metric
	dpRingFrames, dpRingDrops                                  metric
	dpMode, dpFastInstalls, dpFastErrors, dpFastWithdrawErrors metric
	dpFlowMap, dpFlowMapResizes, dpFastEvicted                 metric
	ctEntries, ctMax, ctHalfOpen, ctPressure                   metric
	ctCreated, ctExpired, ctEvicted, ctFull                    metric
	ctResched, ctNoDest, ctDropped, ctInvalid                  metric
	haInfo, haState, haFault, haSince, haTakeovers, haReleases metric
	haPeerUp, haAge, haRefused                                 metric
	haSerialMis, haSyncLag, haSyncRecords, haCfgPushes         metric
	rsUp, rsState, rsSince, rsTransitions                      metric
	hcDuration, hcChecks, hcFailures                           metric
}

func newCollector(src MetricsSource) *collector {
	c := &collector{src: src}
	c.version, c.revision = buildVersion()
	c.defineIPVS()
	c.defineDaemon()
	c.defineHA()
	c.all = []metric{c.build, c.conns, c.inPkts, c.outPkts, c.inBytes, c.outBytes,
		c.beActive, c.beInactive, c.beWeight, c.bePersist, c.beConns, c.beInPkts, c.beOutPkts, c.beInBytes, c.beOutBytes,
		c.vsConns, c.vsInPkts, c.vsOutPkts, c.vsInBytes, c.vsOutBytes, c.vsUp, c.vsServers,
		c.dpRX, c.dpTX, c.dpVerdicts, c.dpDrops, c.dpRingFrames, c.dpRingDrops, c.dpMode, c.dpFastInstalls, c.dpFastErrors, c.dpFastWithdrawErrors,
		c.dpFlowMap, c.dpFlowMapResizes, c.dpFastEvicted, c.ctEntries, c.ctMax, c.ctHalfOpen, c.ctPressure, c.ctCreated, c.ctExpired, c.ctEvicted, c.ctFull,
		c.ctResched, c.ctNoDest, c.ctDropped, c.ctInvalid,
		c.haInfo, c.haState, c.haFault, c.haSince, c.haTakeovers, c.haReleases, c.haPeerUp, c.haAge, c.haRefused,
		c.haSerialMis, c.haSyncLag, c.haSyncRecords, c.haCfgPushes,
		c.rsUp, c.rsState, c.rsSince, c.rsTransitions, c.hcDuration, c.hcChecks, c.hcFailures}
	return c
}

// defineIPVS declares node_exporter's IPVS set and the per-service set.
func (c *collector) defineIPVS() {
	c.build = gauge("lvs_build_info", "Always 1; labels give the lvs-go version and the Go release it was built with.",
		"version", "revision", "goversion")
	c.conns = counter("lvs_connections_total", "The total number of connections made (all virtual services).")
	c.inPkts = counter("lvs_incoming_packets_total", "The total number of incoming packets (all virtual services).")
	c.outPkts = counter("lvs_outgoing_packets_total", "The total number of outgoing packets (all virtual services).")
	c.inBytes = counter("lvs_incoming_bytes_total", "The total amount of incoming data in bytes (all virtual services).")
	c.outBytes = counter("lvs_outgoing_bytes_total", "The total amount of outgoing data in bytes (all virtual services).")
	b := backendLabels
	c.beActive = gauge("lvs_backend_connections_active", "The current active connections by local and remote address.", b...)
	c.beInactive = gauge("lvs_backend_connections_inactive", "The current inactive connections by local and remote address.", b...)
	c.beWeight = gauge("lvs_backend_weight", "The current backend weight by local and remote address.", b...)
	c.bePersist = gauge("lvs_backend_connections_persistent", "The current persistence templates by local and remote address.", b...)
	c.beConns = counter("lvs_backend_connections_total", "Connections scheduled to the backend.", b...)
	c.beInPkts = counter("lvs_backend_incoming_packets_total", "Packets from clients forwarded to the backend.", b...)
	c.beOutPkts = counter("lvs_backend_outgoing_packets_total", "Packets from the backend forwarded to clients.", b...)
	c.beInBytes = counter("lvs_backend_incoming_bytes_total", "Bytes from clients forwarded to the backend.", b...)
	c.beOutBytes = counter("lvs_backend_outgoing_bytes_total", "Bytes from the backend forwarded to clients.", b...)
	s := serviceLabels
	c.vsConns = counter("lvs_virtual_server_connections_total", "Connections made to the virtual service.", s...)
	c.vsInPkts = counter("lvs_virtual_server_in_packets_total", "Incoming packets of the virtual service.", s...)
	c.vsOutPkts = counter("lvs_virtual_server_out_packets_total", "Outgoing packets of the virtual service.", s...)
	c.vsInBytes = counter("lvs_virtual_server_in_bytes_total", "Incoming bytes of the virtual service.", s...)
	c.vsOutBytes = counter("lvs_virtual_server_out_bytes_total", "Outgoing bytes of the virtual service.", s...)
	c.vsUp = gauge("lvs_virtual_server_up", "1 when at least one real server of the virtual service takes new connections (weight > 0).", s...)
	c.vsServers = gauge("lvs_virtual_server_active_real_servers", "Real servers in the table with a weight above 0.", s...)
}

// defineDaemon declares the dataplane, connection table and health sets.
func (c *collector) defineDaemon() {
	c.dpRX = counter("lvs_dataplane_rx_frames_total", "Frames read from the links by the dataplane workers.")
	c.dpTX = counter("lvs_dataplane_tx_frames_total", "Frames written to the links by the dataplane workers.")
	c.dpVerdicts = counter("lvs_dataplane_frames_total", "Frames handled, by verdict (pass, forward, reply, drop).", "verdict")
	c.dpDrops = counter("lvs_packets_dropped_total", "Frames dropped by the dataplane, by reason.", "reason")
	c.dpMode = gauge("lvs_dataplane_mode", "How frames are forwarded (1 for the mode in use): tcx+afpacket or tc+afpacket (the eBPF fast path on the tcx or the tc hook), afpacket or tap (Go workers alone).", "mode")
	c.dpFastInstalls = counter("lvs_fastpath_installs_total", "Flow directions the workers handed to the eBPF fast path.")
	c.dpFastErrors = counter("lvs_fastpath_errors_total", "Flow directions the eBPF fast path refused (they stay on the Go path).")
	c.dpFastWithdrawErrors = counter("lvs_fastpath_withdraw_errors_total", "Flows the eBPF fast path failed to withdraw (they stay in its map until evicted).")
	c.dpFlowMap = gauge("lvs_fastpath_flow_map_entries", "The size of the eBPF fast path's flow map of the family (a NAT connection takes two entries, a direct-routing one one); lvsd grows it as its connection table fills it.", "family")
	c.dpFastEvicted = counter("lvs_fastpath_evicted_total", "Flow directions the workers found evicted from the eBPF fast path's map and offered again.")
	c.dpFlowMapResizes = counter("lvs_fastpath_flow_map_resizes_total", "Times lvsd grew the eBPF fast path's flow maps.")
	c.dpRingFrames = counter("lvs_dataplane_ring_frames_total", "Frames the kernel offered the workers' receive rings of the interface.", "interface")
	c.dpRingDrops = counter("lvs_dataplane_ring_drops_total", "Frames the kernel dropped because a receive ring of the interface was full (the workers did not keep up).", "interface")
	c.ctEntries = gauge("lvs_connection_table_entries", "Entries in the connection table, persistence templates included.")
	c.ctMax = gauge("lvs_connection_table_max_entries", "The connection table's limit.")
	c.ctHalfOpen = gauge("lvs_connection_table_half_open_entries", "TCP entries in SYN_RECV or SYNACK.")
	c.ctPressure = gauge("lvs_connection_table_pressure", "1 when the table is above its pressure level (secure_tcp, eviction).")
	c.ctCreated = counter("lvs_connection_table_created_total", "Entries created (flows and persistence templates).")
	c.ctExpired = counter("lvs_connection_table_expired_total", "Entries removed by timeout, deletion or a dead destination.")
	c.ctEvicted = counter("lvs_connection_table_evicted_total", "Half-open entries dropped to make room.")
	c.ctFull = counter("lvs_connection_table_full_total", "Entries refused because the table was full.")
	c.ctResched = counter("lvs_connection_table_rescheduled_total", "New SYNs that replaced an old entry (conn_reuse_mode).")
	c.ctNoDest = counter("lvs_connection_table_nodest_expired_total", "Entries expired because their destination left (expire_nodest_conn).")
	c.ctDropped = counter("lvs_connection_table_nodest_dropped_total", "Packets refused because their destination left.")
	c.ctInvalid = counter("lvs_connection_table_templates_invalidated_total", "Persistence templates invalidated (dead or quiesced destination).")
	r := serverLabels
	c.rsUp = gauge("lvs_real_server_up", "1 when the health check has the real server up and taking connections.", r...)
	c.rsState = gauge("lvs_real_server_state", "1 on the real server's current health state.", append(slices.Clone(r), "state")...)
	c.rsSince = gauge("lvs_real_server_last_change_timestamp_seconds", "When the real server entered its current state.", r...)
	c.rsTransitions = counter("lvs_real_server_transitions_total", "Health state changes of the real server.", r...)
	c.hcDuration = gauge("lvs_health_check_last_duration_seconds", "How long the last finished health check took.", r...)
	c.hcChecks = counter("lvs_health_checks_total", "Health checks run against the real server.", r...)
	c.hcFailures = counter("lvs_health_check_failures_total", "Health checks of the real server that failed.", r...)
}

// defineHA declares the router role and heartbeat set.
func (c *collector) defineHA() {
	c.haInfo = gauge("lvs_router_info", "Always 1; labels give this router's role in lvs.cf and its partner.", "role", "peer")
	c.haState = gauge("lvs_router_state", "1 on the router's current state.", "state")
	c.haFault = gauge("lvs_router_fault", "1 while a local failure keeps the router from being active.", "fault")
	c.haSince = gauge("lvs_router_last_transition_timestamp_seconds", "When the router last changed state.")
	c.haTakeovers = counter("lvs_failovers_total", "Transitions of this router to active.", "peer")
	c.haReleases = counter("lvs_router_releases_total", "Transitions of this router from active to standby.", "peer")
	c.haPeerUp = gauge("lvs_peer_up", "1 while the partner's heartbeats arrive.", "peer")
	c.haAge = gauge("lvs_heartbeat_age_seconds", "Time since the partner's last heartbeat on the channel.", "peer", "channel")
	c.haRefused = counter("lvs_heartbeats_refused_total", "Heartbeat datagrams refused, by reason.", "reason")
	c.haSerialMis = gauge("lvs_config_serial_mismatch", "1 while the partner's serial_no differs from ours.", "peer")
	c.haSyncLag = gauge("lvs_conn_sync_lag_seconds", "Time since the last connection sync dump sent (master) or received (backup).", "mode")
	c.haSyncRecords = counter("lvs_conn_sync_records_total", "Connection sync records sent (master) or received (backup) since the mode began.", "mode")
	c.haCfgPushes = counter("lvs_config_sync_pushes_total", "lvs.cf files pushed to the partner (pushed) or taken from it (received, refused).", "result")
}

// Describe sends every descriptor.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, m := range c.all {
		ch <- m.desc
	}
}

// Collect reads the source once and sends its samples.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	emit(ch, c.build, 1, c.version, c.revision, runtime.Version())
	c.collectStatus(ch, c.src.Status())
	c.collectDataplane(ch, c.src.Dataplane())
	c.collectConntrack(ch, c.src.Conntrack())
	c.collectHA(ch, c.src.HA())
	c.collectHealth(ch, c.src.Health())
}

// buildVersion returns the main module's version and VCS revision.
func buildVersion() (version, revision string) {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown", ""
	}
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" {
			revision = s.Value
		}
	}
	return bi.Main.Version, revision
}

// serviceLabelValues returns local_address, local_port, proto and
// local_mark as node_exporter derives them from /proc/net/ip_vs: a
// firewall-mark service has proto "FWM", no address, port 0 and the mark
// in the kernel's %08X form.
func serviceLabelValues(s admin.ServiceStatus) (addr, port, proto, mark string) {
	if s.FWMark != 0 {
		return "", "0", "FWM", fmt.Sprintf("%08X", s.FWMark)
	}
	return s.Addr.String(), strconv.Itoa(int(s.Port)), s.Proto, ""
}

func (c *collector) collectStatus(ch chan<- prometheus.Metric, st admin.Status) {
	var tot admin.Counters
	for _, s := range st.Services {
		addr, port, proto, mark := serviceLabelValues(s)
		sl := []string{s.Name, addr, port, proto, mark}
		emit(ch, c.vsConns, float64(s.Stats.Conns), sl...)
		emit(ch, c.vsInPkts, float64(s.Stats.InPkts), sl...)
		emit(ch, c.vsOutPkts, float64(s.Stats.OutPkts), sl...)
		emit(ch, c.vsInBytes, float64(s.Stats.InBytes), sl...)
		emit(ch, c.vsOutBytes, float64(s.Stats.OutBytes), sl...)
		active := 0
		for _, d := range s.Dests {
			if d.Weight > 0 {
				active++
			}
			bl := []string{addr, port, d.Addr.String(), strconv.Itoa(int(d.Port)), proto, mark}
			emit(ch, c.beActive, float64(d.Active), bl...)
			emit(ch, c.beInactive, float64(d.Inactive), bl...)
			emit(ch, c.beWeight, float64(d.Weight), bl...)
			emit(ch, c.bePersist, float64(d.Persist), bl...)
			emit(ch, c.beConns, float64(d.Stats.Conns), bl...)
			emit(ch, c.beInPkts, float64(d.Stats.InPkts), bl...)
			emit(ch, c.beOutPkts, float64(d.Stats.OutPkts), bl...)
			emit(ch, c.beInBytes, float64(d.Stats.InBytes), bl...)
			emit(ch, c.beOutBytes, float64(d.Stats.OutBytes), bl...)
		}
		emit(ch, c.vsUp, boolValue(active > 0), sl...)
		emit(ch, c.vsServers, float64(active), sl...)
		tot = admin.AddCounters(tot, s.Stats)
	}
	emit(ch, c.conns, float64(tot.Conns))
	emit(ch, c.inPkts, float64(tot.InPkts))
	emit(ch, c.outPkts, float64(tot.OutPkts))
	emit(ch, c.inBytes, float64(tot.InBytes))
	emit(ch, c.outBytes, float64(tot.OutBytes))
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func (c *collector) collectDataplane(ch chan<- prometheus.Metric, d admin.DataplaneStats) {
	emit(ch, c.dpRX, float64(d.RX))
	emit(ch, c.dpTX, float64(d.TX))
	for v, n := range d.Verdicts {
		emit(ch, c.dpVerdicts, float64(n), v)
	}
	for r, n := range d.Drops {
		emit(ch, c.dpDrops, float64(n), r)
	}
	for i, n := range d.RingFrames {
		emit(ch, c.dpRingFrames, float64(n), i)
	}
	for i, n := range d.RingDrops {
		emit(ch, c.dpRingDrops, float64(n), i)
	}
	if d.Mode != "" {
		emit(ch, c.dpMode, 1, d.Mode)
	}
	emit(ch, c.dpFastInstalls, float64(d.FastInstalls))
	emit(ch, c.dpFastErrors, float64(d.FastErrors))
	emit(ch, c.dpFastWithdrawErrors, float64(d.FastWithdrawErrors))
	emit(ch, c.dpFastEvicted, float64(d.FastEvicted))
	if d.FlowMap > 0 {
		emit(ch, c.dpFlowMap, float64(d.FlowMap), "ipv4")
		emit(ch, c.dpFlowMap, float64(d.FlowMap6), "ipv6")
		emit(ch, c.dpFlowMapResizes, float64(d.FlowMapResizes))
	}
}

func (c *collector) collectConntrack(ch chan<- prometheus.Metric, s admin.ConntrackStats) {
	emit(ch, c.ctEntries, float64(s.Entries))
	emit(ch, c.ctMax, float64(s.MaxEntries))
	emit(ch, c.ctHalfOpen, float64(s.HalfOpen))
	emit(ch, c.ctPressure, boolValue(s.Pressure))
	emit(ch, c.ctCreated, float64(s.Created))
	emit(ch, c.ctExpired, float64(s.Expired))
	emit(ch, c.ctEvicted, float64(s.Evicted))
	emit(ch, c.ctFull, float64(s.Full))
	emit(ch, c.ctResched, float64(s.Resched))
	emit(ch, c.ctNoDest, float64(s.NoDest))
	emit(ch, c.ctDropped, float64(s.Dropped))
	emit(ch, c.ctInvalid, float64(s.Invalid))
}

// oneHot emits m with value 1 on cur and 0 on every other known value; an
// unknown cur gets its own series.
func oneHot(ch chan<- prometheus.Metric, m metric, known []string, cur string, labels ...string) {
	vals := known
	if cur != "" && !slices.Contains(known, cur) {
		vals = append(slices.Clone(known), cur)
	}
	for _, v := range vals {
		emit(ch, m, boolValue(v == cur), append(slices.Clone(labels), v)...)
	}
}

// collectHA exports the role machine; nothing when Role is empty (the
// daemon runs no role machine yet).
func (c *collector) collectHA(ch chan<- prometheus.Metric, h admin.HAStatus) {
	if h.Role == "" {
		return
	}
	peer := ""
	if h.Peer.IsValid() {
		peer = h.Peer.String()
	}
	emit(ch, c.haInfo, 1, h.Role, peer)
	oneHot(ch, c.haState, routerStates, h.State)
	faults := routerFaults
	for _, f := range h.Faults {
		if !slices.Contains(faults, f) {
			faults = append(slices.Clone(faults), f)
		}
	}
	for _, f := range faults {
		emit(ch, c.haFault, boolValue(slices.Contains(h.Faults, f)), f)
	}
	if !h.Since.IsZero() {
		emit(ch, c.haSince, float64(h.Since.UnixNano())/1e9)
	}
	emit(ch, c.haTakeovers, float64(h.Takeovers), peer)
	emit(ch, c.haReleases, float64(h.Releases), peer)
	for r, n := range h.Refused {
		emit(ch, c.haRefused, float64(n), r)
	}
	if !h.Peer.IsValid() {
		return
	}
	emit(ch, c.haPeerUp, boolValue(h.PeerAlive), peer)
	emit(ch, c.haSerialMis, boolValue(h.SerialMismatch), peer)
	if cs := h.ConnSync; cs != nil {
		if !cs.Last.IsZero() {
			emit(ch, c.haSyncLag, cs.Lag.Seconds(), cs.Mode)
		}
		emit(ch, c.haSyncRecords, float64(cs.Records), cs.Mode)
	}
	if cf := h.ConfigSync; cf != nil && cf.Enabled {
		emit(ch, c.haCfgPushes, float64(cf.Pushes), "pushed")
		emit(ch, c.haCfgPushes, float64(cf.Received), "received")
		emit(ch, c.haCfgPushes, float64(cf.Refused), "refused")
	}
	for _, hc := range h.Channels {
		if hc.Age >= 0 {
			emit(ch, c.haAge, hc.Age.Seconds(), hc.Peer.String(), hc.Channel)
		}
	}
}

func (c *collector) collectHealth(ch chan<- prometheus.Metric, hs []admin.HealthStatus) {
	for _, h := range hs {
		kind := "real"
		if h.Sorry {
			kind = "sorry"
		}
		l := []string{h.Virtual, h.Server, kind, h.Addr.Addr().String(), strconv.Itoa(int(h.Addr.Port())), h.Check}
		emit(ch, c.rsUp, boolValue(h.State == "up"), l...)
		oneHot(ch, c.rsState, serverStates, h.State, l...)
		emit(ch, c.rsTransitions, float64(h.Transitions), l...)
		if !h.Since.IsZero() {
			emit(ch, c.rsSince, float64(h.Since.UnixNano())/1e9, l...)
		}
		if h.Latency > 0 {
			emit(ch, c.hcDuration, h.Latency.Seconds(), l...)
		}
		if h.Checks > 0 {
			emit(ch, c.hcChecks, float64(h.Checks), l...)
			emit(ch, c.hcFailures, float64(h.Failures), l...)
		}
	}
}

// NewMetrics returns a registry of its own (never the global one, so that
// two directors can run in one test process) holding the lvs_* collector
// over src plus the Go runtime and process collectors. Serve it with
// MetricsHandler.
func NewMetrics(src MetricsSource) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(newCollector(src),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// MetricsHandler serves reg in the Prometheus exposition formats, for
// GET /metrics. A source that fails a scrape yields HTTP 500 with the
// error, as promhttp does.
func MetricsHandler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
}

// MetricsSource is what /metrics reads at scrape time. The daemon implements
// it; each method returns a fresh copy that the collector may keep. Methods
// are called from the HTTP server's goroutines, concurrently with each other
// and with the daemon's work, so they must be safe for concurrent use; they
// should be cheap (a scrape is expected every few seconds) and must not walk
// the connection table.
type MetricsSource interface {
	// Status is the service table with its counters (StatusFromTable).
	Status() admin.Status
	// Dataplane is the packet path's counters summed over workers.
	Dataplane() admin.DataplaneStats
	// Conntrack is the connection table's size and counters.
	Conntrack() admin.ConntrackStats
	// HA is the router's role and what it knows of its partner.
	HA() admin.HAStatus
	// Health is the state of every monitored real server and sorry server.
	Health() []admin.HealthStatus
}
