package main

// The side-by-side benchmark of the InfluxDB store (--compare-raw): the
// same kind of load written straight to InfluxDB and through fibremon.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"fibremon/internal/influx"
)

// rawLoad writes cfg's load straight to InfluxDB with w: each of
// cfg.concurrency workers takes a simulated probe, makes a batch of
// cfg.batch results as load does, and writes it in one blocking request,
// until cfg.duration has passed. Then it counts the points in db.
func rawLoad(ctx context.Context, cfg config, creds []cred, w *influx.RawWriter, db, name string) (*report, error) {
	ready := make(chan *probe, len(creds))
	seed := rand.Uint64()
	for i, c := range creds {
		ready <- &probe{cred: c, rng: rand.New(rand.NewPCG(seed, uint64(i)))}
	}
	procs := map[string]int{"fibreload": os.Getpid(), "influxd": cfg.influxPID}
	before := cpuTimes(procs)
	begin := time.Now()
	deadline := begin.Add(cfg.duration)
	tallies := make([]*tally, min(cfg.concurrency, len(creds)))
	var wg sync.WaitGroup
	// Liveness: each worker returns at the deadline or when ctx is done,
	// after its write in flight (bounded by the client's timeout).
	for i := range tallies {
		t := &tally{}
		tallies[i] = t
		wg.Go(func() {
			for ctx.Err() == nil && time.Now().Before(deadline) {
				p := <-ready
				rs, _ := p.newResults(cfg.batch)
				start := time.Now()
				if err := w.Write(ctx, rs); err != nil {
					if ctx.Err() == nil {
						t.fail("raw_write", err.Error())
					}
				} else {
					t.hist.record(time.Since(start))
					t.batches++
					t.results += int64(len(rs))
				}
				ready <- p
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	rep := &report{store: name, elapsed: time.Since(begin), probes: len(creds), batch: cfg.batch,
		cpu: cpuSince(procs, before)}
	for _, t := range tallies {
		rep.results += t.results
		rep.batches += t.batches
		rep.hist.merge(&t.hist)
		for k, v := range t.errors {
			if rep.errors == nil {
				rep.errors, rep.samples = map[string]int64{}, map[string]string{}
			}
			rep.errors[k] += v
			rep.samples[k] = t.samples[k]
		}
	}
	verifyStart := time.Now()
	n, err := countPoints(ctx, cfg.influxURL, cfg.influxToken, db)
	rep.verified = time.Since(verifyStart)
	rep.acked, rep.stored = int(rep.results), n
	if err != nil {
		rep.verifyErr = err.Error()
		if rep.errors == nil {
			rep.errors = map[string]int64{}
		}
		rep.errors[errVerify]++
	}
	return rep, nil
}

// countPoints counts the results (points with a result_id) in db.
func countPoints(ctx context.Context, base, token, db string) (int, error) {
	q := url.Values{"db": {db}, "q": {`SELECT count("result_id") FROM "probe_result"`}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(base, "/")+"/query?"+q.Encode(), nil)
	if err != nil {
		return 0, err
	}
	if user, pass, ok := strings.Cut(token, ":"); ok {
		req.SetBasicAuth(user, pass)
	}
	resp, err := (&http.Client{Timeout: 5 * time.Minute}).Do(req)
	if err != nil {
		return 0, fmt.Errorf("count points in %s: %w", db, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var ans struct {
		Results []struct {
			Error  string
			Series []struct{ Values [][]any }
		}
	}
	if err := json.Unmarshal(body, &ans); err != nil || len(ans.Results) != 1 || ans.Results[0].Error != "" {
		return 0, fmt.Errorf("count points in %s: %s %s", db, resp.Status, body)
	}
	s := ans.Results[0].Series
	if len(s) == 0 {
		return 0, nil
	}
	if len(s) != 1 || len(s[0].Values) != 1 || len(s[0].Values[0]) != 2 {
		return 0, fmt.Errorf("count points in %s: %s", db, body)
	}
	n, ok := s[0].Values[0][1].(float64)
	if !ok {
		return 0, fmt.Errorf("count points in %s: %s", db, body)
	}
	return int(n), nil
}

// round is one round of the comparison.
type round struct {
	raw, service *report
}

// compareRaw runs cfg.rounds rounds, each a raw run and a run through a
// fresh `fibremon serve` on InfluxDB (alternating which goes first), each
// on a database of its own, and prints both rates and their ratio per
// round and as medians.
func compareRaw(ctx context.Context, cfg config, bin, dir string, stdout, stderr io.Writer) error {
	creds := make([]cred, cfg.probes)
	for i := range creds {
		creds[i] = cred{probe: fmt.Sprintf("load-probe-%05d", i), site: fmt.Sprintf("load-site-%05d", i)}
	}
	var rounds []round
	var failed []string
	for r := 1; r <= cfg.rounds; r++ {
		var rd round
		runRaw := func() error {
			db := "fibreload_raw_" + randomHex(6)
			if err := createInfluxDatabase(ctx, cfg.influxURL, cfg.influxToken, db); err != nil {
				return err
			}
			w := influx.NewRawWriter(influx.Config{URL: cfg.influxURL, Token: cfg.influxToken, Bucket: db + "/autogen", Timeout: cfg.timeout})
			defer w.Close()
			fmt.Fprintf(stderr, "round %d: raw: %d writers, %d results a batch, %v, straight to %s database %s\n",
				r, min(cfg.concurrency, cfg.probes), cfg.batch, cfg.duration, cfg.influxURL, db)
			rep, err := rawLoad(ctx, cfg, creds, w, db, fmt.Sprintf("raw #%d", r))
			rd.raw = rep
			return err
		}
		runService := func() error {
			rep, err := loadStore(ctx, cfg, bin, dir, "influx", stderr)
			if rep != nil {
				rep.store = fmt.Sprintf("fibremon #%d", r)
			}
			rd.service = rep
			return err
		}
		steps := []func() error{runRaw, runService}
		if r%2 == 0 {
			steps = []func() error{runService, runRaw}
		}
		for _, step := range steps {
			// InfluxDB compacts what a run wrote after it: not during
			// the next one.
			waitQuiet(ctx, cfg.influxPID, stderr)
			if err := step(); err != nil {
				return err
			}
		}
		for _, rep := range []*report{rd.raw, rd.service} {
			if !rep.ok() {
				failed = append(failed, rep.store)
			}
		}
		rounds = append(rounds, rd)
	}
	var reps []*report
	for _, rd := range rounds {
		reps = append(reps, rd.raw, rd.service)
	}
	printReports(stdout, reps)
	printComparison(stdout, cfg, rounds)
	if len(failed) > 0 {
		return fmt.Errorf("errors or mismatches in %v", failed)
	}
	return nil
}

// waitQuiet waits until the process pid (influxd) has used under 5 % of
// a CPU over 2 seconds, at most 3 minutes; with no pid, 10 seconds.
func waitQuiet(ctx context.Context, pid int, stderr io.Writer) {
	if pid == 0 {
		select {
		case <-ctx.Done():
		case <-time.After(10 * time.Second):
		}
		return
	}
	begin := time.Now()
	prev, err := cpuTime(pid)
	for err == nil && time.Since(begin) < 3*time.Minute {
		select {
		case <-ctx.Done():
			return
		case <-time.After(2 * time.Second):
		}
		var now time.Duration
		if now, err = cpuTime(pid); err == nil {
			if now-prev < 100*time.Millisecond {
				fmt.Fprintf(stderr, "influxd quiet after %.0f s\n", time.Since(begin).Seconds())
				return
			}
			prev = now
		}
	}
	fmt.Fprintf(stderr, "influxd not quiet after %.0f s (%v); going on\n", time.Since(begin).Seconds(), err)
}

// cpuTime is the user and system CPU time process pid has used
// (/proc/<pid>/stat, fields 14 and 15, in clock ticks of 1/100 s).
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// the command name, field 2, is in parentheses and may hold spaces
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: %q", pid, b)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %q", pid, b)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %q", pid, b)
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond, nil
}

// pinApart sets the CPU affinity of every thread of influxd (pid) to cpu,
// and of this process to every other CPU; the processes it starts after
// inherit that. It uses taskset (util-linux).
func pinApart(pid, cpu int) error {
	var others []string
	for i := range runtime.NumCPU() {
		if i != cpu {
			others = append(others, strconv.Itoa(i))
		}
	}
	for _, p := range []struct {
		pid  int
		cpus string
	}{{pid, strconv.Itoa(cpu)}, {os.Getpid(), strings.Join(others, ",")}} {
		out, err := exec.Command("taskset", "-a", "-p", "-c", p.cpus, strconv.Itoa(p.pid)).CombinedOutput()
		if err != nil {
			return fmt.Errorf("taskset -a -p -c %s %d: %w\n%s", p.cpus, p.pid, err, out)
		}
	}
	return nil
}

// cpuTimes reads the CPU time of each process (pid 0: skipped).
func cpuTimes(procs map[string]int) map[string]time.Duration {
	out := make(map[string]time.Duration)
	for name, pid := range procs {
		if pid == 0 {
			continue
		}
		if d, err := cpuTime(pid); err == nil {
			out[name] = d
		}
	}
	return out
}

// cpuSince is the CPU time each process used since before.
func cpuSince(procs map[string]int, before map[string]time.Duration) map[string]time.Duration {
	now := cpuTimes(procs)
	out := make(map[string]time.Duration)
	for name, d := range now {
		if b, ok := before[name]; ok {
			out[name] = d - b
		}
	}
	return out
}

// cpuPerResult is the CPU time of the named process per result of r, in
// microseconds; -1 when not measured.
func cpuPerResult(r *report, name string) float64 {
	d, ok := r.cpu[name]
	if !ok || r.results == 0 {
		return -1
	}
	return float64(d.Microseconds()) / float64(r.results)
}

func rate(r *report) float64 { return float64(r.results) / r.elapsed.Seconds() }

// printComparison prints each round's rates and ratio, then the medians.
func printComparison(w io.Writer, cfg config, rounds []round) {
	fmt.Fprintf(w, "\nInfluxDB at %s: %d probes, %d results a batch, %d in flight, %v a run\n",
		cfg.influxURL, cfg.probes, cfg.batch, min(cfg.concurrency, cfg.probes), cfg.duration)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "round\traw results/s\tfibremon results/s\tfibremon/raw\t")
	var raws, svcs, ratios []float64
	for i, rd := range rounds {
		raw, svc := rate(rd.raw), rate(rd.service)
		raws, svcs, ratios = append(raws, raw), append(svcs, svc), append(ratios, svc/raw)
		fmt.Fprintf(tw, "%d\t%.0f\t%.0f\t%.3f\t\n", i+1, raw, svc, svc/raw)
	}
	mr, ms := median(raws), median(svcs)
	fmt.Fprintf(tw, "median\t%.0f\t%.0f\t%.3f\t\n", mr, ms, ms/mr)
	tw.Flush()
	// CPU time per result depends far less than throughput on what else
	// the machine runs: where every process shares the same cores, the
	// ratio of the totals is what the throughputs' ratio tends to.
	if cfg.influxPID != 0 {
		fmt.Fprintln(w, "\nCPU time per result, µs (influxd, the load generator, fibremon; total):")
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "round\traw: influxd\tfibreload\ttotal\tvia fibremon: influxd\tfibreload\tfibremon\ttotal\traw total / fibremon total\t")
		var cpuRatios []float64
		for i, rd := range rounds {
			ri, rf := cpuPerResult(rd.raw, "influxd"), cpuPerResult(rd.raw, "fibreload")
			si, sf, sm := cpuPerResult(rd.service, "influxd"), cpuPerResult(rd.service, "fibreload"), cpuPerResult(rd.service, "fibremon")
			ratio := (ri + rf) / (si + sf + sm)
			cpuRatios = append(cpuRatios, ratio)
			fmt.Fprintf(tw, "%d\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t%.3f\t\n", i+1, ri, rf, ri+rf, si, sf, sm, si+sf+sm, ratio)
		}
		fmt.Fprintf(tw, "median\t\t\t\t\t\t\t\t%.3f\t\n", median(cpuRatios))
		tw.Flush()
	}
	verdict := "met"
	if ms/mr < 0.9 {
		verdict = "MISSED"
	}
	fmt.Fprintf(w, "goal fibremon ≥ 0.9 × raw (ratio of the medians): %s; median of the rounds' ratios %.3f\n", verdict, median(ratios))
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
