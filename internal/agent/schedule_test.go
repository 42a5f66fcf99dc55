package agent

import (
	"context"
	"math"
	"math/rand/v2"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"fibremon"
	"fibremon/probes"
)

// run is one simulated measurement.
type run struct {
	name       string
	start, end time.Time
}

// simAgent builds an agent whose probes take took of simulated time each
// and record when they ran. Call it inside a synctest bubble.
func simAgent(t *testing.T, took time.Duration, ms ...MeasurementConfig) (*Agent, func() []run) {
	t.Helper()
	c := &Config{Probe: "sim", SiteID: "sim", Service: DefaultService, Spool: DefaultSpool, Measurements: ms}
	c.Service.URL = "http://127.0.0.1:1"
	c.Service.Token = "t"
	c.Spool.Dir = filepath.Join(t.TempDir(), "spool")
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	a, err := New(c, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	a.seed = 1
	var mu sync.Mutex
	var runs []run
	a.measure = func(ctx context.Context, m MeasurementConfig, _ probes.Target) (probes.Measurement, *probes.Traffic, error) {
		start := time.Now()
		time.Sleep(took)
		mu.Lock()
		runs = append(runs, run{m.Name, start, time.Now()})
		mu.Unlock()
		return probes.Measurement{Up: true, Method: probes.MethodNDT7,
			Values: map[string]float64{fibremon.DownloadBytesPerSecond: 1e6}}, nil, nil
	}
	return a, func() []run {
		mu.Lock()
		defer mu.Unlock()
		return append([]run(nil), runs...)
	}
}

// simulate runs every measurement's schedule for d of simulated time,
// each with the planner that plan returns (nil: the configured one).
func simulate(a *Agent, d time.Duration, plan func(i int, m MeasurementConfig) planner) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i, m := range a.cfg.Measurements {
		var p planner
		if plan != nil {
			p = plan(i, m)
		}
		if p == nil {
			p = newPlanner(m, 0, a.rng(i))
		}
		wg.Go(func() { a.schedule(ctx, m, p) })
	}
	time.Sleep(d)
	cancel()
	wg.Wait()
}

func throughputJob(name string, kind fibremon.Kind, s ScheduleConfig) MeasurementConfig {
	return MeasurementConfig{Name: name, Kind: kind, Target: "http://127.0.0.1:1", Schedule: s}
}

// TestSlotsSchedule: over a simulated day, slots mode runs exactly one
// test in each 15-minute slot (96), at an offset that lets it end inside
// its slot, and the offsets spread over the slot.
func TestSlotsSchedule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const took = 25 * time.Second
		a, runs := simAgent(t, took, throughputJob("down", fibremon.KindDownload, ScheduleConfig{Mode: ModeSlots}))
		day := time.Now() // the bubble starts at midnight UTC
		if day != day.Truncate(24*time.Hour) {
			t.Fatalf("bubble starts at %v; want midnight", day)
		}
		simulate(a, 24*time.Hour, nil)
		rs := runs()
		if len(rs) != 96 {
			t.Fatalf("%d tests in a simulated day; want 96", len(rs))
		}
		seen := map[int]bool{}
		var offsets []float64
		for _, r := range rs {
			slot := int(r.start.Sub(day) / DefaultSlot)
			slotStart := day.Add(time.Duration(slot) * DefaultSlot)
			if seen[slot] {
				t.Errorf("two tests in slot %d", slot)
			}
			seen[slot] = true
			off := r.start.Sub(slotStart)
			if r.end.After(slotStart.Add(DefaultSlot)) {
				t.Errorf("test at %s (offset %s) ends after its slot", r.start.Format(time.TimeOnly), off)
			}
			offsets = append(offsets, off.Minutes())
		}
		// Uniform offsets over the 14.5-minute window: a mean near 7.25 min,
		// some in each third of the window.
		sort.Float64s(offsets)
		mean := 0.0
		for _, o := range offsets {
			mean += o / float64(len(offsets))
		}
		t.Logf("96 tests; offsets from %.1f to %.1f min, mean %.2f min", offsets[0], offsets[95], mean)
		if mean < 5.5 || mean > 9 || offsets[0] > 2 || offsets[95] < 12 {
			t.Errorf("offsets min %.1f, mean %.2f, max %.1f min; want spread uniformly over [0, 14.5)", offsets[0], mean, offsets[95])
		}
	})
}

