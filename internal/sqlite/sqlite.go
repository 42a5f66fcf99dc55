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
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	msqlite "modernc.org/sqlite" // registers the "sqlite" driver
	sqlite3 "modernc.org/sqlite/lib"

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

// Ping checks that the database answers, the store is open and its write
// connection is not broken.
func (s *Store) Ping(ctx context.Context) error {
	select {
	case <-s.closing:
		return fibremon.Errorf(fibremon.Transient, "sqlite: store closed")
	default:
	}
	if err := s.broken.Load(); err != nil {
		return fibremon.Errorf(fibremon.Transient, "%w", *err)
	}
	if s.writeFault.Load() != nil {
		if err := s.checkWrite(ctx); err != nil {
			if fault := s.writeFault.Load(); fault != nil {
				err = *fault
			}
			return fibremon.Errorf(fibremon.Transient, "%w", err)
		}
	}
	var n int
	if err := s.read.QueryRowContext(ctx, "SELECT 1").Scan(&n); err != nil {
		return fibremon.Errorf(fibremon.Transient, "sqlite ping: %w", err)
	}
	return nil
}

// checkWrite has the committer commit a one-row write, to learn whether
// the storage takes writes again after a fault.
func (s *Store) checkWrite(ctx context.Context) error {
	reply := make(chan error, 1)
	select {
	case s.checks <- reply:
	case <-ctx.Done():
		return ctx.Err()
	case <-s.closing:
		return errors.New("sqlite: store closed")
	}
	select {
	case err := <-reply:
		return err
	case <-ctx.Done():
		return ctx.Err() // the committer answers into the buffer
	}
}

// storageFault names the failures of the storage that fail every write
// until cured, or returns "" for other errors (a busy database, a
// cancelled call, a bad batch).
func storageFault(err error) string {
	var se *msqlite.Error
	if !errors.As(err, &se) {
		return ""
	}
	switch se.Code() & 0xff { // the primary result code
	case sqlite3.SQLITE_FULL:
		return "disk full"
	case sqlite3.SQLITE_READONLY:
		return "read-only"
	case sqlite3.SQLITE_IOERR:
		return "I/O error"
	case sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB:
		return "database corrupt"
	case sqlite3.SQLITE_CANTOPEN:
		return "cannot open the database file"
	}
	return ""
}

// noteFailure remembers err as the store's write fault if it is a
// failure of the storage.
func (c *committer) noteFailure(err error) {
	if kind := storageFault(err); kind != "" {
		fault := fmt.Errorf("sqlite: the last write failed: %s: %w", kind, err)
		c.s.writeFault.Store(&fault)
	}
}

