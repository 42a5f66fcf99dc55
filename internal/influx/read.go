package influx

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/influxdata/influxdb-client-go/v2/api/query"

	"fibremon"
)

// valueNames are the fields that hold a result's values.
var valueNames = func() map[string]bool {
	m := make(map[string]bool)
	for _, n := range fibremon.ValueNames() {
		m[n] = true
	}
	return m
}()

// stop is the end of the time range of queries without one: a result may
// start up to fibremon.MaxClockSkew after the moment it is received.
func stop() time.Time { return time.Now().Add(fibremon.MaxClockSkew + time.Hour) }

// span is the time range of the query q in Flux, clamped to the times a
// result can have: from 1970 (no result is older: fibremon.MaxResultAge)
// to stop(). A time beyond is not passed on: Flux times are int64
// nanoseconds too, and a range beyond them fails or wraps around. ok is
// false when the range is empty.
func span(q fibremon.Query) (start, end time.Time, ok bool) {
	lo, hi, ok := q.NanoRange()
	if !ok {
		return start, end, false
	}
	start, end = time.Unix(0, max(lo, 0)), stop()
	if hi != math.MaxInt64 && hi < end.UnixNano() {
		end = time.Unix(0, hi)
	}
	return start, end, end.After(start)
}

// fromResults is the start of every query of whole results.
func (s *Store) fromResults(start, stop time.Time) string {
	return fmt.Sprintf(`from(bucket: %s)
  |> range(start: %s, stop: %s)
  |> filter(fn: (r) => r._measurement == %q)`, s.bucket, fluxTime(start), fluxTime(stop), Measurement)
}

// pivot turns the field rows of each series into one row per point.
const pivot = `
  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")`

// Results returns results matching q, newest first (ties by result ID,
// descending). Errors are Transient.
//
// Flux: tail(n) keeps the newest n values of every field of every series;
// a point among the newest n of its series has every one of its fields
// among them (each field is written only with a result_id), so after the
// pivot the rows with a result_id are whole points, at most n per series.
// They are merged, sorted and cut to n.
func (s *Store) Results(ctx context.Context, q fibremon.Query) ([]fibremon.Result, error) {
	limit := q.Limit
	if limit <= 0 || limit > fibremon.DefaultQueryLimit {
		limit = fibremon.DefaultQueryLimit
	}
	start, end, ok := span(q)
	if !ok {
		return nil, nil
	}
	var b strings.Builder
	b.WriteString(s.fromResults(start, end))
	if q.SiteID != "" {
		fmt.Fprintf(&b, "\n  |> filter(fn: (r) => r.%s == %s)", TagSiteID, fluxString(q.SiteID))
	}
	if q.Kind != "" {
		fmt.Fprintf(&b, "\n  |> filter(fn: (r) => r.%s == %s)", TagKind, fluxString(string(q.Kind)))
	}
	fmt.Fprintf(&b, "\n  |> tail(n: %d)", limit)
	b.WriteString(pivot)
	fmt.Fprintf(&b, `
  |> filter(fn: (r) => exists r.%s)
  |> group()
  |> sort(columns: ["_time", %q], desc: true)
  |> limit(n: %d)`, FieldResultID, FieldResultID, limit)
	var out []fibremon.Result
	err := s.each(ctx, "results", b.String(), func(r fibremon.Result, _ time.Time) {
		out = append(out, r)
	})
	if err != nil {
		return nil, err
	}
	// The sort is by timestamp; a moved point (start_offset_ns) may sit a
	// few nanoseconds off its start.
	sortNewestFirst(out)
	return out, nil
}

