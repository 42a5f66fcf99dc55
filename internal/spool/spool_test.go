package spool

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"fibremon"
)

// testNow is a fixed present for results made by tests.
var testNow = time.Date(2025, 11, 25, 17, 0, 0, 0, time.UTC)

// makeResults returns n valid, distinct results. The (probe, seq) pair is
// written into Target so that tests can recognise them.
func makeResults(tb testing.TB, n int, probe string) []fibremon.Result {
	tb.Helper()
	rs := make([]fibremon.Result, n)
	for i := range rs {
		r := fibremon.Result{
			ID:              uuid.NewString(),
			SiteID:          "rathaus-nord",
			Probe:           probe,
			Kind:            fibremon.KindLatency,
			Method:          "icmp",
			Target:          fmt.Sprintf("%s/%d", probe, i),
			Start:           testNow.Add(-time.Duration(n-i) * time.Minute),
			DurationSeconds: 1.25,
			Up:              true,
			Values: map[string]float64{
				fibremon.AvgRTTSeconds: 0.0123 + float64(i)/1e6,
				fibremon.LossRatio:     0,
			},
		}
		if i%7 == 3 {
			r.Up = false
			r.Error = "timeout: no reply within 5s"
			r.Values = nil
		}
		rs[i] = r
	}
	return rs
}

// mustOpen opens a queue in dir and closes it when the test ends.
func mustOpen(tb testing.TB, dir string, opts Options) *Queue {
	tb.Helper()
	q, err := Open(dir, opts)
	if err != nil {
		tb.Fatalf("Open(%q) = %v", dir, err)
	}
	tb.Cleanup(func() { q.Close() })
	return q
}

func mustPut(tb testing.TB, q *Queue, rs []fibremon.Result) {
	tb.Helper()
	if err := q.Put(rs); err != nil {
		tb.Fatalf("Put(%d results) = %v", len(rs), err)
	}
}

func mustPeek(tb testing.TB, q *Queue, max int) Batch {
	tb.Helper()
	b, err := q.Peek(max)
	if err != nil {
		tb.Fatalf("Peek(%d) = %v", max, err)
	}
	return b
}

// drain peeks and acks until the queue is empty and returns what it got.
func drain(tb testing.TB, q *Queue, max int) []fibremon.Result {
	tb.Helper()
	var all []fibremon.Result
	for {
		b := mustPeek(tb, q, max)
		if len(b.Results) == 0 {
			return all
		}
		all = append(all, b.Results...)
		if err := q.Ack(b); err != nil {
			tb.Fatalf("Ack = %v", err)
		}
	}
}

// diffResults returns "" if got and want hold the same results in the same
// order (compared by their wire form), or a description of the first
// difference.
func diffResults(got, want []fibremon.Result) string {
	if len(got) != len(want) {
		return fmt.Sprintf("got %d results; want %d", len(got), len(want))
	}
	for i := range got {
		g, errG := json.Marshal(&got[i])
		w, errW := json.Marshal(&want[i])
		if errG != nil || errW != nil {
			return fmt.Sprintf("result %d: marshal: %v, %v", i, errG, errW)
		}
		if string(g) != string(w) {
			return fmt.Sprintf("result %d:\n got %s\nwant %s", i, g, w)
		}
	}
	return ""
}

// namesIn lists the names in dir that end in suffix.
func namesIn(tb testing.TB, dir, suffix string) []string {
	tb.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		tb.Fatal(err)
	}
	var names []string
	for _, de := range des {
		if strings.HasSuffix(de.Name(), suffix) {
			names = append(names, de.Name())
		}
	}
	return names
}

func TestRoundTrip(t *testing.T) {
	tests := []struct {
		name    string
		batches []int // sizes of the Puts
		max     int   // Peek argument
	}{
		{"one batch", []int{5}, 100},
		{"several batches, one per peek", []int{3, 1, 4, 1, 5}, 1},
		{"several batches, all in one peek", []int{3, 1, 4, 1, 5}, 100},
		{"several batches, some per peek", []int{3, 1, 4, 1, 5, 9, 2, 6}, 7},
		{"max zero means one file", []int{2, 2}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := mustOpen(t, t.TempDir(), Options{})
			var want []fibremon.Result
			for i, n := range tt.batches {
				rs := makeResults(t, n, fmt.Sprintf("probe-%d", i))
				mustPut(t, q, rs)
				want = append(want, rs...)
			}
			if got := q.Len(); got.Files != len(tt.batches) || got.Results != len(want) {
				t.Errorf("Len() = %+v; want %d files, %d results", got, len(tt.batches), len(want))
			}
			got := drain(t, q, tt.max)
			if d := diffResults(got, want); d != "" {
				t.Error(d)
			}
			if got := q.Len(); got.Files != 0 || got.Results != 0 || got.Bytes != 0 || !got.Oldest.IsZero() {
				t.Errorf("Len() after draining = %+v; want empty", got)
			}
			if names := namesIn(t, q.dir, nameSuffix); len(names) != 0 {
				t.Errorf("files left after draining: %v", names)
			}
		})
	}
}

