// Package sqlite is fibremon's embedded default result store: one SQLite
// file, opened through the pure-Go modernc.org/sqlite driver so the binaries
// need no cgo and no server.
//
// Durability: the database runs in WAL mode with synchronous=FULL, so a
// transaction that has committed is on disk (fsynced) before WriteResults
// returns; a 2xx sent after it survives kill -9 and power loss.
//
// Concurrency: a Store is safe for concurrent use. Writes go through a
// single connection (SQLite serialises writers anyway, and one connection
// avoids SQLITE_BUSY between our own writers); reads use a separate pool and
// see the last committed state (WAL readers never block the writer).
package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"fibremon"
)

// Store is a result store in one SQLite file.
type Store struct {
	path  string
	write *sql.DB // one connection
	read  *sql.DB
}

const schema = `
CREATE TABLE IF NOT EXISTS results (
	id               TEXT PRIMARY KEY,
	site_id          TEXT NOT NULL,
	probe            TEXT NOT NULL,
	kind             TEXT NOT NULL,
	method           TEXT NOT NULL DEFAULT '',
	target           TEXT NOT NULL DEFAULT '',
	start_ns         INTEGER NOT NULL,
	duration_seconds REAL NOT NULL,
	up               INTEGER NOT NULL,
	vals             TEXT NOT NULL DEFAULT '{}',
	error            TEXT NOT NULL DEFAULT '',
	received_ns      INTEGER NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS results_site_kind_start ON results (site_id, kind, start_ns);
CREATE INDEX IF NOT EXISTS results_start ON results (start_ns);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;
INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', '1');
`

func dsn(path string, readOnly bool) string {
	q := url.Values{}
	for _, p := range []string{"journal_mode(WAL)", "synchronous(FULL)", "busy_timeout(10000)", "foreign_keys(1)"} {
		q.Add("_pragma", p)
	}
	if readOnly {
		q.Add("mode", "ro")
	} else {
		q.Set("_txlock", "immediate")
	}
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
}

// Open opens (creating if needed) the store at path. Use ":memory:"-free
// paths: the store is meant to be a file; tests use t.TempDir().
func Open(ctx context.Context, path string) (*Store, error) {
	if path == "" {
		return nil, errors.New("sqlite: empty path")
	}
	w, err := sql.Open("sqlite", dsn(path, false))
	if err != nil {
		return nil, fmt.Errorf("sqlite open %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetConnMaxLifetime(0)
	if _, err := w.ExecContext(ctx, schema); err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite init %s: %w", path, err)
	}
	r, err := sql.Open("sqlite", dsn(path, true))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite open %s: %w", path, err)
	}
	r.SetMaxOpenConns(4)
	if err := r.PingContext(ctx); err != nil {
		w.Close()
		r.Close()
		return nil, fmt.Errorf("sqlite open %s read-only: %w", path, err)
	}
	return &Store{path: path, write: w, read: r}, nil
}

// Close closes the database; committed data is already on disk.
func (s *Store) Close() error {
	return errors.Join(s.read.Close(), s.write.Close())
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	var n int
	if err := s.write.QueryRowContext(ctx, "SELECT 1").Scan(&n); err != nil {
		return fibremon.Errorf(fibremon.Transient, "sqlite ping: %w", err)
	}
	return nil
}

// WriteResults stores rs in one transaction: all of them or none. Results
// whose ID is already stored are skipped; the number of new rows is
// returned. The caller validates the batch first.
func (s *Store) WriteResults(ctx context.Context, rs []fibremon.Result) (int, error) {
	if len(rs) == 0 {
		return 0, nil
	}
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return 0, fibremon.Errorf(fibremon.Transient, "sqlite begin: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // no-op after Commit
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO results
		(id, site_id, probe, kind, method, target, start_ns, duration_seconds, up, vals, error, received_ns)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`)
	if err != nil {
		return 0, fibremon.Errorf(fibremon.Transient, "sqlite prepare: %w", err)
	}
	defer stmt.Close()
	received := time.Now().UnixNano()
	inserted := 0
	for i := range rs {
		r := &rs[i]
		vals, err := json.Marshal(r.Values)
		if err != nil {
			return 0, fibremon.Errorf(fibremon.Invalid, "result %s values: %w", r.ID, err)
		}
		if r.Values == nil {
			vals = []byte("{}")
		}
		res, err := stmt.ExecContext(ctx, r.ID, r.SiteID, r.Probe, string(r.Kind), r.Method, r.Target,
			r.Start.UnixNano(), r.DurationSeconds, boolInt(r.Up), string(vals), r.Error, received)
		if err != nil {
			return 0, fibremon.Errorf(fibremon.Transient, "sqlite insert %s: %w", r.ID, err)
		}
		n, _ := res.RowsAffected()
		inserted += int(n)
	}
	if err := tx.Commit(); err != nil {
		return 0, fibremon.Errorf(fibremon.Transient, "sqlite commit: %w", err)
	}
	return inserted, nil
}

const columns = `id, site_id, probe, kind, method, target, start_ns, duration_seconds, up, vals, error`

// Latest returns, per site, the newest result of each kind.
func (s *Store) Latest(ctx context.Context) (map[string][]fibremon.Result, error) {
	// SQLite returns the other columns from the row holding MAX() when a
	// query has a single max() aggregate (documented "bare column" rule).
	rows, err := s.read.QueryContext(ctx, `SELECT `+columns+`, max(start_ns)
		FROM results GROUP BY site_id, kind`)
	if err != nil {
		return nil, fibremon.Errorf(fibremon.Transient, "sqlite latest: %w", err)
	}
	rs, err := scan(rows, true)
	if err != nil {
		return nil, err
	}
	out := make(map[string][]fibremon.Result)
	for _, r := range rs {
		out[r.SiteID] = append(out[r.SiteID], r)
	}
	for _, v := range out {
		fibremon.SortLatest(v)
	}
	return out, nil
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
	if !q.Since.IsZero() {
		where, args = append(where, "start_ns >= ?"), append(args, q.Since.UnixNano())
	}
	if !q.Until.IsZero() {
		where, args = append(where, "start_ns < ?"), append(args, q.Until.UnixNano())
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
	return scan(rows, false)
}

// Availability counts availability results (latency, http, tcp, dns) per
// site started at or after since.
func (s *Store) Availability(ctx context.Context, since time.Time) (map[string]fibremon.Tally, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT site_id, sum(up), count(*) FROM results
		WHERE start_ns >= ? AND kind IN (?, ?, ?, ?) GROUP BY site_id`,
		since.UnixNano(), string(fibremon.KindLatency), string(fibremon.KindHTTP),
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

func scan(rows *sql.Rows, withMax bool) ([]fibremon.Result, error) {
	defer rows.Close()
	var out []fibremon.Result
	for rows.Next() {
		var r fibremon.Result
		var kind, vals string
		var startNS, up, maxNS int64
		dest := []any{&r.ID, &r.SiteID, &r.Probe, &kind, &r.Method, &r.Target, &startNS,
			&r.DurationSeconds, &up, &vals, &r.Error}
		if withMax {
			dest = append(dest, &maxNS)
		}
		if err := rows.Scan(dest...); err != nil {
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

// Path returns the database file's path.
func (s *Store) Path() string { return s.path }
