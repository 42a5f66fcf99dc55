package status_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"fibremon"
	"fibremon/internal/sqlite"
	"fibremon/internal/status"
	"fibremon/internal/testing/storetest"
)

func TestTrackerStatesAndMetrics(t *testing.T) {
	store, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	now := time.Now().UTC()
	sites := []fibremon.Site{
		{ID: "up-site", Name: "Up", Kind: fibremon.SiteSchool, Technology: fibremon.FTTH, ContractDownloadBytesPerSecond: 125e6, Comune: "ripalta-cremasca"},
		{ID: "down-site", Name: "Down", Kind: fibremon.SiteBusiness, Technology: fibremon.ADSL, Comune: "ripalta-cremasca"},
		{ID: "silent-site", Name: "Silent", Kind: fibremon.SiteOther, Technology: fibremon.FWA, Comune: "crema"},
		{ID: "new-site", Name: "New", Kind: fibremon.SiteTownHall, Technology: fibremon.FTTC, Comune: "crema"},
	}
	batch := []fibremon.Result{
		storetest.Result("up-site", fibremon.KindLatency, now.Add(-30*time.Second), true),
		storetest.Result("up-site", fibremon.KindHTTP, now.Add(-2*time.Minute), false), // older round
		storetest.Result("up-site", fibremon.KindDownload, now.Add(-time.Minute), true),
		storetest.Result("down-site", fibremon.KindHTTP, now.Add(-20*time.Second), false),
		storetest.Result("down-site", fibremon.KindTCP, now.Add(-21*time.Second), false),
		storetest.Result("silent-site", fibremon.KindHTTP, now.Add(-time.Hour), true),
		storetest.Result("stranger", fibremon.KindHTTP, now.Add(-time.Minute), true),
	}
	if _, err := store.WriteResults(t.Context(), batch); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewPedanticRegistry()
	tr := status.New(slog.New(slog.DiscardHandler), reg, sites, store, status.Options{Stale: 10 * time.Minute, Now: func() time.Time { return now }})
	if got := tr.Snapshot().Sites[0].State; got != fibremon.StateUnknown {
		t.Fatalf("before refresh: state %s; want unknown", got)
	}
	if err := tr.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	snap := tr.Snapshot()
	want := map[string]fibremon.State{"up-site": fibremon.StateUp, "down-site": fibremon.StateDown,
		"silent-site": fibremon.StateSilent, "new-site": fibremon.StateUnknown}
	for _, s := range snap.Sites {
		if s.State != want[s.ID] {
			t.Errorf("site %s state %s; want %s", s.ID, s.State, want[s.ID])
		}
	}
	if snap.Unconfigured != 1 {
		t.Errorf("Unconfigured = %d; want 1", snap.Unconfigured)
	}
	if a := snap.Sites[0].Availability24h; a == nil || *a != 0.5 {
		t.Errorf("up-site availability %v; want 0.5", a)
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Fatalf("lint: %v %v", problems, err)
	}
	exp := `
# HELP fibremon_site_up 1 when the site's latest availability checks passed, 0 when they failed or the site is silent; absent when unknown.
# TYPE fibremon_site_up gauge
fibremon_site_up{comune="ripalta-cremasca",site_id="down-site"} 0
fibremon_site_up{comune="crema",site_id="silent-site"} 0
fibremon_site_up{comune="ripalta-cremasca",site_id="up-site"} 1
# HELP fibremon_site_download_bytes_per_second Download speed measured by the site's newest successful download test.
# TYPE fibremon_site_download_bytes_per_second gauge
fibremon_site_download_bytes_per_second{comune="ripalta-cremasca",site_id="up-site"} 1.25e+07
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(exp), "fibremon_site_up", "fibremon_site_download_bytes_per_second"); err != nil {
		t.Fatal(err)
	}
}

// countingStore is a real store that counts the tracker's reads and can
// run a hook in the middle of one (a write landing while a rebuild
// reads).
type countingStore struct {
	*sqlite.Store
	mu                  sync.Mutex
	latest, avail       int
	duringLatest, again func()
}

func (c *countingStore) Latest(ctx context.Context) (map[string][]fibremon.Result, error) {
	c.mu.Lock()
	c.latest++
	hook := c.duringLatest
	c.duringLatest = nil
	c.mu.Unlock()
	out, err := c.Store.Latest(ctx)
	if hook != nil {
		hook()
	}
	return out, err
}

func (c *countingStore) Availability(ctx context.Context, since time.Time) (map[string]fibremon.Tally, error) {
	c.mu.Lock()
	c.avail++
	c.mu.Unlock()
	return c.Store.Availability(ctx, since)
}

func (c *countingStore) reads() (int, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.latest, c.avail
}

func openStore(t *testing.T) *countingStore {
	t.Helper()
	store, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	return &countingStore{Store: store}
}

func site(s *status.Snapshot, id string) fibremon.SiteStatus {
	for _, x := range s.Sites {
		if x.ID == id {
			return x
		}
	}
	return fibremon.SiteStatus{}
}

// TestObserveReadsNothing: what the API stores reaches the snapshot
// without a read of the store; only the timer's rebuild reads it.
func TestObserveReadsNothing(t *testing.T) {
	store := openStore(t)
	sites := []fibremon.Site{{ID: "municipio", Name: "Municipio"}, {ID: "scuola", Name: "Scuola"}}
	tr := status.New(slog.New(slog.DiscardHandler), prometheus.NewRegistry(), sites, store, status.Options{})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { tr.Run(ctx, time.Hour); close(done) }()
	defer func() { cancel(); <-done }()
	waitFor(t, "the first rebuild", func() bool { l, a := store.reads(); return l == 1 && a == 1 })

	now := time.Now().UTC()
	var last fibremon.Result
	for i := range 50 {
		last = storetest.Result("municipio", fibremon.KindHTTP, now.Add(time.Duration(i-50)*time.Second), i%5 != 0)
		batch := []fibremon.Result{last}
		n, err := store.WriteResults(t.Context(), batch)
		if err != nil {
			t.Fatal(err)
		}
		tr.Observe(batch, n)
	}
	waitFor(t, "the observed results in the snapshot", func() bool {
		s := site(tr.Snapshot(), "municipio")
		return len(s.Latest) == 1 && s.Latest[0].ID == last.ID
	})
	if l, a := store.reads(); l != 1 || a != 1 {
		t.Fatalf("the store was read %d (Latest) and %d (Availability) times; want once each, at start", l, a)
	}
	s := site(tr.Snapshot(), "municipio")
	if s.State != fibremon.StateUp {
		t.Errorf("state %s; want up", s.State)
	}
	if a := s.Availability24h; a == nil || *a != 0.8 {
		t.Errorf("availability %v; want 0.8 (40 of 50 up)", a)
	}
	// A retried batch (all duplicates) changes nothing.
	tr.Observe([]fibremon.Result{last}, 0)
	// A batch with a duplicate is not counted until the rebuild.
	down := storetest.Result("municipio", fibremon.KindHTTP, now, false)
	n, err := store.WriteResults(t.Context(), []fibremon.Result{last, down})
	if err != nil || n != 1 {
		t.Fatalf("WriteResults = %d, %v; want 1 new", n, err)
	}
	tr.Observe([]fibremon.Result{last, down}, n)
	waitFor(t, "the newest result in the snapshot", func() bool {
		return site(tr.Snapshot(), "municipio").State == fibremon.StateDown
	})
	if a := site(tr.Snapshot(), "municipio").Availability24h; a == nil || *a != 0.8 {
		t.Errorf("availability after a batch with a duplicate: %v; want 0.8 until the rebuild", a)
	}
	if err := tr.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	if a := site(tr.Snapshot(), "municipio").Availability24h; a == nil || *a != 40.0/51 {
		t.Errorf("availability after the rebuild: %v; want 40/51", a)
	}
}

// TestRebuildCatchesUp: a replica that did not see a write (another
// replica stored it) shows it after its rebuild; a result observed while
// a rebuild reads the store is not lost when the rebuild's view replaces
// the old one.
func TestRebuildCatchesUp(t *testing.T) {
	store := openStore(t)
	sites := []fibremon.Site{{ID: "municipio", Name: "Municipio"}, {ID: "scuola", Name: "Scuola"}}
	a := status.New(slog.New(slog.DiscardHandler), prometheus.NewRegistry(), sites, store, status.Options{})
	b := status.New(slog.New(slog.DiscardHandler), prometheus.NewRegistry(), sites, store, status.Options{})
	now := time.Now().UTC()
	r := storetest.Result("municipio", fibremon.KindTCP, now.Add(-time.Minute), true)
	n, err := store.WriteResults(t.Context(), []fibremon.Result{r})
	if err != nil {
		t.Fatal(err)
	}
	a.Observe([]fibremon.Result{r}, n) // replica a stored it; b did not see it
	if err := b.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	if s := site(b.Snapshot(), "municipio"); len(s.Latest) != 1 || s.Latest[0].ID != r.ID {
		t.Fatalf("replica b after its rebuild: %+v; want %s", s.Latest, r.ID)
	}
	// A write observed by b while its rebuild reads the store, after the
	// read of the newest results: the rebuild keeps it.
	early := storetest.Result("scuola", fibremon.KindHTTP, now.Add(-time.Minute), true)
	if _, err := store.WriteResults(t.Context(), []fibremon.Result{early}); err != nil {
		t.Fatal(err)
	}
	late := storetest.Result("scuola", fibremon.KindHTTP, now, false)
	store.mu.Lock()
	store.duringLatest = func() {
		n, err := store.WriteResults(context.Background(), []fibremon.Result{late})
		if err != nil {
			t.Error(err)
		}
		b.Observe([]fibremon.Result{late}, n)
	}
	store.mu.Unlock()
	if err := b.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	s := site(b.Snapshot(), "scuola")
	if len(s.Latest) != 1 || s.Latest[0].ID != late.ID {
		t.Fatalf("a result observed during the rebuild: %+v; want %s", s.Latest, late.ID)
	}
	// counted once (by the store's count, which read after the write):
	// 1 of 2 up, not 1 of 3
	if a := s.Availability24h; a == nil || *a != 0.5 {
		t.Errorf("availability %v; want 0.5", a)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waiting a minute for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
