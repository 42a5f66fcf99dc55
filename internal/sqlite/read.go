package sqlite

// Reads: the newest result per site and kind, results by query,
// availability tallies, counts.

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"strings"
	"time"

	"fibremon"
)

const columns = `id, site_id, probe, kind, method, target, start_ns, duration_seconds, up, vals, error`

// Latest returns, per site, the newest result of each kind.
func (s *Store) Latest(ctx context.Context) (map[string][]fibremon.Result, error) {
	if err := ctx.Err(); err != nil {
		return nil, fibremon.Errorf(fibremon.Transient, "sqlite latest: %w", err)
	}
	out := make(map[string][]fibremon.Result)
	s.latestMu.RLock()
	for _, r := range s.latest {
		r.Values = maps.Clone(r.Values)
		out[r.SiteID] = append(out[r.SiteID], r)
	}
	s.latestMu.RUnlock()
	for _, v := range out {
		fibremon.SortLatest(v)
	}
	return out, nil
}

// loadLatest reads the table latest with each result in full.
func (s *Store) loadLatest(ctx context.Context) error {
	rows, err := s.write.QueryContext(ctx, `SELECT r.id, r.site_id, r.probe, r.kind, r.method, r.target,
		r.start_ns, r.duration_seconds, r.up, r.vals, r.error
		FROM latest l JOIN results r ON r.id = l.id`)
	if err != nil {
		return fmt.Errorf("latest: %w", err)
	}
	rs, err := scan(rows)
	if err != nil {
		return err
	}
	s.latest = make(map[latestKey]fibremon.Result, len(rs))
	for _, r := range rs {
		s.latest[latestKey{r.SiteID, string(r.Kind)}] = r
	}
	return nil
}

// wroteLatest folds a committed transaction's newest results into
// s.latest, by the rule of the table: a later start replaces.
func (s *Store) wroteLatest(m map[latestKey]latestVal) {
	s.latestMu.Lock()
	defer s.latestMu.Unlock()
	for k, v := range m {
		if cur, ok := s.latest[k]; !ok || v.start > cur.Start.UnixNano() {
			r := *v.r
			r.Start = time.Unix(0, v.start).UTC()
			r.Values = maps.Clone(r.Values)
			s.latest[k] = r
		}
	}
}

// Results returns results matching q, newest first.
func (s *Store) Results(ctx context.Context, q fibremon.Query) ([]fibremon.Result, error) {
	var where []string
	var args []any
	if q.SiteID != "" {
		where, args = append(where, "site_id = ?"), append(args, q.SiteID)
	}
	if q.Kind != "" {
		where, args = append(where, "kind = ?"), append(args, string(q.Kind))
	}
	// Times beyond what start_ns holds are clamped, not converted: their
	// UnixNano wraps around and would select the wrong results.
	lo, hi, ok := q.NanoRange()
	if !ok {
		return nil, nil
	}
	if lo != math.MinInt64 {
		where, args = append(where, "start_ns >= ?"), append(args, lo)
	}
	if hi != math.MaxInt64 {
		where, args = append(where, "start_ns < ?"), append(args, hi)
	}
	limit := q.Limit
	if limit <= 0 || limit > fibremon.DefaultQueryLimit {
		limit = fibremon.DefaultQueryLimit
	}
	query := `SELECT ` + columns + ` FROM results`
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += " ORDER BY start_ns DESC, id LIMIT ?"
	args = append(args, limit)
	rows, err := s.read.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fibremon.Errorf(fibremon.Transient, "sqlite results: %w", err)
	}
	return scan(rows)
}

// Availability counts availability results (latency, http, tcp, dns) per
// site started at or after since: whole minutes from the per-minute
// summary, the part of since's minute from the results themselves.
func (s *Store) Availability(ctx context.Context, since time.Time) (map[string]fibremon.Tally, error) {
	var sinceNS int64 // results start after 1970 (they are at most MaxResultAge old)
	if since.After(fibremon.MaxTime) {
		return map[string]fibremon.Tally{}, nil // UnixNano would wrap around
	}
	if since.After(time.Unix(0, 0)) {
		sinceNS = since.UnixNano()
	}
	full := sinceNS / minuteNS // first whole minute
	if sinceNS%minuteNS != 0 {
		full++
	}
	rows, err := s.read.QueryContext(ctx, `SELECT site_id, sum(up), sum(total) FROM (
			SELECT site_id, up, total FROM availability_minutes WHERE minute >= ?
			UNION ALL
			SELECT site_id, up, 1 FROM results
			WHERE start_ns >= ? AND start_ns < ? AND kind IN (?, ?, ?, ?)
		) GROUP BY site_id`,
		full, sinceNS, full*minuteNS, string(fibremon.KindLatency), string(fibremon.KindHTTP),
		string(fibremon.KindTCP), string(fibremon.KindDNS))
	if err != nil {
		return nil, fibremon.Errorf(fibremon.Transient, "sqlite availability: %w", err)
	}
	defer rows.Close()
	out := make(map[string]fibremon.Tally)
	for rows.Next() {
		var site string
		var t fibremon.Tally
		if err := rows.Scan(&site, &t.Up, &t.Total); err != nil {
			return nil, fibremon.Errorf(fibremon.Internal, "sqlite availability scan: %w", err)
		}
		out[site] = t
	}
	if err := rows.Err(); err != nil {
		return nil, fibremon.Errorf(fibremon.Transient, "sqlite availability: %w", err)
	}
	return out, nil
}

// Count returns the number of stored results.
func (s *Store) Count(ctx context.Context) (int, error) {
	var n int
	if err := s.read.QueryRowContext(ctx, "SELECT count(*) FROM results").Scan(&n); err != nil {
		return 0, fibremon.Errorf(fibremon.Transient, "sqlite count: %w", err)
	}
	return n, nil
}

func scan(rows *sql.Rows) ([]fibremon.Result, error) {
	defer rows.Close()
	var out []fibremon.Result
	for rows.Next() {
		var r fibremon.Result
		var kind, vals string
		var startNS, up int64
		if err := rows.Scan(&r.ID, &r.SiteID, &r.Probe, &kind, &r.Method, &r.Target, &startNS,
			&r.DurationSeconds, &up, &vals, &r.Error); err != nil {
			return nil, fibremon.Errorf(fibremon.Internal, "sqlite scan: %w", err)
		}
		r.Kind = fibremon.Kind(kind)
		r.Start = time.Unix(0, startNS).UTC()
		r.Up = up != 0
		if vals != "{}" {
			if err := json.Unmarshal([]byte(vals), &r.Values); err != nil {
				return nil, fibremon.Errorf(fibremon.Internal, "sqlite result %s values: %w", r.ID, err)
			}
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fibremon.Errorf(fibremon.Transient, "sqlite rows: %w", err)
	}
	return out, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
