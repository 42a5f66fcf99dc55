package agent

import (
	"github.com/prometheus/client_golang/prometheus"

	"fibremon"
	"fibremon/internal/spool"
)

type agentMetrics struct {
	measurements *prometheus.CounterVec
	duration     *prometheus.HistogramVec
	up           *prometheus.GaugeVec
	download     prometheus.Gauge
	upload       prometheus.Gauge
	rtt          *prometheus.GaugeVec
	loss         *prometheus.GaugeVec
	jitter       *prometheus.GaugeVec
	uploads      *prometheus.CounterVec
	failovers    *prometheus.CounterVec
	uploaded     prometheus.Counter
	lastUpload   prometheus.Gauge
	spoolErrors  prometheus.Counter
	otherTraffic *prometheus.GaugeVec
}

func newAgentMetrics(reg prometheus.Registerer, cfg *Config, q *spool.Queue) *agentMetrics {
	m := &agentMetrics{
		measurements: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fibreprobe_measurements_total",
			Help: "Measurements made, by configured measurement and outcome: up, down, void (a throughput test during which the line carried too much other traffic), or error (the probe itself failed; no result made).",
		}, []string{"measurement", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "fibreprobe_probe_duration_seconds",
			Help:    "Time taken by each measurement attempt.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 15, 30},
		}, []string{"measurement"}),
		up: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "fibreprobe_up",
			Help: "1 when the measurement's last attempt succeeded, 0 when it failed.",
		}, []string{"measurement", "kind"}),
		download: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "fibreprobe_download_bytes_per_second",
			Help: "Download speed of the last successful download test.",
		}),
		upload: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "fibreprobe_upload_bytes_per_second",
			Help: "Upload speed of the last successful upload test.",
		}),
		rtt: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "fibreprobe_rtt_seconds",
			Help: "Round-trip time of the last latency round, by statistic (min, avg, max, p95).",
		}, []string{"measurement", "stat"}),
		loss: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "fibreprobe_loss_ratio",
			Help: "Packet loss ratio (0-1) of the last latency round.",
		}, []string{"measurement"}),
		jitter: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "fibreprobe_jitter_seconds",
			Help: "RFC 3550 interarrival jitter of the last latency round's RTTs.",
		}, []string{"measurement"}),
		uploads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fibreprobe_upload_batches_total",
			Help: "Batches posted to the service, by outcome: ok (acknowledged, deleted from the spool), failed (network, 5xx or 429: will retry), unauthorized (401/403: will retry), misdirected (a redirect or an answer that is not the service's: will retry), rejected (judged invalid by the service: moved to dead letters).",
		}, []string{"outcome"}),
		failovers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fibreprobe_upload_failovers_total",
			Help: "Times the uploader moved to another of the service's URLs (service.urls) after an upload failed, by the URL it moved to.",
		}, []string{"url"}),
		uploaded: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "fibreprobe_uploaded_results_total",
			Help: "Results acknowledged by the service and deleted from the spool.",
		}),
		lastUpload: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "fibreprobe_last_upload_success_timestamp_seconds",
			Help: "When the service last acknowledged a batch, in Unix seconds.",
		}),
		spoolErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "fibreprobe_spool_write_errors_total",
			Help: "Results that could not be written to the spool (lost).",
		}),
		otherTraffic: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "fibreprobe_other_traffic_ratio",
			Help: "Other traffic on the interface during the last throughput test, as a fraction of the test's own bytes; at max_other_traffic_ratio or above the test is void.",
		}, []string{"measurement"}),
	}
	for _, mc := range cfg.Measurements {
		outcomes := []string{"up", "down", "error"}
		if throughputKind(mc.Kind) {
			outcomes = append(outcomes, "void")
		}
		for _, o := range outcomes {
			m.measurements.WithLabelValues(mc.Name, o)
		}
	}
	for _, o := range []string{"ok", "failed", "unauthorized", "misdirected", "rejected"} {
		m.uploads.WithLabelValues(o)
	}
	if urls := cfg.ServiceURLs(); len(urls) > 1 {
		for _, u := range urls {
			m.failovers.WithLabelValues(u)
		}
	}
	reg.MustRegister(m.measurements, m.duration, m.up, m.download, m.upload, m.rtt, m.loss, m.jitter,
		m.uploads, m.failovers, m.uploaded, m.lastUpload, m.spoolErrors, m.otherTraffic, &spoolCollector{q: q})
	return m
}

