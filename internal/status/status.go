// Package status keeps the service's view of every site — state, last seen,
// newest results, availability — as an immutable snapshot, and exports it
// as Prometheus metrics.
//
// Readers (the API, the GeoJSON builder, a Prometheus scrape) load the
// current snapshot with one atomic read and never touch the store, so a
// scrape costs the same whatever the store. The tracker learns of results
// in two ways: the API tells it what it has just stored (Observe), which
// it merges into its view without reading anything; and Refresh rebuilds
// the view from the store, which Run calls every refresh interval. The
// rebuild is what brings in results stored by other replicas sharing the
// store (InfluxDB), and what corrects the view's approximations (below):
// a replica that did not see a write shows it within one interval.
//
// Between rebuilds the view is exact for the newest result of every site
// and kind (merging is idempotent: a result seen twice changes nothing).
// The 24-hour availability is exact at each rebuild; until the next one
// it adds the availability checks observed since, without dropping those
// that age past 24 hours meanwhile, and without a batch that held
// duplicates (its new results are counted at the next rebuild).
package status

import (
	"context"
	"log/slog"
	"sync"
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

// SiteReader is a Reader that can also read only some sites' results (the
// InfluxDB store, whose reads cost more the more series they cover): the
// tracker then reads only the configured sites'.
type SiteReader interface {
	Reader
	LatestOf(ctx context.Context, sites []string) (map[string][]fibremon.Result, error)
	AvailabilityOf(ctx context.Context, since time.Time, sites []string) (map[string]fibremon.Tally, error)
}

// Snapshot is the state of every configured site at one instant.
type Snapshot struct {
	At    time.Time
	Sites []fibremon.SiteStatus // in configuration order
	// Unconfigured counts sites that have results but are not configured
	// (with a SiteReader store, those whose results this replica stored).
	Unconfigured int
	// RebuiltAt is when the view was last rebuilt from the store (the
	// tracker's creation before the first rebuild).
	RebuiltAt time.Time
}

// Availability is the window of the availability figure.
const Availability = 24 * time.Hour

// publishDelay coalesces the snapshots of a burst of ingests.
const publishDelay = 250 * time.Millisecond

// Tracker builds snapshots. It is safe for concurrent use.
type Tracker struct {
	sites  atomic.Pointer[[]fibremon.Site]
	store  Reader
	stale  time.Duration
	now    func() time.Time
	logger *slog.Logger
	snap   atomic.Pointer[Snapshot]
	// changed asks Run to publish a snapshot of the view; rebuild asks it
	// to rebuild the view from the store. Both hold at most one request.
	changed, rebuild chan struct{}
	// refreshing serialises Refresh.
	refreshing sync.Mutex

	mu    sync.Mutex
	view  view
	built time.Time // when view was last rebuilt from the store
	// pend collects, while Refresh reads the store, what is observed
	// meanwhile, to apply it again over what the store returned; nil when
	// no Refresh runs.
	pend *view

	refreshErrors  prometheus.Counter
	rebuildSeconds prometheus.Gauge
}

// view is what the tracker knows: the newest result per site and kind,
// and availability checks per site started at or after availSince.
type view struct {
	latest     map[string]map[fibremon.Kind]fibremon.Result
	avail      map[string]fibremon.Tally
	availSince time.Time
	// countAvail: avail is being counted (for pend: only once the store's
	// count has begun).
	countAvail bool
}

func newView() view {
	return view{latest: map[string]map[fibremon.Kind]fibremon.Result{}, avail: map[string]fibremon.Tally{}}
}

// note merges r into v's newest results.
func (v *view) note(r fibremon.Result) {
	m := v.latest[r.SiteID]
	if m == nil {
		m = make(map[fibremon.Kind]fibremon.Result)
		v.latest[r.SiteID] = m
	}
	if old, ok := m[r.Kind]; !ok || newer(r, old) {
		m[r.Kind] = r
	}
}

// count adds r to v's availability tallies if it is an availability
// check within the window.
func (v *view) count(r fibremon.Result) {
	if !v.countAvail || !r.Kind.Availability() || r.Start.Before(v.availSince) {
		return
	}
	t := v.avail[r.SiteID]
	t.Total++
	if r.Up {
		t.Up++
	}
	v.avail[r.SiteID] = t
}

// newer orders results by start, ties by ID, as the stores do.
func newer(a, b fibremon.Result) bool {
	if !a.Start.Equal(b.Start) {
		return a.Start.After(b.Start)
	}
	return a.ID > b.ID
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
		logger:  logger.With("component", "status"),
		changed: make(chan struct{}, 1),
		rebuild: make(chan struct{}, 1),
		view:    newView(),
		refreshErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "fibremon_status_refresh_errors_total",
			Help: "Failed rebuilds of the site status snapshot from the store.",
		}),
		rebuildSeconds: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "fibremon_status_rebuild_duration_seconds",
			Help: "How long the last rebuild of the site status from the store took; the next waits at least ten times as long.",
		}),
	}
	t.sites.Store(&sites)
	now := opts.Now()
	t.built = now
	t.view.availSince, t.view.countAvail = now.Add(-Availability), true
	t.snap.Store(t.build(now))
	reg.MustRegister(t.refreshErrors, t.rebuildSeconds, &collector{t: t})
	return t
}

