package influx

import (
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/influxdata/influxdb-client-go/v2/api/query"

	"fibremon"
)

// Latest reads only recent data, plus the whole history now and then.
// The status tracker calls it every refresh interval (15 s by default);
// what its own replica writes it learns without reading, so the window
// is there for other replicas' writes, which carry recent starts but for
// a probe's backlog.
const (
	// latestWindow is how far back Latest reads on most calls.
	latestWindow = 15 * time.Minute
	// latestRescan is how often Latest reads the whole history, whose
	// cost grows with it (about 2.5 s of InfluxDB 1.8's time per million
	// points on a 2-core machine).
	latestRescan = 6 * time.Hour
)

// series identifies a series of ours.
type series struct{ site, probe, kind string }

// latestCache holds the newest result of every series seen so far.
type latestCache struct {
	window, rescan time.Duration // latestWindow, latestRescan; tests shorten them

	// reads lets one Latest read InfluxDB at a time. Writes never wait
	// for a read: mu is held only to merge.
	reads sync.Mutex

	mu       sync.Mutex
	newest   map[series]fibremon.Result
	rescanAt time.Time // when the whole history was last read; zero: never
	// sites are the sites newest holds (sorted, joined by commas; "*":
	// all); a read for other sites is a full read.
	sites string
	// during holds what was written while a read is in flight, to merge
	// over what the read returns; nil when no read is.
	during map[series]fibremon.Result
}

// holds reports whether newest holds site's series; c.mu is held.
func (c *latestCache) holds(site string) bool {
	if c.sites == "*" {
		return true
	}
	for s := range strings.SplitSeq(c.sites, ",") {
		if s == site {
			return true
		}
	}
	return false
}

// siteSet is the set of sites; nil for nil (every site).
func siteSet(sites []string) map[string]bool {
	if sites == nil {
		return nil
	}
	m := make(map[string]bool, len(sites))
	for _, s := range sites {
		m[s] = true
	}
	return m
}

// note records r in m as its series' newest result if it is newer.
func note(m map[series]fibremon.Result, r fibremon.Result) {
	k := series{r.SiteID, r.Probe, string(r.Kind)}
	if old, ok := m[k]; !ok || newer(r, old) {
		m[k] = r
	}
}

