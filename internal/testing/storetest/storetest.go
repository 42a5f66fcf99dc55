// Package storetest is the conformance suite every fibremon result store
// must pass: the embedded SQLite store and the InfluxDB store run the same
// table, so the HTTP layer can rely on one behaviour.
package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"fibremon"
)

// Store is what the HTTP layer, the metrics refresher and the coverage
// builder call on a result store.
type Store interface {
	// WriteResults stores a validated batch. A result is never stored
	// twice: sent again, whole or in part, it is skipped or overwrites
	// itself. It returns how many results were stored that the store did
	// not know to be stored already; the rest are duplicates. A retry
	// through the same store soon after the first write is always counted
	// as duplicates; after a reopen (or through another replica) a store
	// that cannot tell cheaply (InfluxDB, whose writes overwrite without
	// saying so) may count a rewritten result as stored, so duplicates
	// are then a lower bound. A Transient error means the batch is not
	// acknowledged: it may be stored in part (InfluxDB) or not at all
	// (SQLite), and the retry completes it.
	WriteResults(ctx context.Context, rs []fibremon.Result) (int, error)
	// Latest returns, per site, the newest result of each kind.
	Latest(ctx context.Context) (map[string][]fibremon.Result, error)
	// Results returns results matching q, newest first.
	Results(ctx context.Context, q fibremon.Query) ([]fibremon.Result, error)
	// Availability counts availability results per site since a time.
	Availability(ctx context.Context, since time.Time) (map[string]fibremon.Tally, error)
	// Ping reports whether the store can serve requests.
	Ping(ctx context.Context) error
	Close() error
}

// Result returns a valid result for tests, started at start.
func Result(site string, kind fibremon.Kind, start time.Time, up bool) fibremon.Result {
	r := fibremon.Result{
		ID:              uuid.NewString(),
		SiteID:          site,
		Probe:           "probe-" + site,
		Kind:            kind,
		Method:          "test",
		Target:          "127.0.0.1:1",
		Start:           start.UTC(),
		DurationSeconds: 0.25,
		Up:              up,
		Values:          map[string]float64{},
	}
	switch kind {
	case fibremon.KindDownload:
		r.Values[fibremon.DownloadBytesPerSecond] = 12.5e6
		r.Values[fibremon.TransferredBytes] = 125e6
	case fibremon.KindUpload:
		r.Values[fibremon.UploadBytesPerSecond] = 2.5e6
	case fibremon.KindLatency:
		r.Values[fibremon.MinRTTSeconds] = 0.004
		r.Values[fibremon.LossRatio] = 0
	}
	if !up {
		r.Error = "connect: connection refused"
		r.Values = nil
	}
	return r
}

