package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"

	"fibremon/internal/testing/influxtest"
)

func TestMain(m *testing.M) { os.Exit(influxtest.Main(m)) }

// buildFibremon builds the service once for the tests of this file.
func buildFibremon(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "fibremon")
	if out, err := exec.Command("go", "build", "-o", bin, "fibremon/cmd/fibremon").CombinedOutput(); err != nil {
		t.Fatalf("go build fibremon: %v\n%s", err, out)
	}
	return bin
}

// summary matches the line printed per store after the table.
var summary = regexp.MustCompile(`(?m)^(\w+): (\d+) results acknowledged in (\d+) batches, (\d+) batches sent again \(all duplicates\), (\d+) results in doubt`)

// row matches a store's line of the table: acknowledged, stored, verdict.
var row = regexp.MustCompile(`(?m)^\s*(\w+)\s+\d+\s+\d+\s+[\d.]+\s+\d+\s+\d+\s+\S+\s+\S+\s+\S+\s+(\d+)\s+(\d+)\s+(\d+)\s+(\w+)\s*$`)

// TestLoad runs a short load (20 probes, a few seconds) against the real
// service on each store — SQLite, and InfluxDB 1.8 on a real influxd — and
// requires zero errors and the stored results to be exactly the
// acknowledged ones, each once, with re-sent batches among them. It
// asserts no speed.
func TestLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs fibremon serve")
	}
	bin := buildFibremon(t)
	cases := []struct {
		store string
		args  func(t *testing.T) []string
	}{
		{"sqlite", func(*testing.T) []string { return nil }},
		{"influx", func(t *testing.T) []string {
			s := influxtest.Shared(t)
			return []string{"--influx.url", s.URL, "--influx.bucket", s.NewDatabase(t)}
		}},
	}
	for _, c := range cases {
		t.Run(c.store, func(t *testing.T) {
			t.Parallel() // its own service, store and ports
			// Probes take turns, and a batch is sent again on its
			// probe's next turn. A loaded machine may get through only a
			// few dozen batches: with 20 probes each still has several
			// turns, and with half the acknowledged batches sent again
			// some always are.
			args := append([]string{"--store", c.store, "--fibremon", bin, "--probes", "20", "--batch", "20",
				"--duration", "3s", "--concurrency", "8", "--resend", "0.5"}, c.args(t)...)
			var stdout, stderr bytes.Buffer
			err := run(t.Context(), args, func(string) string { return "" }, &stdout, &stderr)
			t.Logf("fibreload %v:\n%s%s", args, stdout.String(), stderr.String())
			if err != nil {
				t.Fatalf("run: %v", err)
			}
			m := row.FindStringSubmatch(stdout.String())
			if m == nil || m[1] != c.store {
				t.Fatalf("no table row for %s in the output", c.store)
			}
			errs, acked, stored := atoi(t, m[2]), atoi(t, m[3]), atoi(t, m[4])
			if errs != 0 || acked == 0 || stored != acked || m[5] != "ok" {
				t.Errorf("errors %d, acknowledged %d, stored %d, verdict %s; want 0 errors, stored == acknowledged > 0, ok",
					errs, acked, stored, m[5])
			}
			s := summary.FindStringSubmatch(stdout.String())
			if s == nil {
				t.Fatal("no summary line in the output")
			}
			if resent := atoi(t, s[4]); resent == 0 {
				t.Error("no batch was sent again: idempotency not exercised")
			}
			if doubt := atoi(t, s[5]); doubt != 0 {
				t.Errorf("%d results in doubt; want 0", doubt)
			}
		})
	}
}

// bigLine matches the big-batch run's outcome line.
var bigLine = regexp.MustCompile(`(?m)^sqlite: (\d+) results acknowledged, (\d+) stored, (\d+) in doubt; verdict (\w+)$`)