func TestPeekWholeFiles(t *testing.T) {
	// Three files of 3 results each.
	tests := []struct {
		max       int
		wantFiles int
	}{
		{math.MinInt, 1},
		{0, 1},
		{1, 1}, // more than max, but at least one file
		{3, 1},
		{5, 1},
		{6, 2},
		{8, 2},
		{9, 3},
		{math.MaxInt, 3},
	}
	q := mustOpen(t, t.TempDir(), Options{})
	var want []fibremon.Result
	for i := range 3 {
		rs := makeResults(t, 3, fmt.Sprintf("p%d", i))
		mustPut(t, q, rs)
		want = append(want, rs...)
	}
	for _, tt := range tests {
		b := mustPeek(t, q, tt.max)
		if b.Files() != tt.wantFiles {
			t.Errorf("Peek(%d) covers %d files; want %d", tt.max, b.Files(), tt.wantFiles)
		}
		if d := diffResults(b.Results, want[:3*tt.wantFiles]); d != "" {
			t.Errorf("Peek(%d): %s", tt.max, d)
		}
	}
	if got := q.Len().Files; got != 3 {
		t.Errorf("Len().Files after peeking = %d; want 3 (Peek removes nothing)", got)
	}
}

func TestPeekEmpty(t *testing.T) {
	q := mustOpen(t, t.TempDir(), Options{})
	b := mustPeek(t, q, 10)
	if len(b.Results) != 0 || b.Files() != 0 {
		t.Errorf("Peek on an empty queue = %d results, %d files; want none", len(b.Results), b.Files())
	}
	if err := q.Ack(b); err != nil {
		t.Errorf("Ack(empty) = %v", err)
	}
	if err := q.Put(nil); err != nil {
		t.Errorf("Put(nil) = %v; want nil", err)
	}
	if got := q.Len(); got != (Stats{}) {
		t.Errorf("Len() = %+v; want zero", got)
	}
}

func TestAckOnlyAcked(t *testing.T) {
	q := mustOpen(t, t.TempDir(), Options{})
	a, b := makeResults(t, 4, "a"), makeResults(t, 4, "b")
	mustPut(t, q, a)
	mustPut(t, q, b)
	batch := mustPeek(t, q, 4)
	if d := diffResults(batch.Results, a); d != "" {
		t.Fatalf("first Peek: %s", d)
	}
	// A Put between Peek and Ack must survive the Ack.
	c := makeResults(t, 2, "c")
	mustPut(t, q, c)
	if err := q.Ack(batch); err != nil {
		t.Fatalf("Ack = %v", err)
	}
	if err := q.Ack(batch); err != nil {
		t.Errorf("second Ack of the same batch = %v; want nil", err)
	}
	if got := q.Len(); got.Files != 2 || got.Results != 6 {
		t.Errorf("Len() after Ack = %+v; want 2 files, 6 results", got)
	}
	if got := len(namesIn(t, q.dir, nameSuffix)); got != 2 {
		t.Errorf("%d files on disk after Ack; want 2", got)
	}
	if d := diffResults(drain(t, q, 100), slices.Concat(b, c)); d != "" {
		t.Errorf("after Ack: %s", d)
	}
}