// Snapshot returns the current snapshot. Callers must not modify it.
func (t *Tracker) Snapshot() *Snapshot { return t.snap.Load() }

// Sites returns the configured sites.
func (t *Tracker) Sites() []fibremon.Site { return *t.sites.Load() }

// SetSites replaces the configured sites (a reloaded data set) and asks
// Run for a rebuild.
func (t *Tracker) SetSites(sites []fibremon.Site) {
	t.sites.Store(&sites)
	signal(t.rebuild)
}

// Observe tells the tracker that rs have just been stored, stored of them
// new (the rest duplicates). It merges them into the view without reading
// the store, and asks Run to publish a snapshot soon; it never blocks on
// the store. The results are not modified; the tracker keeps them.
func (t *Tracker) Observe(rs []fibremon.Result, stored int) {
	if len(rs) == 0 {
		return
	}
	t.mu.Lock()
	for i := range rs {
		t.view.note(rs[i])
		if t.pend != nil {
			t.pend.note(rs[i])
		}
	}
	// A batch with duplicates may have been counted when first stored:
	// its new results wait for the next rebuild.
	if stored == len(rs) {
		for i := range rs {
			t.view.count(rs[i])
			if t.pend != nil {
				t.pend.count(rs[i])
			}
		}
	}
	t.mu.Unlock()
	signal(t.changed)
}

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// Refresh rebuilds the view from the store and publishes a new snapshot.
// Results observed while it reads are applied again over what it read.
// On error the view is left as it was.
func (t *Tracker) Refresh(ctx context.Context) error {
	t.refreshing.Lock()
	defer t.refreshing.Unlock()
	now := t.now()
	since := now.Add(-Availability)
	pend := newView()
	pend.availSince = since
	t.mu.Lock()
	t.pend = &pend
	t.mu.Unlock()
	fail := func(err error) error {
		t.mu.Lock()
		t.pend = nil
		t.mu.Unlock()
		t.refreshErrors.Inc()
		return err
	}
	sr, bySite := t.store.(SiteReader)
	var ids []string
	if bySite {
		ids = make([]string, 0, len(t.Sites()))
		for _, site := range t.Sites() {
			ids = append(ids, site.ID)
		}
	}
	var latest map[string][]fibremon.Result
	var err error
	if bySite {
		latest, err = sr.LatestOf(ctx, ids)
	} else {
		latest, err = t.store.Latest(ctx)
	}
	if err != nil {
		return fail(err)
	}
	// From here on an observed result may be written after the count
	// below has read the store: count it over the store's figure.
	// (One written and observed between this point and the moment the
	// store's count reads its data is counted twice, until the next
	// rebuild.)
	t.mu.Lock()
	t.pend.countAvail = true
	t.mu.Unlock()
	var avail map[string]fibremon.Tally
	if bySite {
		avail, err = sr.AvailabilityOf(ctx, since, ids)
	} else {
		avail, err = t.store.Availability(ctx, since)
	}
	if err != nil {
		return fail(err)
	}
	v := newView()
	v.availSince, v.countAvail = since, true
	for _, rs := range latest {
		for _, r := range rs {
			v.note(r)
		}
	}
	for site, tally := range avail {
		v.avail[site] = tally
	}
	t.mu.Lock()
	for _, m := range t.pend.latest {
		for _, r := range m {
			v.note(r)
		}
	}
	for site, tally := range t.pend.avail {
		x := v.avail[site]
		x.Up += tally.Up
		x.Total += tally.Total
		v.avail[site] = x
	}
	t.view, t.pend, t.built = v, nil, now
	snap := t.buildLocked(t.now())
	t.mu.Unlock()
	t.snap.Store(snap)
	return nil
}

