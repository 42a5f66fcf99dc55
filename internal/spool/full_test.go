package spool

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"syscall"
	"testing"

	"fibremon"
)

// TestPutDiskFullInjected drives Put's drop-and-retry path through the write
// hook, so that it runs everywhere; TestPutDiskFullTmpfs does the same on a
// real, full file system.
func TestPutDiskFullInjected(t *testing.T) {
	tests := []struct {
		name      string
		preload   []int // sizes of batches queued before
		failures  int   // how many write attempts fail
		errno     syscall.Errno
		wantCalls int
		wantErr   []error // errors.Is targets; nil means success
		wantKept  []int   // indices into preload still queued
	}{
		{"full once: drop oldest, retry, succeed", []int{50, 50}, 1, syscall.ENOSPC, 2, nil, []int{1}},
		{"quota once: same", []int{50, 50}, 1, syscall.EDQUOT, 2, nil, []int{1}},
		{"full twice: drop oldest, retry once, fail", []int{50, 50}, 2, syscall.ENOSPC, 2,
			[]error{ErrFull, syscall.ENOSPC}, []int{1}},
		{"full, nothing to drop: no retry", nil, 1, syscall.ENOSPC, 1,
			[]error{ErrFull, syscall.ENOSPC}, nil},
		{"full, small files: drop several", []int{1, 1, 1, 50}, 1, syscall.ENOSPC, 2, nil, []int{2, 3}},
		{"I/O error: no drop, no retry", []int{50}, 1, syscall.EIO, 1, []error{syscall.EIO}, []int{0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := mustOpen(t, t.TempDir(), Options{})
			var pre [][]fibremon.Result
			for i, n := range tt.preload {
				rs := makeResults(t, n, fmt.Sprintf("pre%d", i))
				mustPut(t, q, rs)
				pre = append(pre, rs)
			}
			calls := 0
			q.write = func(f *os.File, data []byte) error {
				calls++
				if calls <= tt.failures {
					f.Write(data[:len(data)/2]) // a partial temp file to clean up
					return &os.PathError{Op: "write", Path: f.Name(), Err: tt.errno}
				}
				return writeSync(f, data)
			}
			rs := makeResults(t, 1, "new")
			err := q.Put(rs)
			if tt.wantErr == nil && err != nil {
				t.Errorf("Put = %v; want nil", err)
			}
			for _, target := range tt.wantErr {
				if !errors.Is(err, target) {
					t.Errorf("Put = %v; want an error wrapping %v", err, target)
				}
			}
			if tt.errno != syscall.ENOSPC && tt.errno != syscall.EDQUOT && errors.Is(err, ErrFull) {
				t.Errorf("Put = %v; want no ErrFull for %v", err, tt.errno)
			}
			if calls != tt.wantCalls {
				t.Errorf("Put made %d write attempts; want %d", calls, tt.wantCalls)
			}
			if tmps := namesIn(t, q.dir, tmpSuffix); len(tmps) != 0 {
				t.Errorf("temp files left: %v", tmps)
			}

			var want []fibremon.Result
			var wantDropped uint64
			for i, b := range pre {
				if slices.Contains(tt.wantKept, i) {
					want = append(want, b...)
				} else {
					wantDropped += uint64(len(b))
				}
			}
			if err == nil {
				want = append(want, rs...)
			}
			if st := q.Len(); st.Dropped != wantDropped {
				t.Errorf("Len().Dropped = %d; want %d", st.Dropped, wantDropped)
			}
			if d := diffResults(drain(t, q, 1000), want); d != "" {
				t.Errorf("queue after Put: %s", d)
			}
		})
	}
}

// TestInflightNeverDropped: files of a peeked batch, being uploaded, are
// not dropped to make room (disk full) nor by the byte bound; once acked
// they are gone and counted as sent, not dropped. So a result is never
// both stored by the service and counted as dropped.
func TestInflightNeverDropped(t *testing.T) {
	q := mustOpen(t, t.TempDir(), Options{})
	first := makeResults(t, 20, "first")
	second := makeResults(t, 20, "second")
	mustPut(t, q, first)
	mustPut(t, q, second)
	b, err := q.Peek(20) // the first file, now in flight
	if err != nil || len(b.Results) != 20 {
		t.Fatalf("Peek = %d results, %v", len(b.Results), err)
	}
	calls := 0
	q.write = func(f *os.File, data []byte) error {
		calls++
		if calls == 1 {
			return &os.PathError{Op: "write", Path: f.Name(), Err: syscall.ENOSPC}
		}
		return writeSync(f, data)
	}
	third := makeResults(t, 1, "third")
	if err := q.Put(third); err != nil {
		t.Fatalf("Put on a full disk = %v; want success after dropping the idle file", err)
	}
	if st := q.Len(); st.Dropped != 20 || st.Results != 21 {
		t.Fatalf("after the disk-full Put: %+v; want the 20 idle results dropped, 21 queued", st)
	}
	if err := q.Ack(b); err != nil {
		t.Fatal(err)
	}
	if d := diffResults(drain(t, q, 1000), third); d != "" {
		t.Fatal(d)
	}
	if st := q.Len(); st.Dropped != 20 {
		t.Fatalf("Dropped = %d after acking the batch in flight; want 20 (only the idle file)", st.Dropped)
	}

	// Disk full with only the batch in flight queued: nothing to drop, the
	// new batch is refused (counted by the caller as unwritten), the batch
	// in flight survives.
	q2 := mustOpen(t, t.TempDir(), Options{})
	mustPut(t, q2, first)
	b2, _ := q2.Peek(100)
	q2.write = func(f *os.File, data []byte) error {
		return &os.PathError{Op: "write", Path: f.Name(), Err: syscall.ENOSPC}
	}
	if err := q2.Put(third); !errors.Is(err, ErrFull) {
		t.Fatalf("Put with only in-flight files = %v; want ErrFull", err)
	}
	if st := q2.Len(); st.Dropped != 0 || st.Results != 20 {
		t.Fatalf("%+v; want the in-flight file kept, nothing dropped", st)
	}
	// Once released (its upload failed), the batch may be dropped to make
	// room like any other.
	q2.Release(b2)
	if err := q2.Put(third); !errors.Is(err, ErrFull) {
		t.Fatalf("Put = %v; want ErrFull (the write hook always fails)", err)
	}
	if st := q2.Len(); st.Dropped != 20 || st.Results != 0 {
		t.Fatalf("%+v; want the released file dropped to make room", st)
	}
}

// TestByteBoundIgnoresInflight: while a batch is being uploaded, the byte
// bound does not count it, so a new Put does not drop itself (the only
// file not in flight) to keep under the bound.
func TestByteBoundIgnoresInflight(t *testing.T) {
	batch := makeResults(t, 10, "a")
	data, err := encodeFile(batch)
	if err != nil {
		t.Fatal(err)
	}
	q := mustOpen(t, t.TempDir(), Options{MaxBytes: int64(len(data)) * 3 / 2})
	mustPut(t, q, batch)
	b, err := q.Peek(100)
	if err != nil || len(b.Results) != 10 {
		t.Fatalf("Peek = %d, %v", len(b.Results), err)
	}
	next := makeResults(t, 10, "b")
	mustPut(t, q, next)
	if st := q.Len(); st.Dropped != 0 || st.Results != 20 {
		t.Fatalf("%+v; want both batches queued, nothing dropped, while the first is in flight", st)
	}
	if err := q.Ack(b); err != nil {
		t.Fatal(err)
	}
	if d := diffResults(drain(t, q, 100), next); d != "" {
		t.Fatal(d)
	}
}
