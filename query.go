package fibremon

import (
	"math"
	"sort"
	"time"
)

// Query selects stored results. Zero fields do not filter.
type Query struct {
	SiteID string
	Kind   Kind
	Since  time.Time // inclusive
	Until  time.Time // exclusive; zero means now
	Limit  int       // 0 means the store's default
}

// DefaultQueryLimit bounds a query without a limit.
const DefaultQueryLimit = 10000

// MinTime and MaxTime bound the times a store can hold and a query can
// name: both stores keep a time as nanoseconds since 1970 in an int64
// (SQLite's start_ns, InfluxDB's timestamps), which reach from 1677-09-21
// to 2262-04-11. A time outside would wrap around when converted and
// select the wrong results.
var (
	MinTime = time.Unix(0, math.MinInt64).UTC()
	MaxTime = time.Unix(0, math.MaxInt64).UTC()
)

// Validate checks that q names only times a store can hold. It returns an
// Invalid *Error naming "since" or "until".
func (q Query) Validate() error {
	for _, p := range []struct {
		name string
		t    time.Time
	}{{"since", q.Since}, {"until", q.Until}} {
		if !p.t.IsZero() && (p.t.Before(MinTime) || p.t.After(MaxTime)) {
			return FieldErrorf(p.name, "%s is outside the times a store holds, %s to %s",
				p.t.Format(time.RFC3339Nano), MinTime.Format(time.RFC3339Nano), MaxTime.Format(time.RFC3339Nano))
		}
	}
	if q.Limit < 0 || q.Limit > DefaultQueryLimit {
		return FieldErrorf("limit", "%d: want [1, %d], or 0 for the default", q.Limit, DefaultQueryLimit)
	}
	return nil
}

// NanoRange is q's time range as nanoseconds since 1970, clamped to what
// an int64 holds, for the stores: a result starting at ns matches when
// lo <= ns < hi. A zero Since or Until, or one beyond MinTime or MaxTime,
// leaves its end open (math.MinInt64, math.MaxInt64: the one nanosecond
// MaxInt64 itself is never a result's start, which is at most
// MaxClockSkew after its arrival). ok is false when no time can match: the
// range is empty or lies wholly outside MinTime to MaxTime.
func (q Query) NanoRange() (lo, hi int64, ok bool) {
	lo, hi = math.MinInt64, math.MaxInt64
	if !q.Since.IsZero() {
		if q.Since.After(MaxTime) {
			return 0, 0, false
		}
		if q.Since.After(MinTime) {
			lo = q.Since.UnixNano()
		}
	}
	if !q.Until.IsZero() {
		if !q.Until.After(MinTime) {
			return 0, 0, false
		}
		if q.Until.Before(MaxTime) {
			hi = q.Until.UnixNano()
		}
	}
	return lo, hi, lo < hi
}

// Tally counts availability checks.
type Tally struct {
	Up    int `json:"up"`
	Total int `json:"total"`
}

// Ratio returns Up/Total, or nil when there were no checks.
func (t Tally) Ratio() *float64 {
	if t.Total == 0 {
		return nil
	}
	r := float64(t.Up) / float64(t.Total)
	return &r
}

// SortLatest orders results of one site by kind, in Kinds order.
func SortLatest(rs []Result) {
	order := make(map[Kind]int, len(Kinds))
	for i, k := range Kinds {
		order[k] = i
	}
	sort.SliceStable(rs, func(i, j int) bool { return order[rs[i].Kind] < order[rs[j].Kind] })
}