// TestSlotPlannerOverrun: a test that overruns into the next slot makes
// that slot's test run at once if its window is still open, and never
// gives one slot two tests.
func TestSlotPlannerOverrun(t *testing.T) {
	day := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	p := &slotPlanner{slot: 15 * time.Minute, window: 14 * time.Minute, rng: rand.New(rand.NewPCG(3, 4))}
	at := p.first(day)
	if at.Before(day) || !at.Before(day.Add(14*time.Minute)) {
		t.Fatalf("first = %v; want within the first slot's window", at)
	}
	// The test ran until 28 min: slot 1's window is open until 29 min.
	late := day.Add(28 * time.Minute)
	if next := p.next(late); next.Before(late) || !next.Before(day.Add(29*time.Minute)) {
		t.Errorf("next after an overrun to 28 min = %v; want in slot 1's window, not before now", next)
	}
	// A run ending after slot 2's window closed skips to slot 3.
	p.last = day.Add(15 * time.Minute)
	end := day.Add(44*time.Minute + 30*time.Second)
	n := p.next(end)
	if n.Before(day.Add(45 * time.Minute)) {
		t.Errorf("next after the window closed = %v; want in slot 3 (from 45 min)", n)
	}
}

// TestRandomSchedule: random mode draws exponential waits (mean 6 h)
// clamped to [36 min, 15 h], as the ndt7 specification asks. Clamping
// makes the expected wait 36 min + 6 h × (e^-0.1 − e^-2.5) ≈ 5.54 h.
func TestRandomSchedule(t *testing.T) {
	p := &randomPlanner{mean: DefaultRandomMean, min: DefaultRandomMin, max: DefaultRandomMax, rng: rand.New(rand.NewPCG(1, 2))}
	const n = 200_000
	var sum time.Duration
	atMin, atMax := 0, 0
	for range n {
		w := p.wait()
		if w < DefaultRandomMin || w > DefaultRandomMax {
			t.Fatalf("wait %v outside [36m, 15h]", w)
		}
		atMin += btoi(w == DefaultRandomMin)
		atMax += btoi(w == DefaultRandomMax)
		sum += w
	}
	mean := (sum / n).Hours()
	want := 0.6 + 6*(math.Exp(-0.1)-math.Exp(-2.5))
	t.Logf("%d waits: mean %.3f h (clamped exponential expects %.3f h), %.1f %% at 36 min, %.1f %% at 15 h",
		n, mean, want, 100*float64(atMin)/n, 100*float64(atMax)/n)
	if math.Abs(mean-want) > 0.02*want {
		t.Errorf("mean wait %.3f h; want %.3f h within 2 %%", mean, want)
	}
	// P(X < 36 min) = 1 − e^-0.1 ≈ 9.5 %; P(X > 15 h) = e^-2.5 ≈ 8.2 %.
	if f := float64(atMin) / n; math.Abs(f-(1-math.Exp(-0.1))) > 0.005 {
		t.Errorf("%.2f %% of waits at the minimum; want 9.5 %%", 100*f)
	}
	if f := float64(atMax) / n; math.Abs(f-math.Exp(-2.5)) > 0.005 {
		t.Errorf("%.2f %% of waits at the maximum; want 8.2 %%", 100*f)
	}

	// The same through the agent, over 90 simulated days.
	synctest.Test(t, func(t *testing.T) {
		a, runs := simAgent(t, 20*time.Second, throughputJob("up", fibremon.KindUpload, ScheduleConfig{Mode: ModeRandom}))
		simulate(a, 90*24*time.Hour, nil)
		rs := runs()
		var gaps []time.Duration
		for i := 1; i < len(rs); i++ {
			g := rs[i].start.Sub(rs[i-1].end)
			if g < DefaultRandomMin || g > DefaultRandomMax {
				t.Errorf("wait %v between tests; want within [36m, 15h]", g)
			}
			gaps = append(gaps, g)
		}
		var total time.Duration
		for _, g := range gaps {
			total += g
		}
		mean := (total / time.Duration(len(gaps))).Hours()
		t.Logf("90 days: %d tests, mean wait %.2f h", len(rs), mean)
		if math.Abs(mean-want) > 0.15*want {
			t.Errorf("mean wait %.2f h over %d tests; want %.2f h within 15 %%", mean, len(gaps), want)
		}
		if first := rs[0].start.Sub(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)); first >= DefaultRandomMin {
			t.Errorf("first test after %v; want within the 36 min splay", first)
		}
	})
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestThroughputJobsNeverOverlap: a download and an upload job that fall
// due at the same moments in every slot take turns on the line.
func TestThroughputJobsNeverOverlap(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const took = 40 * time.Second
		s := ScheduleConfig{Mode: ModeSlots}
		a, runs := simAgent(t, took, throughputJob("down", fibremon.KindDownload, s), throughputJob("up", fibremon.KindUpload, s))
		// Identical random sources: both jobs are due together.
		simulate(a, 6*time.Hour, func(i int, m MeasurementConfig) planner {
			return newPlanner(m, 0, rand.New(rand.NewPCG(7, 7)))
		})
		rs := runs()
		if len(rs) != 2*24 {
			t.Fatalf("%d tests in 6 simulated hours; want 48 (one per slot per job)", len(rs))
		}
		sort.Slice(rs, func(i, j int) bool { return rs[i].start.Before(rs[j].start) })
		together := 0
		for i := 1; i < len(rs); i++ {
			if rs[i].start.Before(rs[i-1].end) {
				t.Errorf("%s at %s overlaps %s until %s", rs[i].name, rs[i].start.Format(time.TimeOnly),
					rs[i-1].name, rs[i-1].end.Format(time.TimeOnly))
			}
			if rs[i].start.Before(rs[i-1].end.Add(lineDrain)) {
				t.Errorf("%s at %s starts before the line drained after %s (until %s)", rs[i].name,
					rs[i].start.Format(time.TimeOnly), rs[i-1].name, rs[i-1].end.Add(lineDrain).Format(time.TimeOnly))
			}
			if rs[i].start.Equal(rs[i-1].end.Add(lineDrain)) {
				together++ // it waited for the line
			}
		}
		// In every slot one of the two waited for the other (and a test
		// that overran into the next slot may make one more wait).
		if together < 24 {
			t.Errorf("%d tests waited for the other job; want at least 24 (both due together in each slot)", together)
		}
		n := map[string]int{}
		for _, r := range rs {
			n[r.name]++
		}
		if n["down"] != 24 || n["up"] != 24 {
			t.Errorf("tests per job = %v; want 24 each", n)
		}
	})
}

