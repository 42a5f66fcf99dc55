package auth

import "github.com/prometheus/client_golang/prometheus"

var descTokens = prometheus.NewDesc("fibremon_auth_tokens",
	"Tokens the service holds now, by role (probe, reader, admin). 0 probe tokens: every upload of results is refused.",
	[]string{"role"}, nil)

// collector reads the counts at scrape time, so the gauge follows every
// reload, revocation and file watch without a hook.
type collector struct{ t *Tokens }

// NewCollector exports fibremon_auth_tokens{role} for t, one series per
// role, zeros included.
func NewCollector(t *Tokens) prometheus.Collector { return collector{t} }

func (c collector) Describe(ch chan<- *prometheus.Desc) { ch <- descTokens }

func (c collector) Collect(ch chan<- prometheus.Metric) {
	counts := c.t.Counts()
	for _, role := range Roles {
		ch <- prometheus.MustNewConstMetric(descTokens, prometheus.GaugeValue, float64(counts.Of(role)), role)
	}
}