func TestReopen(t *testing.T) {
	dir := t.TempDir()
	q, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var want []fibremon.Result
	for i := range 4 {
		rs := makeResults(t, i+1, "p")
		mustPut(t, q, rs)
		want = append(want, rs...)
	}
	before := q.Len()
	if err := q.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}
	if err := q.Put(want[:1]); !errors.Is(err, ErrClosed) {
		t.Errorf("Put after Close = %v; want ErrClosed", err)
	}

	// What a crash leaves: a temp file of ours, half written. And things
	// that are not ours, which Open must leave alone.
	stale := fileName(time.Now(), uuid.New()) + tmpSuffix
	foreign := []string{"notes.txt", "backup.tmp", "x.json"}
	for _, name := range append([]string{stale}, foreign...) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(`{"version":1,"cou`), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	q = mustOpen(t, dir, Options{})
	if got := q.Len(); got != before {
		t.Errorf("Len() after reopening = %+v; want %+v", got, before)
	}
	if _, err := os.Stat(filepath.Join(dir, stale)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stale temp file %s after Open: Stat = %v; want it removed", stale, err)
	}
	for _, name := range foreign {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("foreign file %s after Open: %v; want it left alone", name, err)
		}
	}
	if d := diffResults(drain(t, q, 3), want); d != "" {
		t.Errorf("after reopening: %s", d)
	}
	if q.Len().Dead != 0 {
		t.Errorf("Len().Dead = %d; want 0", q.Len().Dead)
	}
}

func TestNamesIncrease(t *testing.T) {
	// A clock that stands still or goes back must not reorder the queue.
	times := []time.Time{testNow, testNow, testNow.Add(-time.Hour), testNow.Add(time.Second), testNow}
	i := 0
	now := func() time.Time { return times[min(i, len(times)-1)] }
	q := mustOpen(t, t.TempDir(), Options{Now: now})
	var want []fibremon.Result
	for i = range times {
		rs := makeResults(t, 1, "p")
		mustPut(t, q, rs)
		want = append(want, rs...)
	}
	names := namesIn(t, q.dir, nameSuffix)
	if !slices.IsSorted(names) || len(names) != len(times) {
		t.Errorf("names = %v; want %d sorted", names, len(times))
	}
	if d := diffResults(drain(t, q, 1), want); d != "" {
		t.Error(d)
	}
}

func TestLocked(t *testing.T) {
	dir := t.TempDir()
	q1, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if q2, err := Open(dir, Options{}); !errors.Is(err, ErrLocked) {
		if q2 != nil {
			q2.Close()
		}
		t.Fatalf("second Open = %v; want an error wrapping ErrLocked", err)
	}
	if err := q1.Close(); err != nil {
		t.Fatal(err)
	}
	q3, err := Open(dir, Options{})
	if err != nil {
		t.Fatalf("Open after Close = %v; want the lock released", err)
	}
	q3.Close()
}

func TestMaxBytes(t *testing.T) {
	batch := func(p string) []fibremon.Result { return makeResults(t, 10, p) }
	data, err := encodeFile(batch("p0"))
	if err != nil {
		t.Fatal(err)
	}
	size := int64(len(data))
	tests := []struct {
		name     string
		maxBytes int64
		puts     int
		wantKept int
	}{
		{"under the bound", 10 * size, 5, 5},
		{"exactly at the bound", 3 * size, 3, 3},
		{"over by a little", 3*size - 1, 3, 2},
		{"room for two and a half", 5 * size / 2, 6, 2},
		{"room for one", size, 4, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := mustOpen(t, t.TempDir(), Options{MaxBytes: tt.maxBytes})
			var puts [][]fibremon.Result
			for i := range tt.puts {
				rs := batch(fmt.Sprintf("p%d", i)) // all the same size
				mustPut(t, q, rs)
				puts = append(puts, rs)
			}
			st := q.Len()
			if st.Files != tt.wantKept || st.Bytes > tt.maxBytes {
				t.Errorf("Len() = %+v; want %d files, at most %d bytes", st, tt.wantKept, tt.maxBytes)
			}
			if want := uint64(10 * (tt.puts - tt.wantKept)); st.Dropped != want {
				t.Errorf("Len().Dropped = %d; want %d", st.Dropped, want)
			}
			// The newest survive.
			want := slices.Concat(puts[tt.puts-tt.wantKept:]...)
			if d := diffResults(drain(t, q, 1000), want); d != "" {
				t.Error(d)
			}
		})
	}
}

func TestTooLarge(t *testing.T) {
	q := mustOpen(t, t.TempDir(), Options{MaxBytes: 2000})
	small := makeResults(t, 1, "small")
	mustPut(t, q, small)
	if err := q.Put(makeResults(t, 20, "big")); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Put of a batch above MaxBytes = %v; want ErrTooLarge", err)
	}
	if st := q.Len(); st.Files != 1 || st.Dropped != 0 {
		t.Errorf("Len() = %+v; want the small batch kept, nothing dropped", st)
	}
	if tmps := namesIn(t, q.dir, tmpSuffix); len(tmps) != 0 {
		t.Errorf("temp files left: %v", tmps)
	}
}