// TestLatencyWaitsForTheLine: a latency round due during a throughput test
// waits for it, and for the line to drain, instead of measuring the test's
// queue; and a throughput test due during a latency round waits too.
func TestLatencyWaitsForTheLine(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := ScheduleConfig{Mode: ModeSlots}
		lat := throughputJob("latency", fibremon.KindLatency, s)
		lat.Target = "127.0.0.1:1"
		a, runs := simAgent(t, 20*time.Second, throughputJob("down", fibremon.KindDownload, s), lat)
		simulate(a, 2*time.Hour, func(i int, m MeasurementConfig) planner {
			return newPlanner(m, 0, rand.New(rand.NewPCG(3, 3)))
		})
		rs := runs()
		sort.Slice(rs, func(i, j int) bool { return rs[i].start.Before(rs[j].start) })
		waited := 0
		for i := 1; i < len(rs); i++ {
			if rs[i].start.Before(rs[i-1].end) {
				t.Errorf("%s at %s overlaps %s until %s", rs[i].name, rs[i].start.Format(time.TimeOnly),
					rs[i-1].name, rs[i-1].end.Format(time.TimeOnly))
			}
			if rs[i].name == "latency" && rs[i-1].name == "down" && rs[i].start.Sub(rs[i-1].end) < time.Minute {
				if rs[i].start.Before(rs[i-1].end.Add(lineDrain)) {
					t.Errorf("latency at %s, %v after the download ended; want at least %v", rs[i].start.Format(time.TimeOnly),
						rs[i].start.Sub(rs[i-1].end), lineDrain)
				}
				waited++
			}
		}
		if waited == 0 {
			t.Fatal("no latency round was due during a download; the test proves nothing")
		}
	})
}
