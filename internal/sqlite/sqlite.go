// Package sqlite is fibremon's embedded default result store: one SQLite
// file, opened through the pure-Go modernc.org/sqlite driver so the binaries
// need no cgo and no server.
//
// Durability: the database runs in WAL mode with synchronous=FULL, so a
// transaction that has committed is on disk (fsynced) before WriteResults
// returns; a 2xx sent after it survives kill -9 and power loss.
//
// Group commit: concurrent WriteResults calls are coalesced. One goroutine
// owns the single write connection; it takes every batch waiting, writes
// them in one transaction and commits them with one fsync, then answers
// each call. A batch that fails rolls the transaction back and is answered
// with its error; the transaction is then redone without it — all or
// nothing per batch — and the others commit. No
// call returns before the commit that holds its rows; under load a commit
// holds many batches, so the fsyncs and the pages rewritten per result
// shrink as the load grows, and an idle store commits each batch at once.
//
// Summaries: the newest result of each site and kind (table latest) and
// availability counts per site and minute (availability_minutes) are kept
// in the same transactions as the results, so Latest and Availability read
// a few rows per site instead of scanning the results.
//
// Checkpoints: a goroutine of its own copies committed pages from the WAL
// into the database file beside the writer; under sustained load the
// committer pauses between two commits, when the WAL has grown past
// walRestartFrames, so that SQLite can start the WAL over.
//
// Concurrency: a Store is safe for concurrent use. Reads use a separate pool
// and see the last committed state (WAL readers never block the writer).
// One process writes a database file: an older fibremon that wrote to it in
// between would leave the summaries behind.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"fibremon"
)

// Store is a result store in one SQLite file.
type Store struct {
	path  string
	write *sql.DB // one connection, held by the committer
	read  *sql.DB
	ckpt  *sql.DB // one connection, checkpointing the WAL into the database

	reqs      chan *writeReq
	closing   chan struct{} // closed by Close
	closeOnce sync.Once
	done      chan struct{} // closed when the committer has returned
	ckptDone  chan struct{} // closed when the checkpointer has returned
	walFull   atomic.Bool   // set by the checkpointer: the WAL should start over
	// broken holds the error of a ROLLBACK that failed: the write
	// connection may be stuck in a transaction, so Ping fails from then on
	// (/readyz tells) and writes answer Transient.
	broken atomic.Pointer[error]
	// writeFault holds why the last write failed for a reason of the
	// storage — a full disk, a read-only file or file system, an I/O
	// error, corruption — which fails every write until it is cured. Ping
	// reports it (/readyz fails) until a write commits: a batch, or the
	// one-row write Ping itself makes through the committer (checks), so
	// that readiness comes back with room on the disk even when no batch
	// arrives meanwhile (a load balancer sends none to a service that is
	// not ready).
	writeFault atomic.Pointer[error]
	checks     chan chan error

	// latestMu guards latest, the committed content of the table latest
	// with each result in full: Latest, read by the status tracker after
	// every ingest, costs no query.
	latestMu sync.RWMutex
	latest   map[latestKey]fibremon.Result
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

// schemaV2 adds the summaries and fills them from the results already
// stored. It runs once, in one transaction, on a version 1 database.
const schemaV2 = `
CREATE TABLE latest (
	site_id  TEXT NOT NULL,
	kind     TEXT NOT NULL,
	id       TEXT NOT NULL,
	start_ns INTEGER NOT NULL,
	PRIMARY KEY (site_id, kind)
) STRICT, WITHOUT ROWID;
CREATE TABLE availability_minutes (
	minute  INTEGER NOT NULL, -- start_ns / 60e9
	site_id TEXT NOT NULL,
	up      INTEGER NOT NULL,
	total   INTEGER NOT NULL,
	PRIMARY KEY (minute, site_id)
) STRICT, WITHOUT ROWID;
INSERT INTO latest (site_id, kind, id, start_ns)
	SELECT site_id, kind, id, max(start_ns) FROM results GROUP BY site_id, kind;
INSERT INTO availability_minutes (minute, site_id, up, total)
	SELECT start_ns / 60000000000, site_id, sum(up), count(*) FROM results
	WHERE kind IN ('latency', 'http', 'tcp', 'dns') GROUP BY 1, 2;
UPDATE meta SET value = '2' WHERE key = 'schema_version';
`

const minuteNS = int64(time.Minute)

func dsn(path string, readOnly bool) string {
	q := url.Values{}
	for _, p := range []string{"journal_mode(WAL)", "synchronous(FULL)", "busy_timeout(10000)", "foreign_keys(1)"} {
		q.Add("_pragma", p)
	}
	if readOnly {
		q.Add("mode", "ro")
		q.Add("_pragma", "cache_size(-16384)") // KiB per connection
	} else {
		q.Set("_txlock", "immediate")
		q.Add("_pragma", "cache_size(-65536)") // the indexes' hot pages stay in memory
		// Checkpoints run on a connection of their own (checkpointLoop),
		// not inside a commit on the write path.
		q.Add("_pragma", "wal_autocheckpoint(0)")
	}
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
}

// Open opens (creating if needed) the store at path, upgrading its schema
// if it is older. Use ":memory:"-free paths: the store is meant to be a
// file; tests use t.TempDir(). Close stops its write goroutine.
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
	if err := migrate(ctx, w); err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite upgrade %s: %w", path, err)
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
	ck, err := sql.Open("sqlite", dsn(path, false))
	if err != nil {
		w.Close()
		r.Close()
		return nil, fmt.Errorf("sqlite open %s: %w", path, err)
	}
	ck.SetMaxOpenConns(1)
	s := &Store{path: path, write: w, read: r, ckpt: ck,
		reqs: make(chan *writeReq, 1024), checks: make(chan chan error), closing: make(chan struct{}), done: make(chan struct{}),
		ckptDone: make(chan struct{})}
	if err := s.loadLatest(ctx); err != nil {
		errors.Join(w.Close(), r.Close(), ck.Close()) //nolint:errcheck // the load error is reported
		return nil, fmt.Errorf("sqlite open %s: %w", path, err)
	}
	c, err := newCommitter(ctx, s)
	if err != nil {
		errors.Join(w.Close(), r.Close(), ck.Close()) //nolint:errcheck // the open error is reported
		return nil, fmt.Errorf("sqlite open %s: %w", path, err)
	}
	go s.commitLoop(c)
	go s.checkpointLoop()
	return s, nil
}