func TestMaxAge(t *testing.T) {
	day := 24 * time.Hour
	clock := testNow
	now := func() time.Time { return clock }
	dir := t.TempDir()
	q := mustOpen(t, dir, Options{MaxAge: 15 * day, Now: now})

	steps := []struct {
		at        time.Duration // clock for the Put
		wantFiles int
		wantDrop  uint64
		oldest    time.Duration // of the oldest file left
	}{
		{0, 1, 0, 0},
		{10 * day, 2, 0, 0},
		{15 * day, 3, 0, 0}, // exactly MaxAge old: kept
		{20 * day, 3, 1, 10 * day},
		{40 * day, 1, 4, 40 * day},
	}
	for _, s := range steps {
		clock = testNow.Add(s.at)
		mustPut(t, q, makeResults(t, 1, "p"))
		st := q.Len()
		if st.Files != s.wantFiles || st.Dropped != s.wantDrop || !st.Oldest.Equal(testNow.Add(s.oldest)) {
			t.Errorf("after a Put at +%v: Len() = %+v; want %d files, %d dropped, oldest %v",
				s.at, st, s.wantFiles, s.wantDrop, testNow.Add(s.oldest))
		}
	}

	// Open enforces the age bound too, e.g. after a long power cut.
	q.Close()
	clock = testNow.Add(100 * day)
	q = mustOpen(t, dir, Options{MaxAge: 15 * day, Now: now})
	if st := q.Len(); st.Files != 0 || st.Dropped != 1 {
		t.Errorf("Len() after reopening 60 days later = %+v; want 0 files, 1 dropped", st)
	}
}

// corruptions of a valid two-result file; each must go to dead/.
var corruptions = []struct {
	name   string
	mangle func(valid []byte) []byte
}{
	{"empty", func([]byte) []byte { return nil }},
	{"garbage", func([]byte) []byte { return []byte("\x00\x01garbage\xff\n") }},
	{"truncated mid-header", func(v []byte) []byte { return v[:10] }},
	{"truncated mid-line", func(v []byte) []byte { return v[:len(v)-20] }},
	{"truncated at a line boundary", func(v []byte) []byte {
		i := strings.LastIndexByte(string(v[:len(v)-1]), '\n')
		return v[:i+1]
	}},
	{"no final newline", func(v []byte) []byte { return v[:len(v)-1] }},
	{"trailing data", func(v []byte) []byte { return append(v, "{}\n"...) }},
	{"unknown field", func(v []byte) []byte {
		return []byte(strings.Replace(string(v), `"probe":`, `"probez":"x","probe":`, 1))
	}},
	{"other version", func(v []byte) []byte {
		return []byte(strings.Replace(string(v), `"version":1`, `"version":2`, 1))
	}},
}

func TestCorruptFileGoesToDead(t *testing.T) {
	for _, tt := range corruptions {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			q, err := Open(dir, Options{})
			if err != nil {
				t.Fatal(err)
			}
			a, c := makeResults(t, 2, "a"), makeResults(t, 2, "c")
			mustPut(t, q, a)
			valid, err := encodeFile(makeResults(t, 2, "b"))
			if err != nil {
				t.Fatal(err)
			}
			// The corrupt file sorts between a and c.
			bad := fileName(q.last.Add(time.Microsecond), uuid.New())
			if err := os.WriteFile(filepath.Join(dir, bad), tt.mangle(valid), 0o600); err != nil {
				t.Fatal(err)
			}
			q.Close()
			q = mustOpen(t, dir, Options{})       // learns of the bad file (or dead-letters it)
			q.last = q.last.Add(time.Millisecond) // c sorts after bad, even on a coarse clock
			mustPut(t, q, c)

			got := drain(t, q, 1)
			if d := diffResults(got, slices.Concat(a, c)); d != "" {
				t.Errorf("delivered: %s", d)
			}
			if st := q.Len(); st.Dead != 1 {
				t.Errorf("Len().Dead = %d; want 1", st.Dead)
			}
			if _, err := os.Stat(filepath.Join(dir, bad)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("corrupt file still in the queue: %v", err)
			}
			if _, err := os.Stat(filepath.Join(dir, deadDirName, bad)); err != nil {
				t.Errorf("corrupt file not in dead/: %v", err)
			}
			reason, err := os.ReadFile(filepath.Join(dir, deadDirName, bad+reasonSuffix))
			if err != nil || !strings.Contains(string(reason), "undecodable") {
				t.Errorf("reason file = %q, %v; want it to say undecodable", reason, err)
			}
			t.Logf("reason: %s", reason)
		})
	}
}

