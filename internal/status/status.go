// Package status keeps the service's view of every site — state, last seen,
// newest results, availability — as an immutable snapshot rebuilt from the
// store, and exports it as Prometheus metrics.
//
// Readers (the API, the GeoJSON builder, a Prometheus scrape) load the
// current snapshot with one atomic read and never touch the store, so a
// scrape costs the same whatever the store; the store is read only by
// Refresh, which Run calls periodically and on demand after an ingest.
package status

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"fibremon"
)

// Reader is what the tracker needs from a result store.
type Reader interface {
	Latest(ctx context.Context) (map[string][]fibremon.Result, error)
	Availability(ctx context.Context, since time.Time) (map[string]fibremon.Tally, error)
}

// Snapshot is the state of every configured site at one instant.
type Snapshot struct {
	At    time.Time
	Sites []fibremon.SiteStatus // in configuration order
	// Unconfigured counts sites that have results but are not configured.
	Unconfigured int
}

// Tracker builds snapshots. It is safe for concurrent use.
type Tracker struct {
	sites  atomic.Pointer[[]fibremon.Site]
	store  Reader
	stale  time.Duration
	now    func() time.Time
	logger *slog.Logger
	snap   atomic.Pointer[Snapshot]
	kick   chan struct{}

	refreshErrors prometheus.Counter
}

// Options tune a Tracker.
type Options struct {
	// Stale is how long without any result before a site is "silent".
	Stale time.Duration
	// Now returns the present; nil means time.Now.
	Now func() time.Time
}

// New returns a tracker for sites whose first snapshot has every site
// unknown. Metrics are registered on reg.
func New(logger *slog.Logger, reg prometheus.Registerer, sites []fibremon.Site, store Reader, opts Options) *Tracker {
	if opts.Stale <= 0 {
		opts.Stale = 5 * time.Minute
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	t := &Tracker{
		store: store, stale: opts.Stale, now: opts.Now,
		logger: logger.With("component", "status"),
		kick:   make(chan struct{}, 1),
		refreshErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "fibremon_status_refresh_errors_total",
			Help: "Failed refreshes of the site status snapshot from the store.",
		}),
	}
	t.sites.Store(&sites)
	t.snap.Store(t.build(nil, nil, opts.Now()))
	reg.MustRegister(t.refreshErrors, &collector{t: t})
	return t
}

// Snapshot returns the current snapshot. Callers must not modify it.
func (t *Tracker) Snapshot() *Snapshot { return t.snap.Load() }

// Sites returns the configured sites.
func (t *Tracker) Sites() []fibremon.Site { return *t.sites.Load() }

// SetSites replaces the configured sites (a reloaded data set) and asks for
// a refresh.
func (t *Tracker) SetSites(sites []fibremon.Site) {
	t.sites.Store(&sites)
	t.Kick()
}

// Kick asks Run to refresh soon; it never blocks.
func (t *Tracker) Kick() {
	select {
	case t.kick <- struct{}{}:
	default:
	}
}

// Refresh reads the store and publishes a new snapshot.
func (t *Tracker) Refresh(ctx context.Context) error {
	now := t.now()
	latest, err := t.store.Latest(ctx)
	if err != nil {
		t.refreshErrors.Inc()
		return err
	}
	avail, err := t.store.Availability(ctx, now.Add(-24*time.Hour))
	if err != nil {
		t.refreshErrors.Inc()
		return err
	}
	t.snap.Store(t.build(latest, avail, now))
	return nil
}

// Run refreshes every interval and whenever kicked (at most every 250 ms),
// until ctx is done.
//
// Liveness: Run is owned by the caller's errgroup and returns when ctx is done.
func (t *Tracker) Run(ctx context.Context, interval time.Duration) error {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		if err := t.Refresh(ctx); err != nil && ctx.Err() == nil {
			t.logger.Warn("status refresh failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		case <-t.kick:
			// coalesce bursts of ingests
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(250 * time.Millisecond):
			}
		}
	}
}

func (t *Tracker) build(latest map[string][]fibremon.Result, avail map[string]fibremon.Tally, now time.Time) *Snapshot {
	sites := t.Sites()
	s := &Snapshot{At: now, Sites: make([]fibremon.SiteStatus, 0, len(sites))}
	known := make(map[string]bool, len(sites))
	for _, site := range sites {
		known[site.ID] = true
		rs := latest[site.ID]
		var lastSeen time.Time
		for _, r := range rs {
			end := r.Start.Add(time.Duration(r.DurationSeconds * float64(time.Second)))
			if end.After(lastSeen) {
				lastSeen = end
			}
		}
		if rs == nil {
			rs = []fibremon.Result{}
		}
		s.Sites = append(s.Sites, fibremon.SiteStatus{
			Site:            site,
			State:           fibremon.SiteState(rs, lastSeen, now, t.stale),
			LastSeen:        lastSeen,
			Latest:          rs,
			Availability24h: avail[site.ID].Ratio(),
		})
	}
	for id := range latest {
		if !known[id] {
			s.Unconfigured++
		}
	}
	return s
}

// Statuses returns the current snapshot's sites. Callers must not modify it.
func (t *Tracker) Statuses() []fibremon.SiteStatus { return t.Snapshot().Sites }
