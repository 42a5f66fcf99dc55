//go:build linux

package sqlite_test

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"fibremon"
	"fibremon/internal/sqlite"
	"fibremon/internal/testing/storetest"
)

// TestPingFailsOnFullDisk: on a full disk every write fails, and Ping —
// what /readyz asks — says so, naming the cause, until the disk has room
// again: then Ping's own one-row write succeeds, Ping is nil, and writes
// are taken again. No result of a failed write is stored.
func TestPingFailsOnFullDisk(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root (CI runs the tests as root)")
	}
	dir := filepath.Join(t.TempDir(), "fs")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+strconv.Itoa(4<<20)+",mode=0700"); err != nil {
		t.Fatalf("mount tmpfs on %s: %v", dir, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			syscall.Unmount(dir, syscall.MNT_DETACH) //nolint:errcheck // the temporary directory goes anyway
		}
	})
	s, err := sqlite.Open(t.Context(), filepath.Join(dir, "fibremon.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := time.Now()
	batch := func(n int) []fibremon.Result {
		rs := make([]fibremon.Result, n)
		for i := range rs {
			rs[i] = storetest.Result("municipio", fibremon.KindHTTP, now.Add(-time.Duration(i)*time.Millisecond), true)
			rs[i].Target = strings.Repeat("t", fibremon.MaxTextLength)
		}
		return rs
	}
	stored := 0
	if n, err := s.WriteResults(t.Context(), batch(10)); err != nil {
		t.Fatal(err)
	} else {
		stored += n
	}
	if err := s.Ping(t.Context()); err != nil {
		t.Fatalf("Ping before the disk is full = %v", err)
	}

	// Fill the file system, then write until a batch is refused.
	filler := filepath.Join(dir, "filler")
	f, err := os.OpenFile(filler, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	for {
		if _, err := f.Write(buf); errors.Is(err, syscall.ENOSPC) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
	}
	f.Close()
	var writeErr error
	for range 20 {
		n, err := s.WriteResults(t.Context(), batch(200))
		if err != nil {
			writeErr = err
			break
		}
		stored += n
	}
	if writeErr == nil || fibremon.KindOf(writeErr) != fibremon.Transient {
		t.Fatalf("writes on a full disk: %v; want a Transient error", writeErr)
	}
	for range 2 { // Ping's own write fails too: still not ready
		err := s.Ping(t.Context())
		if fibremon.KindOf(err) != fibremon.Transient || !strings.Contains(err.Error(), "last write failed") {
			t.Fatalf("Ping on a full disk, after a write failed with %v: %v; want Transient naming the write failure", writeErr, err)
		}
		t.Logf("Ping on a full disk: %v", err)
	}

	// Room again: Ping's write succeeds, and so do batches.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(t.Context()); err != nil {
		t.Fatalf("Ping with room on the disk again = %v", err)
	}
	if n, err := s.WriteResults(t.Context(), batch(10)); err != nil || n != 10 {
		t.Fatalf("write with room again = %d, %v", n, err)
	} else {
		stored += n
	}
	if n, err := s.Count(t.Context()); err != nil || n != stored {
		t.Fatalf("%d results stored, %v; want the %d acknowledged", n, err, stored)
	}
}