// wrote tells the cache about results this store has just written, so a
// result older than latestWindow (a probe's backlog) is seen at once. Only
// the newest result of each series in rs is looked at (and copied).
func (c *latestCache) wrote(rs []fibremon.Result) {
	newest := make(map[series]int)
	for i := range rs {
		k := series{rs[i].SiteID, rs[i].Probe, string(rs[i].Kind)}
		if j, ok := newest[k]; !ok || newer(rs[i], rs[j]) {
			newest[k] = i
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, i := range newest {
		r := rs[i]
		old, ok := c.newest[k]
		toNewest := !c.rescanAt.IsZero() && (!ok || newer(r, old)) && c.holds(r.SiteID)
		old, ok = c.during[k]
		toDuring := c.during != nil && (!ok || newer(r, old))
		if !toNewest && !toDuring {
			continue
		}
		r.Values = maps.Clone(r.Values)
		if toNewest {
			c.newest[k] = r
		}
		if toDuring {
			c.during[k] = r
		}
	}
}

// latestTail is how many of each series' newest points Latest reads.
const latestTail = 4

// maxParts bounds the parts (yields) of one Flux query that reads whole
// seconds for Latest.
const maxParts = 32

// Latest returns, per site, the newest result of each kind (by start, not
// by order of writing). Errors are Transient.
//
// InfluxQL (where /query answers, see influxql.go): each series' newest
// latestTail points, read backwards from its end (ORDER BY time DESC
// LIMIT, grouped by every tag). Else Flux: the newest latestTail values
// of every field of every series, pivoted into rows; the rows holding a
// result_id are whole points (see Results). A point's timestamp orders it by start except within its
// second, so of a series the newest result is the one starting last in
// the second of its newest point. When all latestTail points read are of
// that second (a series with more results in one second), the second is
// read again whole. Of a site's series of one kind (one per probe), the
// newest wins.
//
// Cost: with Flux, InfluxDB 1.8 reads every point in the range for
// tail(); with InfluxQL the cost grows with the series and the shards in
// the range. Either way reading the whole history on every call would
// grow with the retention.
// The store reads the whole history on its first call and then once
// every latestRescan, and otherwise only the last latestWindow, merged
// into the newest results it remembers per series (with those it writes
// itself). What this can miss, until the next full read: a result
// written by another replica that is older than latestWindow yet newer
// than every other result of its series (a backlog of old results from a
// probe that has sent nothing newer) — at most latestRescan late.
func (s *Store) Latest(ctx context.Context) (map[string][]fibremon.Result, error) {
	return s.LatestOf(ctx, nil)
}

// LatestOf is Latest for the given sites only (nil: every site), which
// InfluxDB finds in its index: the status tracker asks for the configured
// sites, and the cost of the read does not grow with the results of
// others.
func (s *Store) LatestOf(ctx context.Context, sites []string) (map[string][]fibremon.Result, error) {
	if sites != nil && len(sites) == 0 {
		return map[string][]fibremon.Result{}, nil
	}
	key := "*"
	if sites != nil {
		sorted := slices.Clone(sites)
		slices.Sort(sorted)
		key = strings.Join(sorted, ",")
	}
	c := &s.latest
	c.reads.Lock()
	defer c.reads.Unlock()
	c.mu.Lock()
	now := time.Now()
	start := now.Add(-c.window)
	full := c.rescanAt.IsZero() || now.Sub(c.rescanAt) >= c.rescan || c.sites != key
	if full {
		start = time.Unix(0, 0)
	}
	c.during = make(map[series]fibremon.Result)
	c.mu.Unlock()
	found, err := s.newest(ctx, start, sites)
	c.mu.Lock()
	defer c.mu.Unlock()
	during := c.during
	c.during = nil
	if err != nil {
		return nil, err
	}
	if full {
		// A full read replaces what is remembered: results may have
		// expired (retention) or been deleted.
		c.newest, c.rescanAt, c.sites = found, now, key
	} else {
		for _, r := range found {
			note(c.newest, r)
		}
	}
	want := siteSet(sites)
	for _, r := range during {
		if want == nil || want[r.SiteID] {
			note(c.newest, r)
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

// newest returns the newest result (by start) of every series with a
// point at or after start.
func (s *Store) newest(ctx context.Context, start time.Time, sites []string) (map[series]fibremon.Result, error) {
	type row struct {
		r  fibremon.Result
		ts int64 // the point's timestamp
	}
	tails := make(map[series][]row)
	add := func(r fibremon.Result, ts int64) {
		k := series{r.SiteID, r.Probe, string(r.Kind)}
		tails[k] = append(tails[k], row{r, ts})
	}
	var err error
	if s.useQL {
		q := fmt.Sprintf(`SELECT * FROM %q WHERE time >= %s AND time < %s%s GROUP BY * ORDER BY time DESC LIMIT %d`,
			Measurement, qlTime(start), qlTime(stop()), qlSites(sites), latestTail)
		err = s.influxQL(ctx, "latest", q, func(x qlRow) {
			if r, ts, ok := qlDecode(x); ok {
				add(r, ts)
			}
		})
	} else {
		flux := s.fromResults(start, stop()) + fluxSites(sites) + fmt.Sprintf("\n  |> tail(n: %d)", latestTail) + pivot
		err = s.each(ctx, "latest", flux, func(r fibremon.Result, rec *query.FluxRecord) {
			add(r, rec.Time().UnixNano())
		})
	}
	if err != nil {
		return nil, transient(err)
	}
	found := make(map[series]fibremon.Result, len(tails))
	again := make(map[int64]map[series]bool) // seconds to read whole, and for which series
	for k, rows := range tails {
		sec, oldest := int64(math.MinInt64), int64(math.MaxInt64)
		for _, x := range rows {
			sec, oldest = max(sec, floorSecond(x.ts)), min(oldest, floorSecond(x.ts))
		}
		if len(rows) >= latestTail && oldest == sec {
			if again[sec] == nil {
				again[sec] = make(map[series]bool)
			}
			again[sec][k] = true
			continue
		}
		for _, x := range rows {
			if floorSecond(x.ts) != sec {
				continue
			}
			if old, ok := found[k]; !ok || newer(x.r, old) {
				found[k] = x.r
			}
		}
	}
	if err := s.wholeSeconds(ctx, again, found, sites); err != nil {
		return nil, err
	}
	return found, nil
}

// wholeSeconds reads the seconds of again whole and notes in found the
// newest result of each series named for its second.
func (s *Store) wholeSeconds(ctx context.Context, again map[int64]map[series]bool, found map[series]fibremon.Result, sites []string) error {
	note := func(r fibremon.Result, ts int64) {
		k := series{r.SiteID, r.Probe, string(r.Kind)}
		if !again[floorSecond(ts)][k] {
			return
		}
		if old, ok := found[k]; !ok || newer(r, old) {
			found[k] = r
		}
	}
	secs := slices.Sorted(maps.Keys(again))
	for len(secs) > 0 {
		n := min(len(secs), maxParts)
		part := secs[:n]
		secs = secs[n:]
		var err error
		if s.useQL {
			var stmts []string
			for _, sec := range part {
				stmts = append(stmts, fmt.Sprintf(`SELECT * FROM %q WHERE time >= %d AND time < %d%s GROUP BY *`,
					Measurement, sec, sec+second, qlSites(sites)))
			}
			err = s.influxQL(ctx, "latest", strings.Join(stmts, "; "), func(x qlRow) {
				if r, ts, ok := qlDecode(x); ok {
					note(r, ts)
				}
			})
		} else {
			var flux strings.Builder
			for i, sec := range part {
				flux.WriteString(s.fromResults(time.Unix(0, sec), time.Unix(0, sec+second)) + fluxSites(sites) + pivot)
				fmt.Fprintf(&flux, "\n  |> yield(name: \"%d\")\n", i)
			}
			err = s.each(ctx, "latest", flux.String(), func(r fibremon.Result, rec *query.FluxRecord) {
				note(r, rec.Time().UnixNano())
			})
		}
		if err != nil {
			return transient(err)
		}
	}
	return nil
}

// qlSites is an InfluxQL condition selecting the sites (nil: none, all
// sites), to follow a WHERE clause.
func qlSites(sites []string) string {
	if sites == nil {
		return ""
	}
	parts := make([]string, len(sites))
	for i, site := range sites {
		parts[i] = fmt.Sprintf("%q = %s", TagSiteID, qlString(site))
	}
	return " AND (" + strings.Join(parts, " OR ") + ")"
}

// fluxSites is a Flux filter selecting the sites (nil: none, all sites).
func fluxSites(sites []string) string {
	if sites == nil {
		return ""
	}
	return "\n  |> filter(fn: (r) => " + anyOf(TagSiteID, sites) + ")"
}
