package influx

import (
	"context"
	"fmt"
	"math"
	"slices"
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

// Results returns results matching q (by their true start), newest first
// (ties by result ID, descending). Errors are Transient.
//
// A point's timestamp lies in the second its result started (PointTime),
// so the whole seconds inside q's range hold only results in range, and
// only the seconds q's ends fall in need each row's true start. The
// query has up to three parts: the inner whole seconds, the newest
// limit of them by timestamp; and each end's second read whole and
// filtered by true start.
//
// Flux: tail(n) keeps the newest n values of every field of every series;
// a point among the newest n of its series has every one of its fields
// among them (each field is written only with a result_id), so after the
// pivot the rows with a result_id are whole points, at most n per series.
// They are merged, sorted by timestamp and cut to n. The order by
// timestamp is the order by start except within one second; so when the
// inner part is cut, the second of its oldest row is read again whole,
// and the answer is sorted by start and cut here.
func (s *Store) Results(ctx context.Context, q fibremon.Query) ([]fibremon.Result, error) {
	limit := q.Limit
	if limit <= 0 || limit > fibremon.DefaultQueryLimit {
		limit = fibremon.DefaultQueryLimit
	}
	start, end, ok := span(q)
	if !ok {
		return nil, nil
	}
	lo, hi := start.UnixNano(), end.UnixNano()
	var filters strings.Builder
	if q.SiteID != "" {
		fmt.Fprintf(&filters, "\n  |> filter(fn: (r) => r.%s == %s)", TagSiteID, fluxString(q.SiteID))
	}
	if q.Kind != "" {
		fmt.Fprintf(&filters, "\n  |> filter(fn: (r) => r.%s == %s)", TagKind, fluxString(string(q.Kind)))
	}
	whole := func(from, to int64, name string) string {
		return s.fromResults(time.Unix(0, from), time.Unix(0, to)) + filters.String() + pivot + `
  |> filter(fn: (r) => exists r.` + FieldResultID + `)
  |> yield(name: "` + name + `")
`
	}
	var flux strings.Builder
	ilo, ihi := ceilSecond(lo), floorSecond(hi)
	if ilo < ihi {
		flux.WriteString(s.fromResults(time.Unix(0, ilo), time.Unix(0, ihi)) + filters.String())
		fmt.Fprintf(&flux, "\n  |> tail(n: %d)", limit)
		flux.WriteString(pivot)
		fmt.Fprintf(&flux, `
  |> filter(fn: (r) => exists r.%s)
  |> group()
  |> sort(columns: ["_time"], desc: true)
  |> limit(n: %d)
  |> yield(name: "inner")
`, FieldResultID, limit)
		if f := floorSecond(lo); f < ilo {
			flux.WriteString(whole(f, ilo, "low"))
		}
		if c := ceilSecond(hi); ihi < c {
			flux.WriteString(whole(ihi, c, "high"))
		}
	} else {
		flux.WriteString(whole(floorSecond(lo), ceilSecond(hi), "edge"))
	}
	var out, inner []fibremon.Result
	var innerTimes []int64         // the timestamps of inner's points
	oldest := int64(math.MaxInt64) // the oldest of them
	err := s.each(ctx, "results", flux.String(), func(r fibremon.Result, rec *query.FluxRecord) {
		if rec.Result() == "inner" {
			inner = append(inner, r)
			innerTimes = append(innerTimes, rec.Time().UnixNano())
			oldest = min(oldest, rec.Time().UnixNano())
			return
		}
		if ns := r.Start.UnixNano(); ns >= lo && ns < hi {
			out = append(out, r)
		}
	})
	if err != nil {
		return nil, err
	}
	if len(inner) == limit {
		// Cut: the second of the cut, read whole, replaces its rows.
		cut := floorSecond(oldest)
		kept := inner[:0]
		for i, r := range inner {
			if innerTimes[i] >= cut+second {
				kept = append(kept, r)
			}
		}
		inner = kept
		err := s.each(ctx, "results", whole(cut, cut+second, "cut"), func(r fibremon.Result, _ *query.FluxRecord) {
			inner = append(inner, r)
		})
		if err != nil {
			return nil, err
		}
	}
	out = append(out, inner...)
	sortNewestFirst(out)
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// Availability counts availability results (latency, http, tcp, dns) per
// site started at or after since: how many, and how many were up. Errors
// are Transient.
//
// Flux: two counts per series, of all the up fields and of those true,
// summed per site here, from the first whole second at or after since;
// the second since falls in, if any, is read row by row and counted by
// each result's true start. (On InfluxDB 1.8, count() with the whole
// predicate in one filter is pushed down to the storage engine: twenty
// times faster than a reduce() over the rows.)
func (s *Store) Availability(ctx context.Context, since time.Time) (map[string]fibremon.Tally, error) {
	return s.AvailabilityOf(ctx, since, nil)
}

// AvailabilityOf is Availability for the given sites only (nil: every
// site), for the status tracker, as LatestOf.
func (s *Store) AvailabilityOf(ctx context.Context, since time.Time, sites []string) (map[string]fibremon.Tally, error) {
	if sites != nil && len(sites) == 0 {
		return map[string]fibremon.Tally{}, nil
	}
	var kinds []string
	for _, k := range fibremon.Kinds {
		if k.Availability() {
			kinds = append(kinds, string(k))
		}
	}
	if since.Before(time.Unix(0, 0)) {
		since = time.Unix(0, 0)
	}
	end := stop()
	if !since.Before(end) {
		return map[string]fibremon.Tally{}, nil
	}
	lo := since.UnixNano()
	from := ceilSecond(lo)
	siteCond := ""
	if sites != nil {
		siteCond = " and (" + anyOf(TagSiteID, sites) + ")"
	}
	count := func(name, extra string) string {
		return fmt.Sprintf(`from(bucket: %s)
  |> range(start: %s, stop: %s)
  |> filter(fn: (r) => r._measurement == %q and r._field == %q and (%s)%s%s)
  |> count()
  |> yield(name: %q)
`, s.bucket, fluxTime(time.Unix(0, from)), fluxTime(end), Measurement, FieldUp, anyOf(TagKind, kinds), siteCond, extra, name)
	}
	flux := count("total", "") + count("up", " and r._value == true")
	if from > lo {
		flux += fmt.Sprintf(`from(bucket: %s)
  |> range(start: %s, stop: %s)
  |> filter(fn: (r) => r._measurement == %q and (r._field == %q or r._field == %q) and (%s)%s)%s
  |> yield(name: "edge")
`, s.bucket, fluxTime(time.Unix(0, floorSecond(lo))), fluxTime(time.Unix(0, from)), Measurement,
			FieldUp, FieldStartOffsetNS, anyOf(TagKind, kinds), siteCond, pivot)
	}
	res, err := s.reader.Query(ctx, flux)
	if err != nil {
		return nil, transient(s.errorf("availability", err))
	}
	defer res.Close()
	out := make(map[string]fibremon.Tally)
	for res.Next() {
		rec := res.Record()
		site, _ := rec.ValueByKey(TagSiteID).(string)
		t := out[site]
		switch rec.Result() {
		case "total":
			n, _ := rec.Value().(int64)
			t.Total += int(n)
		case "up":
			n, _ := rec.Value().(int64)
			t.Up += int(n)
		case "edge":
			v := rec.Values()
			up, ok := v[FieldUp].(bool)
			offset, _ := v[FieldStartOffsetNS].(int64)
			if !ok || rec.Time().UnixNano()-offset < lo {
				continue
			}
			t.Total++
			if up {
				t.Up++
			}
		}
		out[site] = t
	}
	if err := res.Err(); err != nil {
		return nil, transient(s.errorf("availability", err))
	}
	return out, nil
}

// each runs a query whose rows are pivoted points and calls fn with each
// row holding a result_id, decoded, and its record.
func (s *Store) each(ctx context.Context, op, flux string, fn func(fibremon.Result, *query.FluxRecord)) error {
	res, err := s.reader.Query(ctx, flux)
	if err != nil {
		return transient(s.errorf(op, err))
	}
	defer res.Close()
	for res.Next() {
		if r, ok := decode(res.Record()); ok {
			fn(r, res.Record())
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

// sortNewestFirst sorts by start, newest first, ties by ID descending.
func sortNewestFirst(rs []fibremon.Result) {
	slices.SortFunc(rs, func(a, b fibremon.Result) int {
		if c := b.Start.Compare(a.Start); c != 0 {
			return c
		}
		return strings.Compare(b.ID, a.ID)
	})
}

func newer(a, b fibremon.Result) bool {
	if !a.Start.Equal(b.Start) {
		return a.Start.After(b.Start)
	}
	return a.ID > b.ID
}

// anyOf is a Flux predicate: the tag is one of values.
func anyOf(tag string, values []string) string {
	parts := make([]string, len(values))
	for i, v := range values {
		parts[i] = "r." + tag + " == " + fluxString(v)
	}
	return strings.Join(parts, " or ")
}
