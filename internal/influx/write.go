package influx

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/influxdata/influxdb-client-go/v2/api/write"

	"fibremon"
)

// Field names of a result's point, besides its values (which are fields
// named by fibremon's value names: download_bytes_per_second ...).
const (
	FieldResultID        = "result_id"
	FieldDurationSeconds = "duration_seconds"
	FieldUp              = "up"
	FieldError           = "error"
	FieldMethod          = "method"
	FieldTarget          = "target"
	// FieldStartOffsetNS is present only on a point whose timestamp had to
	// be moved off the result's start (see WriteResults): the start is the
	// timestamp minus this many nanoseconds.
	FieldStartOffsetNS = "start_offset_ns"
)

// Tag names. Their values come from the probe configuration (sites,
// probes) and the fixed list of kinds, so the number of series is bounded
// by configuration, never by the number of results.
const (
	TagSiteID = "site_id"
	TagProbe  = "probe"
	TagKind   = "kind"
)

// reservedFields are the names a result's value may not have.
var reservedFields = map[string]bool{
	FieldResultID: true, FieldDurationSeconds: true, FieldUp: true, FieldError: true,
	FieldMethod: true, FieldTarget: true, FieldStartOffsetNS: true,
	TagSiteID: true, TagProbe: true, TagKind: true,
}

// maxNudge bounds how far a point's timestamp may be moved off its
// result's start to avoid overwriting another result.
const maxNudge = 1000 // nanoseconds

// maxSpans bounds the number of time ranges the existing-ID lookup of one
// batch queries.
const maxSpans = 16

// minSpanGap is the smallest gap between the starts of a batch's results
// at which the existing-ID lookup splits its time range.
const minSpanGap = time.Hour

// WriteResults stores a validated batch and returns the number of results
// whose ID was not stored before; the rest are duplicates, not written
// again.
//
// Idempotency. A point is identified by measurement, tag set and
// timestamp; writing the same identity again overwrites it. A result's
// point has the tags site_id, probe and kind and, as timestamp, its start
// in nanoseconds, all fixed when the result was made, so a retried result
// lands on itself. Two different results of one probe, site and kind do
// not normally start in the same nanosecond (a probe takes the start from
// its clock, in nanoseconds, when the measurement begins; two runs of one
// kind would have to read the same nanosecond). Coarse clocks make it
// possible, and overwriting a result would lose it, so WriteResults does
// not rely on it: before writing, it looks up the points already stored
// for the batch's probes over the batch's time span. A result
// whose ID is among them is a duplicate. A new result whose identity is
// taken by another result (stored, or earlier in the batch) is moved to
// the next free nanosecond, at most maxNudge away, with the offset in the
// field start_offset_ns, which the readers subtract. The choice depends
// only on what is stored and on the batch, so a retry makes the same one.
//
// Atomicity and acknowledgement. The batch is sent in one blocking write
// request; WriteResults returns nil only after InfluxDB answered 2xx. On
// any error nothing is acknowledged: the probe keeps the batch and sends
// it again. InfluxDB has no transactions, so a failed request may have
// stored part of the batch; the retry overwrites those results with
// themselves (and counts them as duplicates).
//
// Replicas. Several fibremon replicas may write to one bucket. Two of
// them writing the same batch at once (a probe retrying on another replica
// after a timeout) may both find its IDs absent and both report them as
// stored: the split between stored and duplicate in the answer may be
// wrong, the data is not (each point is written over itself). One probe
// uploads one batch at a time, so two different results of one probe
// never race for one timestamp.
//
// Errors: Transient when InfluxDB does not answer or refuses the write
// for a reason an operator can fix (token, bucket, overload): the probe
// retries after a 503. Internal when InfluxDB refuses the request itself
// (400) or when no free timestamp is found.
func (s *Store) WriteResults(ctx context.Context, rs []fibremon.Result) (int, error) {
	if len(rs) == 0 {
		return 0, nil
	}
	for i := range rs {
		for name := range rs[i].Values {
			if reservedFields[name] {
				return 0, fibremon.Errorf(fibremon.Invalid, "influx: result %s: value name %q is reserved in InfluxDB", rs[i].ID, name)
			}
		}
	}
	taken, ids, err := s.stored(ctx, rs)
	if err != nil {
		return 0, transient(err)
	}
	points := make([]*write.Point, 0, len(rs))
	written := make([]fibremon.Result, 0, len(rs))
	for i := range rs {
		r := &rs[i]
		if ids[r.ID] {
			continue
		}
		start := r.Start.UnixNano()
		ts := start
		for taken[identity{r.SiteID, r.Probe, string(r.Kind), ts}] {
			ts++
			if ts-start > maxNudge {
				return 0, fibremon.Errorf(fibremon.Internal, "influx: result %s: no free timestamp within %d ns of its start", r.ID, maxNudge)
			}
		}
		taken[identity{r.SiteID, r.Probe, string(r.Kind), ts}] = true
		ids[r.ID] = true
		points = append(points, point(r, ts-start))
		written = append(written, *r)
	}
	if len(points) == 0 {
		return 0, nil
	}
	if err := s.writer.WritePoint(ctx, points...); err != nil {
		return 0, transient(s.errorf("write", err))
	}
	s.latest.wrote(written)
	return len(points), nil
}