// checkWrite commits a one-row write (the time of the check, in meta),
// which clears the write fault when it succeeds.
func (c *committer) checkWrite() error {
	ctx := context.Background()
	if _, err := c.conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		c.noteFailure(err)
		return err
	}
	if _, err := c.conn.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES ('write_checked', ?)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value`, time.Now().UTC().Format(time.RFC3339Nano)); err != nil {
		c.abort()
		c.noteFailure(err)
		return err
	}
	if _, err := c.conn.ExecContext(ctx, "COMMIT"); err != nil {
		c.abort()
		c.noteFailure(err)
		return err
	}
	c.s.writeFault.Store(nil)
	return nil
}

// States of a writeReq.
const (
	reqQueued    int32 = iota
	reqTaken           // in a transaction: the caller waits for its commit
	reqAbandoned       // the caller gave up before it was taken
)

// writeReq is one WriteResults call waiting for the committer.
type writeReq struct {
	rs    []fibremon.Result
	state atomic.Int32
	done  chan writeReply // buffered: the committer never blocks on it
}

type writeReply struct {
	n   int
	err error
}

// WriteResults stores rs in one transaction: all of them or none. Results
// whose ID is already stored are skipped; the number of new rows is
// returned. The caller validates the batch first. It returns after the
// commit holding rs is on disk. If ctx ends before the batch is taken into
// a transaction, nothing is written and a Transient error is returned;
// once taken, the call waits for the commit's outcome.
func (s *Store) WriteResults(ctx context.Context, rs []fibremon.Result) (int, error) {
	if len(rs) == 0 {
		return 0, nil
	}
	if err := ctx.Err(); err != nil {
		return 0, fibremon.Errorf(fibremon.Transient, "sqlite write: %w", err)
	}
	select {
	case <-s.closing:
		return 0, fibremon.Errorf(fibremon.Transient, "sqlite write: store closed")
	default:
	}
	req := &writeReq{rs: rs, done: make(chan writeReply, 1)}
	select {
	case s.reqs <- req:
	case <-ctx.Done():
		return 0, fibremon.Errorf(fibremon.Transient, "sqlite write: %w", ctx.Err())
	case <-s.closing:
		return 0, fibremon.Errorf(fibremon.Transient, "sqlite write: store closed")
	}
	select {
	case rep := <-req.done:
		return rep.n, rep.err
	case <-ctx.Done():
		if req.state.CompareAndSwap(reqQueued, reqAbandoned) {
			return 0, fibremon.Errorf(fibremon.Transient, "sqlite write: %w", ctx.Err())
		}
	case <-s.done:
		if req.state.CompareAndSwap(reqQueued, reqAbandoned) {
			return 0, fibremon.Errorf(fibremon.Transient, "sqlite write: store closed")
		}
	}
	rep := <-req.done
	return rep.n, rep.err
}

// maxGroupResults bounds the results of one group commit, so one commit
// stays short and a large queue is drained in several.
const maxGroupResults = 20000

// commitLoop is the committer: it takes the waiting batches, commits
// them together and answers each.
//
// Liveness: started by Open, it returns when Close is called, after the
// commit in progress; batches still queued then are answered with a
// Transient error.
func (s *Store) commitLoop(c *committer) {
	defer close(s.done)
	defer c.close()
	var group []*writeReq
	for {
		group = group[:0]
		select {
		case req := <-s.reqs:
			group = append(group, req)
		case reply := <-s.checks:
			reply <- c.checkWrite()
			continue
		case <-s.closing:
			for {
				select {
				case req := <-s.reqs:
					if req.state.CompareAndSwap(reqQueued, reqTaken) {
						req.done <- writeReply{err: fibremon.Errorf(fibremon.Transient, "sqlite write: store closed")}
					}
				default:
					return
				}
			}
		}
		n := len(group[0].rs)
	more:
		for n < maxGroupResults {
			select {
			case req := <-s.reqs:
				group = append(group, req)
				n += len(req.rs)
			default:
				break more
			}
		}
		c.commit(group)
		if s.walFull.CompareAndSwap(true, false) {
			// With no write in progress this checkpoint copies what the
			// background one left (little), and the next transaction
			// starts the WAL over. Best effort: a reader holding an old
			// snapshot makes it wait for the next turn.
			c.conn.ExecContext(context.Background(), "PRAGMA wal_checkpoint(PASSIVE)") //nolint:errcheck // retried
		}
	}
}

// committer owns the write connection and its prepared statements.
type committer struct {
	s                         *Store
	conn                      *sql.Conn
	insert, upLatest, upAvail *sql.Stmt
	latest                    map[latestKey]latestVal
	avail                     map[availKey]fibremon.Tally
	reqLatest                 map[latestKey]latestVal
	reqAvail                  map[availKey]fibremon.Tally
	received                  int64
	valsBuf                   []byte
}

type latestKey struct{ site, kind string }

type latestVal struct {
	r     *fibremon.Result // in the caller's batch, valid until the answer
	start int64
}

type availKey struct {
	minute int64
	site   string
}

func newCommitter(ctx context.Context, s *Store) (*committer, error) {
	conn, err := s.write.Conn(ctx)
	if err != nil {
		return nil, err
	}
	c := &committer{s: s, conn: conn,
		latest: map[latestKey]latestVal{}, avail: map[availKey]fibremon.Tally{},
		reqLatest: map[latestKey]latestVal{}, reqAvail: map[availKey]fibremon.Tally{}}
	for _, p := range []struct {
		dst **sql.Stmt
		sql string
	}{
		{&c.insert, `INSERT INTO results
		(id, site_id, probe, kind, method, target, start_ns, duration_seconds, up, vals, error, received_ns)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`},
		{&c.upLatest, `INSERT INTO latest (site_id, kind, id, start_ns) VALUES (?, ?, ?, ?)
		ON CONFLICT (site_id, kind) DO UPDATE SET id = excluded.id, start_ns = excluded.start_ns
		WHERE excluded.start_ns > latest.start_ns`},
		{&c.upAvail, `INSERT INTO availability_minutes (minute, site_id, up, total) VALUES (?, ?, ?, ?)
		ON CONFLICT (minute, site_id) DO UPDATE SET up = up + excluded.up, total = total + excluded.total`},
	} {
		if *p.dst, err = conn.PrepareContext(ctx, p.sql); err != nil {
			c.close()
			return nil, err
		}
	}
	return c, nil
}

func (c *committer) close() {
	for _, st := range []*sql.Stmt{c.insert, c.upLatest, c.upAvail} {
		if st != nil {
			st.Close()
		}
	}
	c.conn.Close()
}

// commit writes the group's batches in one transaction and answers each
// after the commit. A batch that fails is answered with its error and the
// transaction is rolled back and made again without it, so the others
// commit and the failed one leaves nothing (a batch failing on its own is
// rare: the caller validates it; a failing disk fails them all).
func (c *committer) commit(group []*writeReq) {
	taken := group[:0:0]
	for _, req := range group {
		if req.state.CompareAndSwap(reqQueued, reqTaken) {
			taken = append(taken, req)
		}
	}
	for len(taken) > 0 {
		counts, failed, err := c.transaction(taken)
		if err != nil {
			for _, req := range taken {
				req.done <- writeReply{err: err}
			}
			return
		}
		if failed < 0 {
			for i, req := range taken {
				req.done <- writeReply{n: counts[i]}
			}
			return
		}
		taken = append(taken[:failed:failed], taken[failed+1:]...)
	}
}

// transaction writes the batches in one transaction. If batch i fails, it
// rolls back, answers that batch and returns failed = i; else it commits
// and returns each batch's count of new results and failed = -1. An error
// is one of the transaction itself, for every batch.
func (c *committer) transaction(batches []*writeReq) (counts []int, failed int, err error) {
	ctx := context.Background() // one caller's cancellation must not abort the others' commit
	if _, err := c.conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		c.noteFailure(err)
		return nil, -1, fibremon.Errorf(fibremon.Transient, "sqlite begin: %w", err)
	}
	clear(c.latest)
	clear(c.avail)
	c.received = time.Now().UnixNano()
	counts = make([]int, len(batches))
	for i, req := range batches {
		n, err := c.writeBatch(ctx, req.rs)
		if err != nil {
			c.noteFailure(err)
			c.abort()
			req.done <- writeReply{err: err}
			return nil, i, nil
		}
		counts[i] = n
		c.mergeSummaries()
	}
	if err := c.writeSummaries(ctx); err != nil {
		c.noteFailure(err)
		c.abort()
		return nil, -1, fibremon.Errorf(fibremon.Transient, "sqlite summaries: %w", err)
	}
	if _, err := c.conn.ExecContext(ctx, "COMMIT"); err != nil {
		c.noteFailure(err)
		c.abort()
		return nil, -1, fibremon.Errorf(fibremon.Transient, "sqlite commit: %w", err)
	}
	c.s.writeFault.Store(nil)
	c.s.wroteLatest(c.latest)
	return counts, -1, nil
}

// abort rolls the open transaction back, if SQLite has not already. A
// ROLLBACK that fails otherwise marks the store broken.
func (c *committer) abort() {
	_, err := c.conn.ExecContext(context.Background(), "ROLLBACK")
	if err != nil && !strings.Contains(err.Error(), "no transaction is active") {
		err = fmt.Errorf("sqlite: rollback failed, the write connection may be stuck in a transaction: %w", err)
		c.s.broken.Store(&err)
	}
}

// writeBatch inserts one batch and notes its new results in the batch's
// summaries (reqLatest, reqAvail), merged only if the batch is kept.
func (c *committer) writeBatch(ctx context.Context, rs []fibremon.Result) (int, error) {
	clear(c.reqLatest)
	clear(c.reqAvail)
	inserted := 0
	for i := range rs {
		r := &rs[i]
		vals, err := c.encodeValues(r.Values)
		if err != nil {
			return 0, fibremon.Errorf(fibremon.Invalid, "result %s values: %w", r.ID, err)
		}
		start := r.Start.UnixNano()
		res, err := c.insert.ExecContext(ctx, r.ID, r.SiteID, r.Probe, string(r.Kind), r.Method, r.Target,
			start, r.DurationSeconds, boolInt(r.Up), vals, r.Error, c.received)
		if err != nil {
			return 0, fibremon.Errorf(fibremon.Transient, "sqlite insert %s: %w", r.ID, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			continue // stored before
		}
		inserted++
		lk := latestKey{r.SiteID, string(r.Kind)}
		if cur, ok := c.reqLatest[lk]; !ok || start > cur.start {
			c.reqLatest[lk] = latestVal{r, start}
		}
		if r.Kind.Availability() {
			ak := availKey{start / minuteNS, r.SiteID}
			t := c.reqAvail[ak]
			t.Total++
			t.Up += boolInt(r.Up)
			c.reqAvail[ak] = t
		}
	}
	return inserted, nil
}

// mergeSummaries adds the kept batch's summaries to the transaction's.
func (c *committer) mergeSummaries() {
	for k, v := range c.reqLatest {
		if cur, ok := c.latest[k]; !ok || v.start > cur.start {
			c.latest[k] = v
		}
	}
	for k, v := range c.reqAvail {
		t := c.avail[k]
		t.Up += v.Up
		t.Total += v.Total
		c.avail[k] = t
	}
}

// writeSummaries folds the transaction's summaries into the tables.
func (c *committer) writeSummaries(ctx context.Context) error {
	for k, v := range c.latest {
		if _, err := c.upLatest.ExecContext(ctx, k.site, k.kind, v.r.ID, v.start); err != nil {
			return err
		}
	}
	for k, t := range c.avail {
		if _, err := c.upAvail.ExecContext(ctx, k.minute, k.site, t.Up, t.Total); err != nil {
			return err
		}
	}
	return nil
}

// encodeValues encodes a result's values as a JSON object with sorted
// keys, as json.Marshal does, without its reflection for the usual names.
func (c *committer) encodeValues(v map[string]float64) (string, error) {
	if len(v) == 0 {
		return "{}", nil
	}
	var keys [16]string
	ks := keys[:0]
	for k := range v {
		if !plainName(k) {
			b, err := json.Marshal(v)
			return string(b), err
		}
		ks = append(ks, k)
	}
	sortStrings(ks)
	b := append(c.valsBuf[:0], '{')
	for i, k := range ks {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = append(b, k...)
		b = append(b, '"', ':')
		x := v[k]
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return "", fmt.Errorf("value %s is not finite", k)
		}
		b = strconv.AppendFloat(b, x, 'g', -1, 64)
	}
	b = append(b, '}')
	c.valsBuf = b
	return string(b), nil
}

// plainName reports whether a value name needs no JSON escaping.
func plainName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return s != ""
}

// sortStrings is an insertion sort: a result has a handful of values.
func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

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

// Path returns the database file's path.
func (s *Store) Path() string { return s.path }