// observe counts a result; a void throughput test is neither up nor down.
func (m *agentMetrics) observe(name string, r fibremon.Result, void bool) {
	outcome, up := "down", 0.0
	switch {
	case void:
		m.measurements.WithLabelValues(name, "void").Inc()
		return
	case r.Up:
		outcome, up = "up", 1
	}
	m.measurements.WithLabelValues(name, outcome).Inc()
	m.up.WithLabelValues(name, string(r.Kind)).Set(up)
	if !r.Up {
		return
	}
	if v, ok := r.Values[fibremon.DownloadBytesPerSecond]; ok {
		m.download.Set(v)
	}
	if v, ok := r.Values[fibremon.UploadBytesPerSecond]; ok {
		m.upload.Set(v)
	}
	if r.Kind == fibremon.KindLatency {
		for stat, key := range map[string]string{"min": fibremon.MinRTTSeconds, "avg": fibremon.AvgRTTSeconds,
			"max": fibremon.MaxRTTSeconds, "p95": fibremon.P95RTTSeconds} {
			if v, ok := r.Values[key]; ok {
				m.rtt.WithLabelValues(name, stat).Set(v)
			}
		}
		if v, ok := r.Values[fibremon.LossRatio]; ok {
			m.loss.WithLabelValues(name).Set(v)
		}
		if v, ok := r.Values[fibremon.JitterSeconds]; ok {
			m.jitter.WithLabelValues(name).Set(v)
		}
	}
}

// spoolCollector reports the spool's state at scrape time.
type spoolCollector struct{ q *spool.Queue }

var (
	descSpoolResults = prometheus.NewDesc("fibreprobe_spool_results", "Results waiting in the spool for the service's acknowledgement.", nil, nil)
	descSpoolFiles   = prometheus.NewDesc("fibreprobe_spool_files", "Files in the spool.", nil, nil)
	descSpoolBytes   = prometheus.NewDesc("fibreprobe_spool_bytes", "Bytes used by the spool's files.", nil, nil)
	descSpoolOldest  = prometheus.NewDesc("fibreprobe_spool_oldest_timestamp_seconds", "Time of the oldest spooled file, in Unix seconds; absent when the spool is empty.", nil, nil)
	descSpoolDropped = prometheus.NewDesc("fibreprobe_spool_dropped_results_total", "Results dropped unsent because the spool hit its size or age bound or the disk was full.", nil, nil)
	descSpoolDead    = prometheus.NewDesc("fibreprobe_spool_dead_files_total", "Spool files set aside as dead letters (refused by the service or undecodable).", nil, nil)
)

func (c *spoolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descSpoolResults, descSpoolFiles, descSpoolBytes, descSpoolOldest, descSpoolDropped, descSpoolDead} {
		ch <- d
	}
}

func (c *spoolCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.q.Len()
	ch <- prometheus.MustNewConstMetric(descSpoolResults, prometheus.GaugeValue, float64(s.Results))
	ch <- prometheus.MustNewConstMetric(descSpoolFiles, prometheus.GaugeValue, float64(s.Files))
	ch <- prometheus.MustNewConstMetric(descSpoolBytes, prometheus.GaugeValue, float64(s.Bytes))
	if !s.Oldest.IsZero() {
		ch <- prometheus.MustNewConstMetric(descSpoolOldest, prometheus.GaugeValue, float64(s.Oldest.UnixNano())/1e9)
	}
	ch <- prometheus.MustNewConstMetric(descSpoolDropped, prometheus.CounterValue, float64(s.Dropped))
	ch <- prometheus.MustNewConstMetric(descSpoolDead, prometheus.CounterValue, float64(s.Dead))
}