// point is the point of r, timestamped offset nanoseconds after its start.
func point(r *fibremon.Result, offset int64) *write.Point {
	p := write.NewPointWithMeasurement(Measurement).
		AddTag(TagSiteID, r.SiteID).
		AddTag(TagProbe, r.Probe).
		AddTag(TagKind, string(r.Kind)).
		AddField(FieldResultID, r.ID).
		AddField(FieldDurationSeconds, r.DurationSeconds).
		AddField(FieldUp, r.Up).
		SetTime(time.Unix(0, r.Start.UnixNano()+offset))
	for name, v := range r.Values {
		p.AddField(name, v)
	}
	if r.Method != "" {
		p.AddField(FieldMethod, r.Method)
	}
	if r.Target != "" {
		p.AddField(FieldTarget, r.Target)
	}
	if r.Error != "" {
		p.AddField(FieldError, r.Error)
	}
	if offset != 0 {
		p.AddField(FieldStartOffsetNS, offset)
	}
	return p
}

// identity is what InfluxDB identifies a point of ours by (besides the
// measurement): its tags and its timestamp.
type identity struct {
	site, probe, kind string
	ts                int64
}

// stored looks up the points already stored where the batch's results
// may be: the identities taken, and the result IDs they hold. (One Flux
// filter with every predicate runs faster on InfluxDB 1.8 than a chain.)
func (s *Store) stored(ctx context.Context, rs []fibremon.Result) (map[identity]bool, map[string]bool, error) {
	taken := make(map[identity]bool)
	ids := make(map[string]bool)
	// The probe's tag alone bounds the lookup: one probe's results (the
	// API takes a batch from one probe only) are of its few sites.
	var probes []string
	starts := make([]int64, 0, len(rs))
	for i := range rs {
		if !slices.Contains(probes, rs[i].Probe) {
			probes = append(probes, rs[i].Probe)
		}
		starts = append(starts, rs[i].Start.UnixNano())
	}
	var tables []string
	for _, sp := range spans(starts) {
		tables = append(tables, fmt.Sprintf(`from(bucket: %s)
  |> range(start: %s, stop: %s)
  |> filter(fn: (r) => r._measurement == %q and r._field == %q and (%s))`,
			s.bucket, fluxTime(time.Unix(0, sp[0])), fluxTime(time.Unix(0, sp[1]+maxNudge+1)),
			Measurement, FieldResultID, anyOf(TagProbe, probes)))
	}
	flux := tables[0]
	if len(tables) > 1 { // union wants two or more
		flux = "union(tables: [\n" + strings.Join(tables, ",\n") + "\n])"
	}
	res, err := s.reader.Query(ctx, flux)
	if err != nil {
		return nil, nil, s.errorf("lookup of stored results", err)
	}
	defer res.Close()
	for res.Next() {
		rec := res.Record()
		id, _ := rec.Value().(string)
		site, _ := rec.ValueByKey(TagSiteID).(string)
		probe, _ := rec.ValueByKey(TagProbe).(string)
		kind, _ := rec.ValueByKey(TagKind).(string)
		taken[identity{site, probe, kind, rec.Time().UnixNano()}] = true
		ids[id] = true
	}
	if err := res.Err(); err != nil {
		return nil, nil, s.errorf("lookup of stored results", err)
	}
	return taken, ids, nil
}

// spans covers the sorted starts with at most maxSpans closed ranges,
// split at the widest gaps of at least minSpanGap: a batch measured over a
// long outage of its probe does not make the lookup read the whole time
// in between.
func spans(starts []int64) [][2]int64 {
	starts = slices.Clone(starts)
	slices.Sort(starts)
	type gap struct {
		at    int // split before starts[at]
		width int64
	}
	var gaps []gap
	for i := 1; i < len(starts); i++ {
		if w := starts[i] - starts[i-1]; w >= int64(minSpanGap) {
			gaps = append(gaps, gap{i, w})
		}
	}
	slices.SortFunc(gaps, func(a, b gap) int {
		if c := cmp.Compare(b.width, a.width); c != 0 {
			return c
		}
		return a.at - b.at
	})
	if len(gaps) > maxSpans-1 {
		gaps = gaps[:maxSpans-1]
	}
	cuts := make([]int, 0, len(gaps)+1)
	for _, g := range gaps {
		cuts = append(cuts, g.at)
	}
	slices.Sort(cuts)
	cuts = append(cuts, len(starts))
	out := make([][2]int64, 0, len(cuts))
	from := 0
	for _, c := range cuts {
		out = append(out, [2]int64{starts[from], starts[c-1]})
		from = c
	}
	return out
}

// anyOf is a Flux predicate: the tag is one of values.
func anyOf(tag string, values []string) string {
	parts := make([]string, len(values))
	for i, v := range values {
		parts[i] = "r." + tag + " == " + fluxString(v)
	}
	return strings.Join(parts, " or ")
}