// TestBigBatches runs the big-batch mode against the real service with
// its bound on the bytes in flight set to one batch: the batches posted at
// once are all acknowledged in the end (retried on 503) and stored exactly
// once, and the service's memory is read. It asserts no memory figure:
// the figures of a full run are in docs/RELIABILITY.md.
func TestBigBatches(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs fibremon serve")
	}
	bin := buildFibremon(t)
	t.Setenv("FIBREMON_WEB_MAX_INFLIGHT_BODY_BYTES", "400000")
	args := []string{"--fibremon", bin, "--big-batches", "6", "--batch", "200", "--big-bytes", "300000", "--duration", "5m"}
	var stdout, stderr bytes.Buffer
	err := run(t.Context(), args, func(string) string { return "" }, &stdout, &stderr)
	t.Logf("fibreload %v:\n%s%s", args, stdout.String(), stderr.String())
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	m := bigLine.FindStringSubmatch(stdout.String())
	if m == nil {
		t.Fatal("no outcome line in the output")
	}
	if acked, stored := atoi(t, m[1]), atoi(t, m[2]); acked != 6*200 || stored != acked || m[3] != "0" || m[4] != "ok" {
		t.Errorf("acknowledged %d, stored %d, in doubt %s, verdict %s; want 1200 stored once, ok", acked, stored, m[3], m[4])
	}
	if !regexp.MustCompile(`peak VmHWM \d+\.\d MiB`).MatchString(stdout.String()) {
		t.Error("the service's peak memory is not reported")
	}
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestCheck proves the final check can fail: it finds results missing,
// stored twice, stored without acknowledgement, and a batch in doubt
// stored in part.
func TestCheck(t *testing.T) {
	ids := make([]uuid.UUID, 8)
	for i := range ids {
		ids[i] = uuid.New()
	}
	p := &probe{acked: ids[:3], doubt: []*batch{{ids: ids[3:5]}, {ids: ids[5:7]}}}
	for _, c := range []struct {
		name   string
		stored map[uuid.UUID]int
		want   checked
	}{
		{"exact", map[uuid.UUID]int{ids[0]: 1, ids[1]: 1, ids[2]: 1}, checked{inDoubt: 4}},
		{"doubtful batch stored whole", map[uuid.UUID]int{ids[0]: 1, ids[1]: 1, ids[2]: 1, ids[3]: 1, ids[4]: 1}, checked{inDoubt: 4}},
		{"missing", map[uuid.UUID]int{ids[0]: 1, ids[2]: 1}, checked{missing: 1, inDoubt: 4}},
		{"twice", map[uuid.UUID]int{ids[0]: 2, ids[1]: 1, ids[2]: 1}, checked{twice: 1, inDoubt: 4}},
		{"unexpected", map[uuid.UUID]int{ids[0]: 1, ids[1]: 1, ids[2]: 1, ids[7]: 1}, checked{unexpected: 1, inDoubt: 4}},
		{"partial", map[uuid.UUID]int{ids[0]: 1, ids[1]: 1, ids[2]: 1, ids[5]: 1}, checked{partial: 1, inDoubt: 4}},
	} {
		if got := p.check(c.stored); got != c.want {
			t.Errorf("%s: check = %+v; want %+v", c.name, got, c.want)
		}
	}
}

// TestHistogram checks the quantiles within the buckets' 3 %.
func TestHistogram(t *testing.T) {
	var h histogram
	for i := 1; i <= 1000; i++ {
		h.record(timeMs(i))
	}
	for _, c := range []struct {
		q    float64
		want int
	}{{0.5, 500}, {0.99, 990}, {1, 1000}} {
		got := h.quantile(c.q)
		if d := float64(got-timeMs(c.want)) / float64(timeMs(c.want)); d < -0.03 || d > 0.03 {
			t.Errorf("quantile(%g) = %v; want %v within 3%%", c.q, got, timeMs(c.want))
		}
	}
	if h.max != timeMs(1000) {
		t.Errorf("max = %v; want 1s", h.max)
	}
}

func timeMs(n int) time.Duration { return time.Duration(n) * time.Millisecond }
