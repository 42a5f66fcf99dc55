package status

import (
	"github.com/prometheus/client_golang/prometheus"

	"fibremon"
)

// collector exports the current snapshot. Label values come from the site
// configuration only, so cardinality is bounded by it. Every per-site
// series carries the site's comune (its slug), so that dashboards and
// alerts can select and route by comune.
type collector struct{ t *Tracker }

var (
	siteLabels = []string{"comune", "site_id"}
	descInfo   = prometheus.NewDesc("fibremon_site_info",
		"Configured monitored site (always 1), with its attributes as labels.",
		[]string{"comune", "site_id", "name", "kind", "hamlet", "technology", "coord_status", "synthetic"}, nil)
	descUp = prometheus.NewDesc("fibremon_site_up",
		"1 when the site's latest availability checks passed, 0 when they failed or the site is silent; absent when unknown.",
		siteLabels, nil)
	descState = prometheus.NewDesc("fibremon_site_state",
		"1 for the site's current state (up, down, silent, unknown), 0 for the others.",
		[]string{"comune", "site_id", "state"}, nil)
	descLastSeen = prometheus.NewDesc("fibremon_site_last_result_timestamp_seconds",
		"End time of the newest result received from the site, in Unix seconds.", siteLabels, nil)
	descDown = prometheus.NewDesc("fibremon_site_download_bytes_per_second",
		"Download speed measured by the site's newest successful download test.", siteLabels, nil)
	descUpl = prometheus.NewDesc("fibremon_site_upload_bytes_per_second",
		"Upload speed measured by the site's newest successful upload test.", siteLabels, nil)
	descRTT = prometheus.NewDesc("fibremon_site_rtt_seconds",
		"Round-trip time of the site's newest latency round, by statistic (min, avg, max, p95).",
		[]string{"comune", "site_id", "stat"}, nil)
	descJitter = prometheus.NewDesc("fibremon_site_jitter_seconds",
		"Jitter of the site's newest latency round.", siteLabels, nil)
	descLoss = prometheus.NewDesc("fibremon_site_loss_ratio",
		"Packet loss ratio (0-1) of the site's newest latency round.", siteLabels, nil)
	descContract = prometheus.NewDesc("fibremon_site_contract_bytes_per_second",
		"Contracted line speed of the site, by direction.", []string{"comune", "site_id", "direction"}, nil)
	descAvail = prometheus.NewDesc("fibremon_site_availability_ratio",
		"Share (0-1) of the site's availability checks that passed over the last 24 hours.", siteLabels, nil)
	descSnapshot = prometheus.NewDesc("fibremon_status_snapshot_timestamp_seconds",
		"When the site status snapshot was last rebuilt from the store, in Unix seconds.", nil, nil)
)

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descInfo, descUp, descState, descLastSeen, descDown, descUpl,
		descRTT, descJitter, descLoss, descContract, descAvail, descSnapshot} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	snap := c.t.Snapshot()
	ch <- prometheus.MustNewConstMetric(descSnapshot, prometheus.GaugeValue, float64(snap.RebuiltAt.UnixNano())/1e9)
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	for _, s := range snap.Sites {
		comune, id := s.Comune, s.ID
		synthetic := "false"
		if s.Synthetic {
			synthetic = "true"
		}
		gauge(descInfo, 1, comune, id, s.Name, string(s.Kind), s.Hamlet, string(s.Technology), string(s.CoordStatus), synthetic)
		for _, st := range []fibremon.State{fibremon.StateUp, fibremon.StateDown, fibremon.StateSilent, fibremon.StateUnknown} {
			v := 0.0
			if s.State == st {
				v = 1
			}
			gauge(descState, v, comune, id, string(st))
		}
		switch s.State {
		case fibremon.StateUp:
			gauge(descUp, 1, comune, id)
		case fibremon.StateDown, fibremon.StateSilent:
			gauge(descUp, 0, comune, id)
		}
		if !s.LastSeen.IsZero() {
			gauge(descLastSeen, float64(s.LastSeen.UnixNano())/1e9, comune, id)
		}
		gauge(descContract, s.ContractDownloadBytesPerSecond, comune, id, "download")
		gauge(descContract, s.ContractUploadBytesPerSecond, comune, id, "upload")
		if a := s.Availability24h; a != nil {
			gauge(descAvail, *a, comune, id)
		}
		for _, r := range s.Latest {
			if !r.Up {
				continue
			}
			switch r.Kind {
			case fibremon.KindDownload:
				if v, ok := r.Value(fibremon.DownloadBytesPerSecond); ok {
					gauge(descDown, v, comune, id)
				}
			case fibremon.KindUpload:
				if v, ok := r.Value(fibremon.UploadBytesPerSecond); ok {
					gauge(descUpl, v, comune, id)
				}
			case fibremon.KindLatency:
				for stat, name := range map[string]string{"min": fibremon.MinRTTSeconds, "avg": fibremon.AvgRTTSeconds,
					"max": fibremon.MaxRTTSeconds, "p95": fibremon.P95RTTSeconds} {
					if v, ok := r.Value(name); ok {
						gauge(descRTT, v, comune, id, stat)
					}
				}
				if v, ok := r.Value(fibremon.JitterSeconds); ok {
					gauge(descJitter, v, comune, id)
				}
				if v, ok := r.Value(fibremon.LossRatio); ok {
					gauge(descLoss, v, comune, id)
				}
			}
		}
	}
}
