package bgp

import "github.com/prometheus/client_golang/prometheus"

var (
	sessionUpDesc = prometheus.NewDesc("lvs_bgp_session_up",
		"Whether the BGP session with the peer is established (1) or not (0).", []string{"peer"}, nil)
	announcedDesc = prometheus.NewDesc("lvs_bgp_announced",
		"Whether the VIP's host route is announced (1) or withdrawn (0).", []string{"vip"}, nil)
	updatesDesc = prometheus.NewDesc("lvs_bgp_updates_total",
		"Announcements and withdrawals handed to the BGP speaker.", []string{"kind"}, nil)
)

// collector reads one Speaker at scrape time.
type collector struct{ s *Speaker }

// Collector returns a Prometheus collector of this speaker's sessions
// (lvs_bgp_session_up{peer="ADDRESS"}), routes (lvs_bgp_announced{vip})
// and updates (lvs_bgp_updates_total{kind}). Register it in the daemon's
// own registry; it holds no state besides the speaker.
func (s *Speaker) Collector() prometheus.Collector { return collector{s} }

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- sessionUpDesc
	ch <- announcedDesc
	ch <- updatesDesc
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	for _, sess := range c.s.Sessions() {
		ch <- prometheus.MustNewConstMetric(sessionUpDesc, prometheus.GaugeValue, b2f(sess.Up), sess.Address.String())
	}
	c.s.mu.Lock()
	routes := make(map[string]bool, len(c.s.routes))
	for vip, on := range c.s.routes {
		routes[vip.String()] = on
	}
	wd, ann := c.s.updates[0], c.s.updates[1]
	c.s.mu.Unlock()
	for vip, on := range routes {
		ch <- prometheus.MustNewConstMetric(announcedDesc, prometheus.GaugeValue, b2f(on), vip)
	}
	ch <- prometheus.MustNewConstMetric(updatesDesc, prometheus.CounterValue, float64(ann), "announce")
	ch <- prometheus.MustNewConstMetric(updatesDesc, prometheus.CounterValue, float64(wd), "withdraw")
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