// Availability counts availability results (latency, http, tcp, dns) per
// site started at or after since: how many, and how many were up. Errors
// are Transient.
//
// Flux: two counts per series, of all the up fields and of those true,
// summed per site here. (On InfluxDB 1.8, count() with the whole
// predicate in one filter is pushed down to the storage engine: twenty
// times faster than a reduce() over the rows.)
func (s *Store) Availability(ctx context.Context, since time.Time) (map[string]fibremon.Tally, error) {
	var kinds []string
	for _, k := range fibremon.Kinds {
		if k.Availability() {
			kinds = append(kinds, string(k))
		}
	}
	count := func(name, extra string) string {
		return fmt.Sprintf(`from(bucket: %s)
  |> range(start: %s, stop: %s)
  |> filter(fn: (r) => r._measurement == %q and r._field == %q and (%s)%s)
  |> count()
  |> yield(name: %q)
`, s.bucket, fluxTime(since), fluxTime(stop()), Measurement, FieldUp, anyOf(TagKind, kinds), extra, name)
	}
	if since.Before(time.Unix(0, 0)) {
		since = time.Unix(0, 0)
	}
	if !since.Before(stop()) {
		return map[string]fibremon.Tally{}, nil
	}
	res, err := s.reader.Query(ctx, count("total", "")+count("up", " and r._value == true"))
	if err != nil {
		return nil, transient(s.errorf("availability", err))
	}
	defer res.Close()
	out := make(map[string]fibremon.Tally)
	for res.Next() {
		rec := res.Record()
		site, _ := rec.ValueByKey(TagSiteID).(string)
		n, _ := rec.Value().(int64)
		t := out[site]
		switch rec.Result() {
		case "total":
			t.Total += int(n)
		case "up":
			t.Up += int(n)
		}
		out[site] = t
	}
	if err := res.Err(); err != nil {
		return nil, transient(s.errorf("availability", err))
	}
	return out, nil
}

// each runs a query whose rows are pivoted points and calls fn with each
// row holding a result_id, decoded, and its timestamp.
func (s *Store) each(ctx context.Context, op, flux string, fn func(fibremon.Result, time.Time)) error {
	res, err := s.reader.Query(ctx, flux)
	if err != nil {
		return transient(s.errorf(op, err))
	}
	defer res.Close()
	for res.Next() {
		if r, ok := decode(res.Record()); ok {
			fn(r, res.Record().Time())
		}
	}
	if err := res.Err(); err != nil {
		return transient(s.errorf(op, err))
	}
	return nil
}

// decode makes a Result of a pivoted row; ok is false for a row without a
// result_id (not a whole point).
func decode(rec *query.FluxRecord) (r fibremon.Result, ok bool) {
	v := rec.Values()
	if r.ID, ok = v[FieldResultID].(string); !ok {
		return r, false
	}
	r.SiteID, _ = v[TagSiteID].(string)
	r.Probe, _ = v[TagProbe].(string)
	kind, _ := v[TagKind].(string)
	r.Kind = fibremon.Kind(kind)
	r.Method, _ = v[FieldMethod].(string)
	r.Target, _ = v[FieldTarget].(string)
	r.Error, _ = v[FieldError].(string)
	r.DurationSeconds, _ = v[FieldDurationSeconds].(float64)
	r.Up, _ = v[FieldUp].(bool)
	offset, _ := v[FieldStartOffsetNS].(int64)
	r.Start = rec.Time().Add(-time.Duration(offset)).UTC()
	for name, x := range v {
		if f, isFloat := x.(float64); isFloat && valueNames[name] {
			if r.Values == nil {
				r.Values = make(map[string]float64)
			}
			r.Values[name] = f
		}
	}
	return r, true
}

func sortNewestFirst(rs []fibremon.Result) {
	// insertion sort: the input is sorted but for moved points
	for i := 1; i < len(rs); i++ {
		for j := i; j > 0 && newer(rs[j], rs[j-1]); j-- {
			rs[j], rs[j-1] = rs[j-1], rs[j]
		}
	}
}

func newer(a, b fibremon.Result) bool {
	if !a.Start.Equal(b.Start) {
		return a.Start.After(b.Start)
	}
	return a.ID > b.ID
}
