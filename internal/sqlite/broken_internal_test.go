package sqlite

import (
	"path/filepath"
	"strings"
	"testing"

	"fibremon"
)

// TestFailedRollbackMarksBroken: when a ROLLBACK fails (here on a closed
// connection), Ping fails from then on, so /readyz stops calling the
// store ready, and a rollback of no transaction is not a failure.
func TestFailedRollbackMarksBroken(t *testing.T) {
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "fibremon.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// The store's committer holds the write connection: abort on a
	// connection of the read pool, which runs the same statements.
	conn, err := s.read.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	c := &committer{s: s, conn: conn}
	c.abort() // no transaction is active: not a failure
	if err := s.Ping(t.Context()); err != nil {
		t.Fatalf("Ping after a harmless rollback = %v", err)
	}
	c.conn.Close()
	c.abort()
	err = s.Ping(t.Context())
	if fibremon.KindOf(err) != fibremon.Transient || !strings.Contains(err.Error(), "rollback failed") {
		t.Fatalf("Ping after a failed rollback = %v; want Transient naming the rollback", err)
	}
}
