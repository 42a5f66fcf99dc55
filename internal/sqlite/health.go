package sqlite

// What Ping reports: the store open, its write connection whole, and its
// storage taking writes (a write that failed for a storage reason is
// remembered until one commits).

import (
	"context"
	"errors"
	"fmt"
	"time"

	msqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"fibremon"
)

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