// publish builds a snapshot of the view as it is and publishes it.
func (t *Tracker) publish() {
	t.mu.Lock()
	snap := t.buildLocked(t.now())
	t.mu.Unlock()
	t.snap.Store(snap)
}

// rebuildShare bounds the share of the time the tracker spends
// rebuilding from the store: after a rebuild that took d, the next starts
// no sooner than d / rebuildShare after it started.
const rebuildShare = 0.1

// Run rebuilds the view from the store every interval (and soon after
// SetSites), and publishes what Observe merged at most every 250 ms,
// until ctx is done. A slow rebuild (a store with a long history, or with
// many series: InfluxDB 1.8 takes about a millisecond a series) does not
// hold back the publishing of observed results, and spaces the next
// rebuilds out so that rebuilding takes at most a tenth of the time
// (rebuildShare).
//
// Liveness: Run is owned by the caller's errgroup and returns when ctx is
// done, after its publisher goroutine, which it owns, has returned.
func (t *Tracker) Run(ctx context.Context, interval time.Duration) error {
	published := make(chan struct{})
	go func() {
		defer close(published)
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.changed:
			}
			// coalesce bursts of ingests
			select {
			case <-ctx.Done():
				return
			case <-time.After(publishDelay):
			}
			t.publish()
		}
	}()
	defer func() { <-published }()
	for {
		start := time.Now()
		if err := t.Refresh(ctx); err != nil && ctx.Err() == nil {
			t.logger.Warn("status refresh failed", "err", err)
		}
		took := time.Since(start)
		t.rebuildSeconds.Set(took.Seconds())
		wait := max(interval, time.Duration(float64(took)/rebuildShare)) - took
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil
		case <-timer.C:
		case <-t.rebuild:
			timer.Stop()
		}
	}
}

// build builds a snapshot of the view; it takes t.mu.
func (t *Tracker) build(now time.Time) *Snapshot {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.buildLocked(now)
}

// buildLocked builds a snapshot of the view; t.mu is held.
func (t *Tracker) buildLocked(now time.Time) *Snapshot {
	sites := t.Sites()
	s := &Snapshot{At: now, RebuiltAt: t.built, Sites: make([]fibremon.SiteStatus, 0, len(sites))}
	known := make(map[string]bool, len(sites))
	for _, site := range sites {
		known[site.ID] = true
		m := t.view.latest[site.ID]
		rs := make([]fibremon.Result, 0, len(m))
		var lastSeen time.Time
		for _, r := range m {
			rs = append(rs, r)
			end := r.Start.Add(time.Duration(r.DurationSeconds * float64(time.Second)))
			if end.After(lastSeen) {
				lastSeen = end
			}
		}
		fibremon.SortLatest(rs)
		var avail *float64
		if a, ok := t.view.avail[site.ID]; ok {
			avail = a.Ratio()
		}
		s.Sites = append(s.Sites, fibremon.SiteStatus{
			Site:            site,
			State:           fibremon.SiteState(rs, lastSeen, now, t.stale),
			LastSeen:        lastSeen,
			Latest:          rs,
			Availability24h: avail,
		})
	}
	for id := range t.view.latest {
		if !known[id] {
			s.Unconfigured++
		}
	}
	return s
}

// Statuses returns the current snapshot's sites. Callers must not modify it.
func (t *Tracker) Statuses() []fibremon.SiteStatus { return t.Snapshot().Sites }