func TestVanishedFile(t *testing.T) {
	q := mustOpen(t, t.TempDir(), Options{})
	a, b := makeResults(t, 3, "a"), makeResults(t, 2, "b")
	mustPut(t, q, a)
	mustPut(t, q, b)
	// Someone deletes the oldest file behind the queue's back.
	if err := os.Remove(filepath.Join(q.dir, q.entries[0].name)); err != nil {
		t.Fatal(err)
	}
	if d := diffResults(drain(t, q, 100), b); d != "" {
		t.Error(d)
	}
	if st := q.Len(); st.Dropped != 3 || st.Dead != 0 {
		t.Errorf("Len() = %+v; want 3 dropped, 0 dead", st)
	}
}

func TestReject(t *testing.T) {
	q := mustOpen(t, t.TempDir(), Options{})
	a, b := makeResults(t, 3, "a"), makeResults(t, 2, "b")
	mustPut(t, q, a)
	mustPut(t, q, b)
	batch := mustPeek(t, q, 1)
	name := batch.files[0]
	const reason = "400 Bad Request: results[0].values.loss_ratio: 1.5 above the maximum 1"
	if err := q.Reject(batch, reason); err != nil {
		t.Fatalf("Reject = %v", err)
	}
	for _, again := range []func(Batch) error{
		func(b Batch) error { return q.Reject(b, "again") },
		q.Ack,
	} {
		if err := again(batch); err != nil {
			t.Errorf("Reject or Ack after Reject = %v; want nil", err)
		}
	}
	if st := q.Len(); st.Files != 1 || st.Results != 2 || st.Dead != 1 {
		t.Errorf("Len() = %+v; want 1 file, 2 results, 1 dead", st)
	}
	data, err := os.ReadFile(filepath.Join(q.deadDir, name))
	if err != nil {
		t.Fatalf("rejected file not in dead/: %v", err)
	}
	if rs, err := DecodeFile(data); err != nil || diffResults(rs, a) != "" {
		t.Errorf("rejected file holds %d results, %v; want the batch intact", len(rs), err)
	}
	got, err := os.ReadFile(filepath.Join(q.deadDir, name+reasonSuffix))
	if err != nil || !strings.Contains(string(got), reason) {
		t.Errorf("reason file = %q, %v; want it to contain %q", got, err, reason)
	}
	if d := diffResults(drain(t, q, 100), b); d != "" {
		t.Errorf("after Reject: %s", d)
	}
}

// TestConcurrent has producers Put while one uploader Peeks and Acks; every
// result must come out exactly once. Run with -race.
func TestConcurrent(t *testing.T) {
	q := mustOpen(t, t.TempDir(), Options{})
	const producers, puts, size = 4, 20, 5
	var wg sync.WaitGroup
	for p := range producers {
		wg.Go(func() {
			for i := range puts {
				if err := q.Put(makeResults(t, size, fmt.Sprintf("p%d-%d", p, i))); err != nil {
					t.Errorf("Put = %v", err)
				}
				_ = q.Len()
			}
		})
	}
	seen := map[string]int{}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for finished := false; ; {
		select {
		case <-done:
			finished = true
		default:
		}
		b, err := q.Peek(12)
		if err != nil {
			t.Fatalf("Peek = %v", err)
		}
		for _, r := range b.Results {
			seen[r.ID]++
		}
		if err := q.Ack(b); err != nil {
			t.Fatalf("Ack = %v", err)
		}
		if finished && len(b.Results) == 0 {
			break
		}
	}
	if len(seen) != producers*puts*size {
		t.Errorf("got %d distinct results; want %d", len(seen), producers*puts*size)
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("result %s delivered %d times; want once", id, n)
		}
	}
}

