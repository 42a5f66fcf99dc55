package sqlite

// Writes: WriteResults hands each batch to the one commit goroutine, which
// groups concurrent batches into one transaction (one fsync) and keeps the
// summaries (latest, availability) in step.

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"fibremon"
)

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
