package coverage

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"fibremon"
	"fibremon/geo"
)

// Collector exports the coverage figures of each comune and of each of its
// hamlets as gauges, labelled with the comune's slug, computed from the
// current civic register at scrape time, and fibremon_comune_info for
// every comune of the data set (the list dashboards choose comuni from).
// Label values come from the data set and the fixed vocabularies only.
type Collector struct {
	live *geo.Live
	now  func() time.Time
}

// NewCollector returns a collector over live; now nil means time.Now.
func NewCollector(live *geo.Live, now func() time.Time) *Collector {
	if now == nil {
		now = time.Now
	}
	return &Collector{live: live, now: now}
}

var (
	scopeLabel         = []string{"comune", "scope"}
	descCoverageUnits  = prometheus.NewDesc("fibremon_coverage_units", "Real-estate units of the civic register, by scope (comune or hamlet).", scopeLabel, nil)
	descCoverageCivics = prometheus.NewDesc("fibremon_coverage_addresses", "Civic numbers of the register, by scope.", scopeLabel, nil)
	descByTech         = prometheus.NewDesc("fibremon_coverage_technology_units", "Units by the technology declared for their civic (\"unknown\": no coverage data).", []string{"comune", "scope", "technology"}, nil)
	descByState        = prometheus.NewDesc("fibremon_coverage_state_units", "Units by the rollout state of their civic now (\"none\": no state reached).", []string{"comune", "scope", "state"}, nil)
	descByClass        = prometheus.NewDesc("fibremon_coverage_class_units", "Units by coverage class now: vhcn, nga (>=30 Mbit/s), adequate (>=20 Mbit/s), below (incl. not yet served).", []string{"comune", "scope", "class"}, nil)
	descWhite          = prometheus.NewDesc("fibremon_coverage_white_area_units", "Units at civics classed as white area (aree bianche).", scopeLabel, nil)
	descSynthetic      = prometheus.NewDesc("fibremon_coverage_synthetic", "1 when the figures of the scope come (partly) from synthetic data, 0 when all are sourced.", scopeLabel, nil)
	descComuneInfo     = prometheus.NewDesc("fibremon_comune_info", "Comune of the data set (always 1), with its name and ISTAT code as labels; one series per comune, with or without sites and register.", []string{"comune", "name", "istat_code"}, nil)
)

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descCoverageUnits, descCoverageCivics, descByTech, descByState, descByClass, descWhite, descSynthetic, descComuneInfo} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	now := c.now()
	for _, ix := range c.live.Load().Comuni() {
		cm := ix.Comune()
		ch <- prometheus.MustNewConstMetric(descComuneInfo, prometheus.GaugeValue, 1, cm.Slug, cm.Name, cm.ISTATCode)
		if len(ix.Comune().Addresses) > 0 {
			collect(ch, ix.Comune(), now)
		}
	}
}

func collect(ch chan<- prometheus.Metric, c *geo.Comune, now time.Time) {
	g := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, append([]string{c.Slug}, labels...)...)
	}
	for _, f := range c.Figures(now) {
		g(descCoverageUnits, float64(f.Units), f.Scope)
		g(descCoverageCivics, float64(f.Addresses), f.Scope)
		g(descWhite, float64(f.WhiteAreaUnits), f.Scope)
		synthetic := 0.0
		if f.Synthetic {
			synthetic = 1
		}
		g(descSynthetic, synthetic, f.Scope)
		for t, n := range f.ByTechnology {
			name := string(t)
			if t == fibremon.Unknown {
				name = "unknown"
			}
			g(descByTech, float64(n.Units), f.Scope, name)
		}
		for st, n := range f.ByState {
			name := string(st)
			if name == "" {
				name = "none"
			}
			g(descByState, float64(n.Units), f.Scope, name)
		}
		for cl, n := range f.ByClass {
			g(descByClass, float64(n.Units), f.Scope, string(cl))
		}
	}
}
