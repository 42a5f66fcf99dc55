package contract

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"fibremon"
)

// DefaultInterval is how often a Checker re-evaluates every site.
const DefaultInterval = time.Minute

// Checker keeps the latest evaluation of every site with a guarantee and
// exports it as metrics. It is safe for concurrent use.
type Checker struct {
	logger *slog.Logger
	store  Reader
	now    func() time.Time

	mu    sync.RWMutex
	sites []fibremon.Site
	evals map[string]Evaluation
	at    time.Time
}

// NewChecker returns a checker of sites reading store; its metrics are
// registered on reg. now may be nil (time.Now).
func NewChecker(logger *slog.Logger, reg prometheus.Registerer, sites []fibremon.Site, store Reader, now func() time.Time) *Checker {
	if now == nil {
		now = time.Now
	}
	c := &Checker{logger: logger.With("component", "contract"), store: store, sites: sites, now: now, evals: map[string]Evaluation{}}
	reg.MustRegister(&collector{c})
	return c
}

// SetSites replaces the sites (a reloaded data set); evaluations of sites
// no longer configured are forgotten, the others are redone at the next
// Refresh.
func (c *Checker) SetSites(sites []fibremon.Site) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sites = sites
	keep := make(map[string]Evaluation, len(sites))
	for _, s := range sites {
		if e, ok := c.evals[s.ID]; ok {
			keep[s.ID] = e
		}
	}
	c.evals = keep
}

func (c *Checker) siteList() []fibremon.Site {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.sites
}

// Site evaluates the site id afresh. NotFound when there is no such site.
func (c *Checker) Site(ctx context.Context, id string) (Evaluation, error) {
	for _, s := range c.siteList() {
		if s.ID != id {
			continue
		}
		e, err := Check(ctx, c.store, s, c.now())
		if err != nil {
			return Evaluation{}, fibremon.Errorf(fibremon.Transient, "%v", err)
		}
		c.mu.Lock()
		c.evals[id] = e
		c.mu.Unlock()
		return e, nil
	}
	return Evaluation{}, &fibremon.Error{Kind: fibremon.NotFound, Field: "id", Msg: "no site " + id}
}

// Refresh evaluates every site. A site whose results cannot be read keeps
// its previous evaluation; the first error is returned.
func (c *Checker) Refresh(ctx context.Context) error {
	var first error
	now := c.now()
	for _, s := range c.siteList() {
		e, err := Check(ctx, c.store, s, now)
		if err != nil {
			if first == nil {
				first = err
			}
			continue
		}
		c.mu.Lock()
		c.evals[s.ID] = e
		c.mu.Unlock()
	}
	c.mu.Lock()
	c.at = now
	c.mu.Unlock()
	return first
}

// Run refreshes every interval until ctx is done.
//
// Liveness: returns nil when ctx is done.
func (c *Checker) Run(ctx context.Context, interval time.Duration) error {
	if interval <= 0 {
		interval = DefaultInterval
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if err := c.Refresh(ctx); err != nil && ctx.Err() == nil {
			c.logger.Warn("contract check incomplete", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Evaluations returns the latest evaluation of each site, in site order.
func (c *Checker) Evaluations() []Evaluation {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]Evaluation, 0, len(c.evals))
	for _, s := range c.sites {
		if e, ok := c.evals[s.ID]; ok {
			out = append(out, e)
		}
	}
	return out
}

var (
	descP5Down = prometheus.NewDesc("fibremon_contract_download_p5_bytes_per_second",
		"5th percentile of the site's last 96 valid download tests (MisuraInternet's banda minima).", []string{"comune", "site_id"}, nil)
	descP5Up = prometheus.NewDesc("fibremon_contract_upload_p5_bytes_per_second",
		"5th percentile of the site's last 96 valid upload tests.", []string{"comune", "site_id"}, nil)
	descP95RTT = prometheus.NewDesc("fibremon_contract_latency_p95_seconds",
		"95th percentile of the average RTT of the site's last 96 valid latency rounds.", []string{"comune", "site_id"}, nil)
	descMin = prometheus.NewDesc("fibremon_contract_min_bytes_per_second",
		"Minimum speed the site's contract guarantees, by direction; absent when it states none.", []string{"comune", "site_id", "direction"}, nil)
	descMaxRTT = prometheus.NewDesc("fibremon_contract_max_rtt_seconds",
		"Maximum delay the site's contract guarantees; absent when it states none.", []string{"comune", "site_id"}, nil)
	descTests = prometheus.NewDesc("fibremon_contract_valid_tests",
		"Valid tests the contract check used (at most 96), by measure (download, upload, latency).", []string{"comune", "site_id", "measure"}, nil)
	descBreach = prometheus.NewDesc("fibremon_contract_breach",
		"1 when the measure breaks the contract's guarantee over the last 96 valid tests, 0 when it keeps it; absent with fewer than 20 tests or no guarantee.",
		[]string{"comune", "site_id", "measure"}, nil)
	descAt = prometheus.NewDesc("fibremon_contract_evaluation_timestamp_seconds",
		"When every site's contract was last evaluated, in Unix seconds.", nil, nil)
)

type collector struct{ c *Checker }

func (col *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descP5Down, descP5Up, descP95RTT, descMin, descMaxRTT, descTests, descBreach, descAt} {
		ch <- d
	}
}

func (col *collector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	col.c.mu.RLock()
	at := col.c.at
	col.c.mu.RUnlock()
	if !at.IsZero() {
		gauge(descAt, float64(at.UnixNano())/1e9)
	}
	// Every per-site series carries the site's comune, as the status
	// metrics do.
	comune := map[string]string{}
	for _, s := range col.c.siteList() {
		comune[s.ID] = s.Comune
	}
	for _, e := range col.c.Evaluations() {
		c := comune[e.SiteID]
		for _, m := range e.Measures {
			gauge(descTests, float64(m.Tests), c, e.SiteID, m.Name)
			if m.Value != nil {
				switch m.Name {
				case Download:
					gauge(descP5Down, *m.Value, c, e.SiteID)
				case Upload:
					gauge(descP5Up, *m.Value, c, e.SiteID)
				case Latency:
					gauge(descP95RTT, *m.Value, c, e.SiteID)
				}
			}
			if m.Guaranteed != nil {
				if m.Name == Latency {
					gauge(descMaxRTT, *m.Guaranteed, c, e.SiteID)
				} else {
					gauge(descMin, *m.Guaranteed, c, e.SiteID, m.Name)
				}
			}
			switch m.Status {
			case StatusBreach:
				gauge(descBreach, 1, c, e.SiteID, m.Name)
			case StatusOK:
				gauge(descBreach, 0, c, e.SiteID, m.Name)
			}
		}
	}
}
