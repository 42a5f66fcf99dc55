package influx

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"time"

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
	// FieldStartOffsetNS is the point's timestamp minus the result's
	// start, in nanoseconds (see PointTime): the start is the timestamp
	// minus this field. Points written before the timestamp was derived
	// from the result's ID carry it only when it is not 0.
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

const second = int64(time.Second)

// PointTime is the timestamp, in nanoseconds since 1970, of the point of a
// result that started at start (nanoseconds) and has the ID id: the
// start's whole second, plus a sub-second part in [0, 1 s) drawn from the
// ID (the first 8 bytes of its SHA-256, big-endian, modulo 10⁹). It
// depends on nothing but the result, so every replica, every retry and
// every restart puts one result on the same point, and two results of
// one series collide only when they start in the same second and their
// IDs hash to the same nanosecond (SCHEMA.md works out how rarely).
func PointTime(start int64, id string) int64 {
	return floorSecond(start) + subSecond(id)
}

// subSecond is the sub-second part of a point's timestamp drawn from its
// result's ID. The ID is hashed rather than read: a version 7 UUID begins
// with its millisecond and may carry a counter, and only a hash spreads
// any two distinct IDs evenly over the second.
func subSecond(id string) int64 {
	h := sha256.Sum256([]byte(id))
	return int64(binary.BigEndian.Uint64(h[:8]) % uint64(second))
}

// floorSecond rounds ns down to a whole second (towards the past, also
// before 1970).
func floorSecond(ns int64) int64 {
	r := ns % second
	if r < 0 {
		r += second
	}
	return ns - r
}

// ceilSecond rounds ns up to a whole second.
func ceilSecond(ns int64) int64 {
	f := floorSecond(ns)
	if f == ns {
		return ns
	}
	return f + second
}

// WriteResults stores a validated batch with one blocking write and
// returns the number of its results this store had not written before;
// the rest are duplicates (written again over themselves).
//
// Idempotency without reading. A point is identified by measurement, tag
// set and timestamp; writing the same identity again overwrites it. A
// result's point has the tags site_id, probe and kind and the timestamp
// PointTime(start, ID), all fixed when the result was made, so a retried
// result lands on its own point, whichever replica writes it and however
// often: a result is never stored twice. Nothing is read before writing.
// The result's true start is kept in start_offset_ns; the readers give it
// back.
//
// Duplicates. InfluxDB does not say whether a write replaced a point, so
// the count is this store's own: it remembers the points of the last
// 2 × recentGeneration results it has written and the ID on each (about
// 8 MiB), and a result written onto its own point is a duplicate. A retry to the same replica soon after the
// first write (a lost acknowledgement, a timeout) is counted as a
// duplicate; a retry to another replica, after a restart or after
// recentGeneration newer results is counted as stored, though it only
// overwrote itself. "stored" thus means "written, and not known to have
// been written before", "duplicates" a lower bound of the rewrites. A
// result written onto a remembered point of another result (a collision,
// SCHEMA.md) is logged and counted (Collisions).
//
// Atomicity and acknowledgement. The batch is sent in one blocking write
// request, with the batches of other calls waiting at the same moment
// (commit.go); WriteResults returns nil only after InfluxDB answered 2xx
// to that request. On any error nothing is acknowledged: the probe keeps
// the batch and sends it again. InfluxDB has no transactions, so a failed
// request may have stored part of the batch; the retry overwrites those
// results with themselves.
//
// Errors: Invalid when a value's name is one of the schema's own fields;
// Transient when InfluxDB does not answer or refuses the write for a
// reason an operator can fix (token, bucket, overload): the probe retries
// after a 503. Internal when InfluxDB refuses the request itself (400).
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
	times := make([]int64, len(rs))
	lines := make([]byte, 0, 320*len(rs))
	for i := range rs {
		times[i] = PointTime(rs[i].Start.UnixNano(), rs[i].ID)
		lines = appendPoint(lines, &rs[i], times[i])
	}
	if err := s.group.write(ctx, lines, len(rs)); err != nil {
		return 0, transient(err)
	}
	dups, collided := s.recent.add(rs, times)
	for _, c := range collided {
		s.collisions.Add(1)
		r := &rs[c.i]
		s.cfg.Logger.Error("result written onto the point of another result, which it replaced (see SCHEMA.md)",
			"result_id", r.ID, "other_result_id", c.other, "site_id", r.SiteID, "probe", r.Probe, "kind", r.Kind,
			"start", r.Start, "point_time", time.Unix(0, times[c.i]).UTC())
	}
	s.latest.wrote(rs)
	return len(rs) - dups, nil
}

// Collisions returns how many results this store has written onto the
// point of another result it had written (which they replaced). The
// point time makes this improbable (SCHEMA.md); this counts what happens.
func (s *Store) Collisions() int64 { return s.collisions.Load() }
