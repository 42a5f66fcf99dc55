//go:build linux

package spool

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"fibremon"
	"fibremon/internal/testing/powerfs"
)

// TestPowerLoss keeps a spool on powerfs, which loses everything not
// fsynced at a power cut (names included, until their directory is
// fsynced), and cuts the power after each step: what Put, Ack and Reject
// returned nil for stays done. The spool starts in a directory that does
// not exist yet, as on a probe's first start: its name, and its parent's,
// must be durable too, or the cut takes every file in it.
func TestPowerLoss(t *testing.T) {
	if err := powerfs.Available(); err != nil {
		t.Skipf("the power-loss test needs FUSE and root: %v", err)
	}
	tmp := t.TempDir()
	mnt, backing := filepath.Join(tmp, "mnt"), filepath.Join(tmp, "disk")
	if err := os.Mkdir(mnt, 0o700); err != nil {
		t.Fatal(err)
	}
	disk, err := powerfs.Mount(mnt, backing)
	if err != nil {
		t.Fatal(err)
	}
	var q *Queue
	t.Cleanup(func() {
		if q != nil {
			q.Close()
		}
		disk.Cut()
		if err := disk.Unmount(); err != nil {
			t.Error(err)
		}
	})
	// powerCut closes q (the mount must have no open files to unmount;
	// closing makes nothing durable), cuts the power and mounts what
	// survived.
	powerCut := func(q *Queue) {
		t.Helper()
		q.Close()
		disk.Cut()
		if err := disk.Unmount(); err != nil {
			t.Fatal(err)
		}
		if disk, err = powerfs.Mount(mnt, backing); err != nil {
			t.Fatal(err)
		}
	}

	dir := filepath.Join(mnt, "var", "spool")
	q, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	a, b, c := makeResults(t, 3, "a"), makeResults(t, 2, "b"), makeResults(t, 4, "c")
	for _, rs := range [][]fibremon.Result{a, b, c} {
		mustPut(t, q, rs)
	}
	powerCut(q)

	q, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if st := q.Len(); st.Files != 3 || st.Results != 9 || st.Dead != 0 {
		t.Fatalf("after a power cut Len() = %+v; want the 3 files put, 9 results", st)
	}
	batch := mustPeek(t, q, 1)
	if d := diffResults(batch.Results, a); d != "" {
		t.Fatalf("first batch after the cut: %s", d)
	}
	if err := q.Ack(batch); err != nil {
		t.Fatal(err)
	}
	batch = mustPeek(t, q, 1)
	rejected := batch.files[0]
	if err := q.Reject(batch, "refused"); err != nil {
		t.Fatal(err)
	}
	powerCut(q)

	q, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if st := q.Len(); st.Files != 1 || st.Results != 4 {
		t.Errorf("after acking one file and rejecting one, and a power cut, Len() = %+v; want 1 file, 4 results", st)
	}
	data, err := os.ReadFile(filepath.Join(dir, deadDirName, rejected))
	if err != nil {
		t.Fatalf("rejected file not in dead/ after the cut: %v", err)
	}
	if rs, err := DecodeFile(data); err != nil || diffResults(rs, b) != "" {
		t.Errorf("rejected file holds %d results, %v; want the batch intact", len(rs), err)
	}
	if reason, err := os.ReadFile(filepath.Join(dir, deadDirName, rejected+reasonSuffix)); err != nil ||
		!strings.Contains(string(reason), "refused") {
		t.Errorf("reason file after the cut = %q, %v", reason, err)
	}
	if d := diffResults(drain(t, q, 100), c); d != "" {
		t.Errorf("after the cuts: %s", d)
	}
}