func TestParseName(t *testing.T) {
	ts := time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC)
	id := uuid.MustParse("0f8fad5b-d9cb-469f-a165-70867728950e")
	tests := []struct {
		name string
		ok   bool
	}{
		{fileName(ts, id), true},
		{"20250102T030405.000000006Z-0f8fad5b-d9cb-469f-a165-70867728950e.json", true},
		{"20250102T030405.000000006Z-0F8FAD5B-D9CB-469F-A165-70867728950E.json", false}, // upper case
		{"20250102T030405.000000006Z-0f8fad5b-d9cb-469f-a165-70867728950e.json.tmp", false},
		{"20250102T030405.000000006Z-0f8fad5b-d9cb-469f-a165-70867728950e.jso", false},
		{"20250102T030405.0000000Z-0f8fad5b-d9cb-469f-a165-70867728950e00.json", false},
		{"20251302T030405.000000006Z-0f8fad5b-d9cb-469f-a165-70867728950e.json", false}, // month 13
		{"20250102T030405.000000006Z_0f8fad5b-d9cb-469f-a165-70867728950e.json", false},
		{"20250102T030405.000000006Z-0f8fad5bxd9cb-469f-a165-70867728950e.json", false},
		{"lock", false},
		{"", false},
	}
	for _, tt := range tests {
		got, ok := parseName(tt.name)
		if ok != tt.ok || (ok && !got.Equal(ts)) {
			t.Errorf("parseName(%q) = %v, %v; want ok=%v (time %v)", tt.name, got, ok, tt.ok, ts)
		}
	}
}

func BenchmarkPutPeekAck(b *testing.B) {
	const size = 100
	q := mustOpen(b, b.TempDir(), Options{})
	rs := makeResults(b, size, "bench")
	data, _ := encodeFile(rs)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if err := q.Put(rs); err != nil {
			b.Fatal(err)
		}
		batch, err := q.Peek(size)
		if err != nil || len(batch.Results) != size {
			b.Fatalf("Peek = %d results, %v", len(batch.Results), err)
		}
		if err := q.Ack(batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*size)/b.Elapsed().Seconds(), "results/s")
}

// TestRequeue: dead letters, rejected or undecodable, are listed with their
// reasons; Requeue sends the decodable ones again at the back of the queue
// (named with the current time, so the age bound does not drop them at once)
// and leaves the undecodable one in dead/.
func TestRequeue(t *testing.T) {
	now := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	dir := t.TempDir()
	q := mustOpen(t, dir, Options{MaxAge: 24 * time.Hour, Now: clock})
	a, b, c := makeResults(t, 3, "a"), makeResults(t, 2, "b"), makeResults(t, 4, "c")
	mustPut(t, q, a)
	mustPut(t, q, b)
	if err := q.Reject(mustPeek(t, q, 1), "401 Unauthorized: unknown token"); err != nil {
		t.Fatal(err)
	}
	if err := q.Reject(mustPeek(t, q, 1), "400 Bad Request"); err != nil {
		t.Fatal(err)
	}
	// An undecodable file in dead/ stays there.
	garbage := fileName(now.Add(-time.Hour), uuid.New())
	if err := os.WriteFile(filepath.Join(dir, deadDirName, garbage), []byte("{\"version\":1,\"count\":2}\n{}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	dls, err := q.DeadLetters()
	if err != nil {
		t.Fatal(err)
	}
	if len(dls) != 3 {
		t.Fatalf("DeadLetters() = %d files; want 3", len(dls))
	}
	if dls[0].Name != garbage || dls[0].Err == nil {
		t.Errorf("DeadLetters()[0] = %+v; want the undecodable file, with its error", dls[0])
	}
	if dls[1].Results != 3 || !strings.Contains(dls[1].Reason, "401 Unauthorized") || dls[1].Err != nil {
		t.Errorf("DeadLetters()[1] = %+v; want 3 results and the 401 reason", dls[1])
	}

	// Two days later (beyond MaxAge of the original names) a new result
	// waits, then the dead letters are requeued behind it.
	now = now.Add(48 * time.Hour)
	mustPut(t, q, c)
	files, results, err := q.Requeue()
	if err != nil || files != 2 || results != 5 {
		t.Fatalf("Requeue() = %d files, %d results, %v; want 2, 5, nil", files, results, err)
	}
	if st := q.Len(); st.Files != 3 || st.Results != 9 || st.Dropped != 0 {
		t.Errorf("Len() after Requeue = %+v; want 3 files, 9 results, none dropped", st)
	}
	if names := namesIn(t, filepath.Join(dir, deadDirName), ""); len(names) != 1 || names[0] != garbage {
		t.Errorf("dead/ after Requeue holds %q; want only the undecodable file (reasons deleted)", names)
	}
	// The order survives a reopen.
	q.Close()
	q = mustOpen(t, dir, Options{MaxAge: 24 * time.Hour, Now: clock})
	if d := diffResults(drain(t, q, 100), slices.Concat(c, a, b)); d != "" {
		t.Errorf("after Requeue and reopen: %s", d)
	}
	if files, results, err := q.Requeue(); err != nil || files != 0 || results != 0 {
		t.Errorf("second Requeue() = %d, %d, %v; want nothing to do", files, results, err)
	}
}
