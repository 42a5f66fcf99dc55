package sqlite_test

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"fibremon"
	"fibremon/internal/sqlite"
	"fibremon/internal/testing/storetest"
)

func mustOpen(t *testing.T, path string) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

var kinds = []fibremon.Kind{fibremon.KindLatency, fibremon.KindHTTP, fibremon.KindDownload,
	fibremon.KindTCP, fibremon.KindDNS, fibremon.KindUpload}

// TestGroupCommit has many writers at once — so their batches share
// transactions — send fresh batches, send some again (duplicates across
// batches) and send batches that fail in the store. Every fresh batch must
// be stored whole and counted, every repeat counted as duplicates, every
// failing batch refused alone with none of its results stored, and the
// summaries behind Latest and Availability must match the stored results.
func TestGroupCommit(t *testing.T) {
	s := mustOpen(t, filepath.Join(t.TempDir(), "fibremon.db"))
	now := time.Now().UTC().Truncate(time.Microsecond)
	const writers, batches, size = 16, 15, 20
	var (
		mu   sync.Mutex
		good []fibremon.Result
	)
	var wg sync.WaitGroup
	errs := make(chan error, writers*batches*3)
	for w := range writers {
		wg.Go(func() {
			site := fmt.Sprintf("site-%02d", w)
			for b := range batches {
				batch := make([]fibremon.Result, size)
				for i := range batch {
					start := now.Add(-time.Duration((b*size+i)*7+w) * time.Second)
					batch[i] = storetest.Result(site, kinds[(b+i)%len(kinds)], start, (i+w)%5 != 0)
				}
				if b%5 == 4 {
					// A value that cannot be stored fails this batch in the
					// store; none of it may be written.
					batch[size/2].Up, batch[size/2].Error = true, ""
					batch[size/2].Values = map[string]float64{fibremon.LossRatio: math.NaN()}
					if n, err := s.WriteResults(context.Background(), batch); err == nil || fibremon.KindOf(err) != fibremon.Invalid {
						errs <- fmt.Errorf("failing batch: WriteResults = %d, %v; want an Invalid error", n, err)
					}
					continue
				}
				if n, err := s.WriteResults(context.Background(), batch); err != nil || n != size {
					errs <- fmt.Errorf("fresh batch: WriteResults = %d, %v; want %d, nil", n, err, size)
					continue
				}
				mu.Lock()
				good = append(good, batch...)
				mu.Unlock()
				if b%3 == 0 {
					if n, err := s.WriteResults(context.Background(), batch); err != nil || n != 0 {
						errs <- fmt.Errorf("batch sent again: WriteResults = %d, %v; want 0, nil", n, err)
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	n, err := s.Count(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if n != len(good) {
		t.Fatalf("Count = %d; want %d (the fresh batches, once)", n, len(good))
	}
	checkSummaries(t, s, good, now)
}

// checkSummaries compares Latest and Availability with what the stored
// results rs say.
func checkSummaries(t *testing.T, s *sqlite.Store, rs []fibremon.Result, now time.Time) {
	t.Helper()
	want := map[string]map[fibremon.Kind]fibremon.Result{}
	tally := map[string]fibremon.Tally{}
	since := now.Add(-24 * time.Hour)
	for _, r := range rs {
		if want[r.SiteID] == nil {
			want[r.SiteID] = map[fibremon.Kind]fibremon.Result{}
		}
		if cur, ok := want[r.SiteID][r.Kind]; !ok || r.Start.After(cur.Start) {
			want[r.SiteID][r.Kind] = r
		}
		if r.Kind.Availability() && !r.Start.Before(since) {
			t := tally[r.SiteID]
			t.Total++
			if r.Up {
				t.Up++
			}
			tally[r.SiteID] = t
		}
	}
	latest, err := s.Latest(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(latest) != len(want) {
		t.Errorf("Latest has %d sites; want %d", len(latest), len(want))
	}
	for site, byKind := range want {
		got := latest[site]
		if len(got) != len(byKind) {
			t.Errorf("Latest[%s] has %d results; want %d", site, len(got), len(byKind))
			continue
		}
		for _, g := range got {
			if w := byKind[g.Kind]; g.ID != w.ID || !g.Start.Equal(w.Start) {
				t.Errorf("Latest[%s][%s] = %s at %v; want %s at %v", site, g.Kind, g.ID, g.Start, w.ID, w.Start)
			}
		}
	}
	avail, err := s.Availability(t.Context(), since)
	if err != nil {
		t.Fatal(err)
	}
	if len(avail) != len(tally) {
		t.Errorf("Availability has %d sites; want %d", len(avail), len(tally))
	}
	for site, w := range tally {
		if avail[site] != w {
			t.Errorf("Availability[%s] = %+v; want %+v", site, avail[site], w)
		}
	}
}

// TestAvailabilityMinuteEdges counts results started in since's own minute
// exactly: those before since are out, since itself is in.
func TestAvailabilityMinuteEdges(t *testing.T) {
	s := mustOpen(t, filepath.Join(t.TempDir(), "fibremon.db"))
	minute := time.Now().UTC().Add(-time.Hour).Truncate(time.Minute)
	since := minute.Add(30 * time.Second)
	var rs []fibremon.Result
	for _, c := range []struct {
		at time.Duration
		up bool
	}{
		{-5 * time.Second, true},   // previous minute: out
		{10 * time.Second, true},   // since's minute, before since: out
		{30 * time.Second, false},  // since itself: in
		{50 * time.Second, true},   // in
		{65 * time.Second, true},   // next minute: in
		{3 * time.Minute, false},   // in
		{30*time.Second - 1, true}, // a nanosecond before since: out
	} {
		rs = append(rs, storetest.Result("ripalta-nuova", fibremon.KindHTTP, minute.Add(c.at), c.up))
	}
	rs = append(rs, storetest.Result("ripalta-nuova", fibremon.KindDownload, minute.Add(40*time.Second), true)) // not availability
	if _, err := s.WriteResults(t.Context(), rs); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		since time.Time
		want  fibremon.Tally
	}{
		{since, fibremon.Tally{Up: 2, Total: 4}},
		{minute, fibremon.Tally{Up: 4, Total: 6}},
		{minute.Add(-time.Minute), fibremon.Tally{Up: 5, Total: 7}},
		{minute.Add(4 * time.Minute), fibremon.Tally{}},
	} {
		got, err := s.Availability(t.Context(), c.since)
		if err != nil {
			t.Fatal(err)
		}
		if got["ripalta-nuova"] != c.want {
			t.Errorf("Availability(%v) = %+v; want %+v", c.since, got["ripalta-nuova"], c.want)
		}
	}
}

// TestLatestAfterReopen: Latest comes from the table written with the
// results, so it survives a restart, and a result older than the newest
// does not replace it.
func TestLatestAfterReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fibremon.db")
	now := time.Now().UTC().Truncate(time.Microsecond)
	s, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	newest := storetest.Result("bolzone", fibremon.KindDownload, now.Add(-time.Minute), true)
	if _, err := s.WriteResults(t.Context(), []fibremon.Result{newest}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = mustOpen(t, path)
	older := storetest.Result("bolzone", fibremon.KindDownload, now.Add(-time.Hour), true)
	if _, err := s.WriteResults(t.Context(), []fibremon.Result{older}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Latest(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(got["bolzone"]) != 1 || got["bolzone"][0].ID != newest.ID || got["bolzone"][0].Values[fibremon.DownloadBytesPerSecond] != 12.5e6 {
		t.Fatalf("Latest after reopen = %+v; want the newest result %s with its values", got["bolzone"], newest.ID)
	}
}

// TestUpgradeFromVersion1 opens a database written by the first schema:
// the summaries are built from the results already there.
func TestUpgradeFromVersion1(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fibremon.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TABLE results (
		id TEXT PRIMARY KEY, site_id TEXT NOT NULL, probe TEXT NOT NULL, kind TEXT NOT NULL,
		method TEXT NOT NULL DEFAULT '', target TEXT NOT NULL DEFAULT '', start_ns INTEGER NOT NULL,
		duration_seconds REAL NOT NULL, up INTEGER NOT NULL, vals TEXT NOT NULL DEFAULT '{}',
		error TEXT NOT NULL DEFAULT '', received_ns INTEGER NOT NULL) STRICT;
		CREATE INDEX results_site_kind_start ON results (site_id, kind, start_ns);
		CREATE INDEX results_start ON results (start_ns);
		CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;
		INSERT INTO meta (key, value) VALUES ('schema_version', '1');`); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	var rs []fibremon.Result
	for i := range 30 {
		rs = append(rs, storetest.Result(fmt.Sprintf("site-%d", i%3), kinds[i%len(kinds)], now.Add(-time.Duration(i)*47*time.Minute), i%4 != 0))
	}
	for _, r := range rs {
		vals := "{}"
		if r.Values != nil && len(r.Values) > 0 {
			vals = fmt.Sprintf(`{"%s":%g}`, fibremon.LossRatio, 0.0)
			r.Values = map[string]float64{fibremon.LossRatio: 0}
		}
		if _, err := db.Exec(`INSERT INTO results (id, site_id, probe, kind, method, target, start_ns,
			duration_seconds, up, vals, error, received_ns) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			r.ID, r.SiteID, r.Probe, string(r.Kind), r.Method, r.Target, r.Start.UnixNano(), r.DurationSeconds,
			r.Up, vals, r.Error, now.UnixNano()); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	s := mustOpen(t, path)
	checkSummaries(t, s, rs, now)
	more := storetest.Result("site-1", fibremon.KindLatency, now, true)
	if _, err := s.WriteResults(t.Context(), []fibremon.Result{more}); err != nil {
		t.Fatal(err)
	}
	checkSummaries(t, s, append(rs, more), now)
}

// TestWriteAfterCancelOrClose: a write whose context is done before it is
// taken, or on a closed store, is refused as Transient and writes nothing.
func TestWriteAfterCancelOrClose(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fibremon.db")
	s, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	r := storetest.Result("zappello", fibremon.KindTCP, time.Now(), true)
	if n, err := s.WriteResults(ctx, []fibremon.Result{r}); fibremon.KindOf(err) != fibremon.Transient {
		t.Errorf("WriteResults(cancelled ctx) = %d, %v; want a Transient error", n, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if n, err := s.WriteResults(t.Context(), []fibremon.Result{r}); fibremon.KindOf(err) != fibremon.Transient {
		t.Errorf("WriteResults(closed store) = %d, %v; want a Transient error", n, err)
	}
	s = mustOpen(t, path)
	if n, err := s.Count(t.Context()); err != nil || n != 0 {
		t.Errorf("Count = %d, %v; want 0", n, err)
	}
}
