package spool

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// mountTmpfs mounts a tmpfs of the given size (mount(8) syntax, e.g. "1m")
// on a fresh directory and unmounts it when the test ends. It skips the test
// unless running as root with the right to mount.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("not root: cannot mount a small tmpfs to fill; TestPutDiskFullInjected covers the logic")
	}
	dir := filepath.Join(t.TempDir(), "tmpfs")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size+",mode=0700"); err != nil {
		t.Skipf("root, but mount -t tmpfs failed (%v): no CAP_SYS_ADMIN? TestPutDiskFullInjected covers the logic", err)
	}
	t.Cleanup(func() { // after the queue's Close, before TempDir's removal
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// TestPutDiskFullTmpfs fills a real 1 MiB tmpfs: Puts keep succeeding by
// dropping the oldest files, and when even that cannot make room Put fails
// with ENOSPC and leaves no temp file.
func TestPutDiskFullTmpfs(t *testing.T) {
	dir := mountTmpfs(t, "1m")
	q := mustOpen(t, dir, Options{}) // MaxBytes (256 MiB) is never the limit here

	// 1. About 3 MiB into 1 MiB: every Put must succeed.
	const puts, size = 120, 100
	var last []string
	for i := range puts {
		rs := makeResults(t, size, fmt.Sprintf("full-%d", i))
		if err := q.Put(rs); err != nil {
			t.Fatalf("Put %d on a full disk = %v; want the oldest dropped and nil", i, err)
		}
		last = last[:0]
		for _, r := range rs {
			last = append(last, r.ID)
		}
	}
	st := q.Len()
	if st.Dropped == 0 || st.Dropped%size != 0 || st.Bytes > 1<<20 {
		t.Errorf("Len() after filling = %+v; want whole batches dropped, at most 1 MiB", st)
	}
	if want := uint64(puts*size - st.Results); st.Dropped != want {
		t.Errorf("Len().Dropped = %d; want %d (every result put and gone)", st.Dropped, want)
	}
	if tmps := namesIn(t, dir, tmpSuffix); len(tmps) != 0 {
		t.Errorf("temp files left: %v", tmps)
	}
	b := mustPeek(t, q, int(^uint(0)>>1))
	if st.Dead != 0 || len(b.Results) != st.Results {
		t.Errorf("Peek = %d results, Dead %d; want %d, 0", len(b.Results), st.Dead, st.Results)
	}
	newest := b.Results[len(b.Results)-size:]
	for i := range newest {
		if newest[i].ID != last[i] {
			t.Fatalf("newest queued result %d = %s; want the last Put's %s", i, newest[i].ID, last[i])
		}
	}
	t.Logf("after %d Puts of %d results into 1 MiB: %+v", puts, size, st)
	if err := q.Ack(b); err != nil {
		t.Fatal(err)
	}

	// 2. Something else fills the disk; one small batch is queued. Put
	//    drops it, retries once, and fails.
	small := makeResults(t, 1, "small")
	mustPut(t, q, small)
	fillDisk(t, filepath.Join(dir, "filler"))
	dropped := q.Len().Dropped
	err := q.Put(makeResults(t, size, "no-room"))
	if !errors.Is(err, ErrFull) || !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("Put on a disk full of other data = %v; want ErrFull wrapping ENOSPC", err)
	}
	if st := q.Len(); st.Files != 0 || st.Dropped != dropped+1 {
		t.Errorf("Len() = %+v; want the small batch dropped to make room (Dropped %d)", st, dropped+1)
	}
	if tmps := namesIn(t, dir, tmpSuffix); len(tmps) != 0 {
		t.Errorf("temp files left: %v", tmps)
	}

	// 3. Nothing left to drop: Put fails straight away.
	fillDisk(t, filepath.Join(dir, "filler")) // the page the small batch freed
	if err := q.Put(makeResults(t, 1, "still-no-room")); !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("Put on a full disk with an empty queue = %v; want ENOSPC", err)
	}

	// 4. Once the disk has room again, Put works.
	if err := os.Remove(filepath.Join(dir, "filler")); err != nil {
		t.Fatal(err)
	}
	mustPut(t, q, makeResults(t, size, "room-again"))
	if st := q.Len(); st.Files != 1 {
		t.Errorf("Len() after freeing the disk = %+v; want 1 file", st)
	}
}

// fillDisk appends to path until the file system is full.
func fillDisk(t *testing.T, path string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 4096)
	for {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("filling the disk: %v", err)
			}
			return
		}
	}
}