// checkpointInterval is how often the WAL is checkpointed while it grows.
const checkpointInterval = 100 * time.Millisecond

// checkpointLoop copies committed pages from the WAL into the database
// file (PASSIVE: it never blocks the writer or readers), so the WAL stays
// small and is reused from its start; commits do not pay for it.
//
// Liveness: started by Open, it returns when Close is called, after a
// last checkpoint.
func (s *Store) checkpointLoop() {
	defer close(s.ckptDone)
	tick := time.NewTicker(checkpointInterval)
	defer tick.Stop()
	for {
		select {
		case <-s.closing:
			<-s.done                                      // the committer has stopped writing
			s.ckpt.Exec("PRAGMA wal_checkpoint(PASSIVE)") //nolint:errcheck // best effort; the WAL is durable
			return
		case <-tick.C:
		}
		var busy, logFrames, copied int
		if err := s.ckpt.QueryRow("PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &logFrames, &copied); err != nil {
			continue // retried at the next tick; the WAL keeps every commit
		}
		if logFrames >= walRestartFrames {
			s.walFull.Store(true)
		}
	}
}

// walRestartFrames is the WAL length (in pages) from which the committer
// pauses between two commits to let the WAL start over. Under a steady
// stream of commits a checkpoint running beside them never copies the
// last frames, and SQLite reuses the WAL from its start only after a
// checkpoint that copied every frame.
const walRestartFrames = 32768

// migrate brings a version 1 database to version 2.
func migrate(ctx context.Context, w *sql.DB) error {
	tx, err := w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // no-op after Commit
	var v string
	if err := tx.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'schema_version'`).Scan(&v); err != nil {
		return err
	}
	switch v {
	case "2":
		return nil
	case "1":
		if _, err := tx.ExecContext(ctx, schemaV2); err != nil {
			return err
		}
		return tx.Commit()
	}
	return fmt.Errorf("schema version %q is newer than this fibremon knows (2)", v)
}

// Close stops the write goroutine after its commit in progress and closes
// the database; committed data is already on disk.
func (s *Store) Close() error {
	s.closeOnce.Do(func() { close(s.closing) })
	<-s.done
	<-s.ckptDone
	return errors.Join(s.read.Close(), s.write.Close(), s.ckpt.Close())
}

// Path returns the database file's path.
func (s *Store) Path() string { return s.path }