// Run runs the conformance suite. newStore must return an empty store that
// the suite may write to; reopen, if not nil, closes s and opens the same
// storage again (to prove history survives a restart).
func Run(t *testing.T, newStore func(t *testing.T) Store, reopen func(t *testing.T, s Store) Store) {
	now := time.Now().UTC().Truncate(time.Millisecond)

	t.Run("RoundTrip", func(t *testing.T) {
		s := newStore(t)
		want := []fibremon.Result{
			Result("municipio", fibremon.KindDownload, now.Add(-time.Minute), true),
			Result("municipio", fibremon.KindLatency, now.Add(-50*time.Second), false),
		}
		want[0].Values[fibremon.MinRTTSeconds] = 0.0042
		n, err := s.WriteResults(t.Context(), want)
		if err != nil || n != 2 {
			t.Fatalf("WriteResults = %d, %v; want 2, nil", n, err)
		}
		got, err := s.Results(t.Context(), fibremon.Query{SiteID: "municipio", Since: now.Add(-time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		// newest first
		checkEqual(t, got, []fibremon.Result{want[1], want[0]})
	})

	t.Run("IdempotentByID", func(t *testing.T) {
		s := newStore(t)
		batch := []fibremon.Result{
			Result("scuola", fibremon.KindHTTP, now.Add(-3*time.Minute), true),
			Result("scuola", fibremon.KindTCP, now.Add(-2*time.Minute), true),
		}
		if n, err := s.WriteResults(t.Context(), batch); err != nil || n != 2 {
			t.Fatalf("first WriteResults = %d, %v; want 2, nil", n, err)
		}
		more := append(batch[:2:2], Result("scuola", fibremon.KindDNS, now.Add(-time.Minute), true))
		if n, err := s.WriteResults(t.Context(), more); err != nil || n != 1 {
			t.Fatalf("retried WriteResults = %d, %v; want 1 new, nil", n, err)
		}
		got, err := s.Results(t.Context(), fibremon.Query{SiteID: "scuola", Since: now.Add(-time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 3 {
			t.Fatalf("after a duplicate batch: %d results stored; want 3", len(got))
		}
	})

	t.Run("Latest", func(t *testing.T) {
		s := newStore(t)
		old := Result("fonderia", fibremon.KindDownload, now.Add(-2*time.Hour), true)
		newer := Result("fonderia", fibremon.KindDownload, now.Add(-time.Hour), true)
		lat := Result("fonderia", fibremon.KindLatency, now.Add(-90*time.Minute), true)
		other := Result("valserio", fibremon.KindHTTP, now.Add(-time.Minute), false)
		// write out of order: the newest must win, not the last written
		for _, b := range [][]fibremon.Result{{newer}, {old, lat}, {other}} {
			if _, err := s.WriteResults(t.Context(), b); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.Latest(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 {
			t.Fatalf("Latest has %d sites; want 2", len(got))
		}
		checkEqual(t, got["fonderia"], []fibremon.Result{newer, lat})
		checkEqual(t, got["valserio"], []fibremon.Result{other})
	})

	t.Run("QueryFilters", func(t *testing.T) {
		s := newStore(t)
		var batch []fibremon.Result
		for i := range 10 {
			batch = append(batch, Result("zappello", fibremon.KindLatency, now.Add(-time.Duration(10-i)*time.Minute), i%2 == 0))
			batch = append(batch, Result("zappello", fibremon.KindDownload, now.Add(-time.Duration(10-i)*time.Minute), true))
		}
		if _, err := s.WriteResults(t.Context(), batch); err != nil {
			t.Fatal(err)
		}
		got, err := s.Results(t.Context(), fibremon.Query{SiteID: "zappello", Kind: fibremon.KindLatency,
			Since: now.Add(-5*time.Minute - time.Second), Limit: 3})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 3 {
			t.Fatalf("got %d results; want 3 (limit)", len(got))
		}
		for i, r := range got {
			if r.Kind != fibremon.KindLatency {
				t.Errorf("result %d kind %s; want latency", i, r.Kind)
			}
			if i > 0 && r.Start.After(got[i-1].Start) {
				t.Errorf("results not newest first: %v after %v", r.Start, got[i-1].Start)
			}
		}
		if !got[0].Start.Equal(batch[18].Start) {
			t.Errorf("newest latency start %v; want %v", got[0].Start, batch[18].Start)
		}
		all, err := s.Results(t.Context(), fibremon.Query{Since: now.Add(-time.Hour), Until: now.Add(-5*time.Minute - time.Second)})
		if err != nil {
			t.Fatal(err)
		}
		if len(all) != 10 {
			t.Fatalf("Until filter: %d results; want 10", len(all))
		}
	})

	t.Run("TimesBeyondStorage", func(t *testing.T) {
		// Times a store cannot represent (before 1677 or after 2262 in
		// int64 nanoseconds) are clamped, never wrapped around into a
		// wrong answer.
		s := newStore(t)
		var batch []fibremon.Result
		for i := range 5 {
			batch = append(batch, Result("ripalta-nuova", fibremon.KindHTTP, now.Add(-time.Duration(i+1)*time.Minute), true))
		}
		if _, err := s.WriteResults(t.Context(), batch); err != nil {
			t.Fatal(err)
		}
		far := time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)
		y2300 := time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC)
		ancient := time.Date(1, 1, 1, 0, 0, 1, 0, time.UTC)
		y1600 := time.Date(1600, 1, 1, 0, 0, 0, 0, time.UTC)
		for _, tc := range []struct {
			name string
			q    fibremon.Query
			want int
		}{
			{"until 9999", fibremon.Query{Until: far}, 5},
			{"since an hour ago until 9999", fibremon.Query{Since: now.Add(-time.Hour), Until: far}, 5},
			{"since 2300", fibremon.Query{Since: y2300}, 0},
			{"since 2300 until 9999", fibremon.Query{Since: y2300, Until: far}, 0},
			{"since year 1", fibremon.Query{Since: ancient}, 5},
			{"since 1600 until 9999", fibremon.Query{Since: y1600, Until: far}, 5},
			{"until 1600", fibremon.Query{Until: y1600}, 0},
			{"since 1600 until 1601", fibremon.Query{Since: y1600, Until: y1600.AddDate(1, 0, 0)}, 0},
			{"since 1600 until now - 3m30s", fibremon.Query{Since: y1600, Until: now.Add(-3*time.Minute - 30*time.Second)}, 2},
		} {
			got, err := s.Results(t.Context(), tc.q)
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
				continue
			}
			if len(got) != tc.want {
				t.Errorf("%s: %d results; want %d", tc.name, len(got), tc.want)
			}
		}
		for _, tc := range []struct {
			since time.Time
			want  fibremon.Tally
		}{{y2300, fibremon.Tally{}}, {far, fibremon.Tally{}}, {ancient, fibremon.Tally{Up: 5, Total: 5}}, {y1600, fibremon.Tally{Up: 5, Total: 5}}} {
			got, err := s.Availability(t.Context(), tc.since)
			if err != nil {
				t.Errorf("Availability(%v): %v", tc.since, err)
				continue
			}
			if got["ripalta-nuova"] != tc.want {
				t.Errorf("Availability(%v) = %+v; want %+v", tc.since, got["ripalta-nuova"], tc.want)
			}
		}
	})

	t.Run("Availability", func(t *testing.T) {
		s := newStore(t)
		var batch []fibremon.Result
		for i := range 8 {
			batch = append(batch, Result("bolzone", fibremon.KindHTTP, now.Add(-time.Duration(i)*time.Minute), i != 3))
		}
		batch = append(batch, Result("bolzone", fibremon.KindDownload, now.Add(-time.Minute), true))
		batch = append(batch, Result("bolzone", fibremon.KindHTTP, now.Add(-48*time.Hour), false))
		if _, err := s.WriteResults(t.Context(), batch); err != nil {
			t.Fatal(err)
		}
		got, err := s.Availability(t.Context(), now.Add(-24*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if want := (fibremon.Tally{Up: 7, Total: 8}); got["bolzone"] != want {
			t.Fatalf("Availability[bolzone] = %+v; want %+v", got["bolzone"], want)
		}
	})

	t.Run("ConcurrentWriters", func(t *testing.T) {
		s := newStore(t)
		const writers, batches, size = 8, 10, 20
		var wg sync.WaitGroup
		errs := make(chan error, writers)
		for w := range writers {
			wg.Go(func() {
				for b := range batches {
					var batch []fibremon.Result
					for i := range size {
						batch = append(batch, Result(fmt.Sprintf("site-%d", w), fibremon.KindTCP,
							now.Add(-time.Duration(b*size+i)*time.Second), true))
					}
					if _, err := s.WriteResults(context.Background(), batch); err != nil {
						errs <- err
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		got, err := s.Results(t.Context(), fibremon.Query{Since: now.Add(-time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != writers*batches*size {
			t.Fatalf("%d results stored; want %d", len(got), writers*batches*size)
		}
	})

	if reopen != nil {
		// A retry after a restart (or through another replica): stored
		// once whatever the count says, and the count is between the
		// results truly new and the whole batch.
		t.Run("IdempotentAfterReopen", func(t *testing.T) {
			s := newStore(t)
			batch := []fibremon.Result{
				Result("ripalta-nuova", fibremon.KindHTTP, now.Add(-3*time.Minute), true),
				Result("ripalta-nuova", fibremon.KindTCP, now.Add(-2*time.Minute), false),
			}
			if n, err := s.WriteResults(t.Context(), batch); err != nil || n != 2 {
				t.Fatalf("first WriteResults = %d, %v; want 2, nil", n, err)
			}
			s = reopen(t, s)
			more := append(batch[:2:2], Result("ripalta-nuova", fibremon.KindDNS, now.Add(-time.Minute), true))
			if n, err := s.WriteResults(t.Context(), more); err != nil || n < 1 || n > 3 {
				t.Fatalf("retried WriteResults after reopen = %d, %v; want 1 to 3, nil", n, err)
			}
			got, err := s.Results(t.Context(), fibremon.Query{SiteID: "ripalta-nuova", Since: now.Add(-time.Hour)})
			if err != nil {
				t.Fatal(err)
			}
			checkEqual(t, got, []fibremon.Result{more[2], more[1], more[0]})
		})
		t.Run("SurvivesReopen", func(t *testing.T) {
			s := newStore(t)
			batch := []fibremon.Result{Result("san-michele", fibremon.KindUpload, now.Add(-time.Minute), true)}
			if _, err := s.WriteResults(t.Context(), batch); err != nil {
				t.Fatal(err)
			}
			s = reopen(t, s)
			got, err := s.Results(t.Context(), fibremon.Query{SiteID: "san-michele", Since: now.Add(-time.Hour)})
			if err != nil {
				t.Fatal(err)
			}
			checkEqual(t, got, batch)
		})
	}
}

func checkEqual(t *testing.T, got, want []fibremon.Result) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d results; want %d", len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.ID != w.ID || g.SiteID != w.SiteID || g.Probe != w.Probe || g.Kind != w.Kind ||
			g.Method != w.Method || g.Target != w.Target || !g.Start.Equal(w.Start) ||
			g.DurationSeconds != w.DurationSeconds || g.Up != w.Up || g.Error != w.Error ||
			len(g.Values) != len(w.Values) {
			t.Errorf("result %d:\n got %+v\nwant %+v", i, g, w)
			continue
		}
		for k, v := range w.Values {
			if g.Values[k] != v {
				t.Errorf("result %d value %s = %v; want %v", i, k, g.Values[k], v)
			}
		}
	}
}
