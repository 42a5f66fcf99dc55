package influx

import (
	"context"
	"maps"
	"sync"
	"time"

	"fibremon"
)

// Latest reads only recent data, plus the whole history now and then.
const (
	// latestWindow is how far back Latest reads on most calls.
	latestWindow = 2 * time.Hour
	// latestRescan is how often Latest reads the whole history.
	latestRescan = time.Hour
)

// series identifies a series of ours.
type series struct{ site, probe, kind string }

// latestCache holds the newest result of every series seen so far.
type latestCache struct {
	window, rescan time.Duration // latestWindow, latestRescan; tests shorten them

	mu       sync.Mutex
	newest   map[series]fibremon.Result
	rescanAt time.Time // when the whole history was last read; zero: never
}

// note records r as its series' newest result if it is newer; c.mu is held.
func (c *latestCache) note(r fibremon.Result) {
	k := series{r.SiteID, r.Probe, string(r.Kind)}
	if old, ok := c.newest[k]; !ok || newer(r, old) {
		c.newest[k] = r
	}
}

// wrote tells the cache about results this store has just written, so a
// result older than latestWindow (a probe's backlog) is seen at once.
func (c *latestCache) wrote(rs []fibremon.Result) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.rescanAt.IsZero() {
		return // not loaded: the first Latest reads everything
	}
	for _, r := range rs {
		r.Values = maps.Clone(r.Values)
		c.note(r)
	}
}

// Latest returns, per site, the newest result of each kind (by start, not
// by order of writing). Errors are Transient.
//
// Flux: the last value of every field of every series, pivoted into rows.
// The row at a series' newest timestamp holds exactly the fields of its
// newest point; rows at older timestamps hold the last values of fields
// the newest point lacks (a failed download has no speed) and are
// dropped. Of a site's series of one kind (one per probe), the newest
// wins.
//
// Cost: InfluxDB 1.8 reads every point in the range for last(), so reading
// the whole history on every call (the status tracker calls after every
// ingest, up to four times a second) would grow with the retention. The
// store reads the whole history on its first call and then once every
// latestRescan, and otherwise only the last latestWindow, merged into the
// newest results it remembers per series (with those it writes itself).
// What this can miss, until the next full read: a result written by
// another replica that is older than latestWindow yet newer than every
// other result of its series (a backlog of old results from a probe that
// has sent nothing newer) — at most latestRescan late.
func (s *Store) Latest(ctx context.Context) (map[string][]fibremon.Result, error) {
	c := &s.latest
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	start := now.Add(-c.window)
	full := c.rescanAt.IsZero() || now.Sub(c.rescanAt) >= c.rescan
	if full {
		start = time.Unix(0, 0)
	}
	flux := s.fromResults(start, stop()) + `
  |> last()` + pivot
	found := make(map[series]fibremon.Result)
	err := s.each(ctx, "latest", flux, func(r fibremon.Result, _ time.Time) {
		k := series{r.SiteID, r.Probe, string(r.Kind)}
		if old, ok := found[k]; !ok || newer(r, old) {
			found[k] = r
		}
	})
	if err != nil {
		return nil, err
	}
	if full {
		// A full read replaces what is remembered: results may have
		// expired (retention) or been deleted.
		c.newest, c.rescanAt = found, now
	} else {
		for _, r := range found {
			c.note(r)
		}
	}
	newest := make(map[[2]string]fibremon.Result)
	for _, r := range c.newest {
		key := [2]string{r.SiteID, string(r.Kind)}
		if old, ok := newest[key]; !ok || newer(r, old) {
			newest[key] = r
		}
	}
	out := make(map[string][]fibremon.Result)
	for key, r := range newest {
		r.Values = maps.Clone(r.Values) // callers may not change the cache
		out[key[0]] = append(out[key[0]], r)
	}
	for _, v := range out {
		fibremon.SortLatest(v)
	}
	return out, nil
}
