package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"fibremon"
	"fibremon/internal/fibrehttp"
)

// The big-batch run (--big-batches N): N batches of --batch results, each
// body about --big-bytes, all posted at the same moment by one probe (one
// token), as after a long outage of a probe's link with a large spool, or
// as an abuse of one stolen token. Each batch is retried until it is
// acknowledged, honouring Retry-After on 503 as the probe's uploader does.
// The service's peak resident memory (VmHWM of /proc/<pid>/status) is
// read when the service is the self-contained one, or --big-pid.
//
// It checks, as the load does, that every acknowledged result is stored
// once and nothing else is.

// bigReport is the outcome of a big-batch run.
type bigReport struct {
	store          string
	batches        int
	results        int // per batch
	bodyBytes      int // of each body
	elapsed        time.Duration
	busy           int64 // 503 answers
	retryAfterMiss int64 // 503 answers without Retry-After
	transport      int64 // attempts without an HTTP answer
	other          map[int]int64
	sample         string
	acked          int // batches acknowledged
	rssBefore      int64
	hwmBefore      int64
	hwm            int64 // peak resident set of the service, bytes; 0: not read
	rssMax         int64 // largest VmRSS sampled
	check          *report
}

func (r *bigReport) ok() bool {
	return r.acked == r.batches && len(r.other) == 0 && r.retryAfterMiss == 0 && r.check.ok()
}

// bigResult is a failed availability check whose target and error are
// padded so that the result's JSON takes about size bytes (target and
// error at most fibremon.MaxTextLength each).
func bigResult(p *probe, id string, start time.Time, size int) fibremon.Result {
	r := fibremon.Result{ID: id, SiteID: p.site, Probe: p.probe, Kind: fibremon.KindHTTP, Method: "http-get",
		Target: "https://www.comune.ripaltacremasca.cr.it/", Start: start, DurationSeconds: 5,
		Error: "Get \"https://www.comune.ripaltacremasca.cr.it/\": context deadline exceeded"}
	pad := size - len(appendResult(nil, &r))
	if pad <= 0 {
		return r
	}
	t := min(pad, fibremon.MaxTextLength-len(r.Target)-3)
	if t > 0 {
		r.Target += "?q=" + strings.Repeat("x", t)
		pad -= t + 3
	}
	if e := min(pad, fibremon.MaxTextLength-len(r.Error)-2); e > 0 {
		r.Error += ": " + strings.Repeat("y", e)
	}
	return r
}

// newBigBatch makes a batch of n results whose body takes about size bytes.
func (p *probe) newBigBatch(n, size int) *batch {
	rs := make([]fibremon.Result, n)
	ids := make([]uuid.UUID, n)
	now := time.Now().UTC()
	per := (size - len(`{"results":[]}`)) / n
	for i := range rs {
		ids[i] = newID()
		start := now.Add(-time.Duration(n-i) * time.Millisecond)
		if !start.After(p.last) {
			start = p.last.Add(time.Microsecond)
		}
		p.last = start
		rs[i] = bigResult(p, ids[i].String(), start, per-1)
	}
	return &batch{body: appendRequest(make([]byte, 0, size+n), rs), ids: ids}
}

// procStatus reads VmRSS and VmHWM, in bytes, of process pid.
func procStatus(pid int) (rss, hwm int64, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), ":")
		if !ok || (name != "VmRSS" && name != "VmHWM") {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(val), " kB"), 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("/proc/%d/status %s: %w", pid, name, err)
		}
		if name == "VmRSS" {
			rss = kb << 10
		} else {
			hwm = kb << 10
		}
	}
	return rss, hwm, sc.Err()
}

// bigLoad runs the big-batch run against base with the probe of c, and
// reads the memory of process pid (0: not read).
func bigLoad(ctx context.Context, cfg config, base string, c cred, pid int, store string, stderr io.Writer) (*bigReport, error) {
	p := &probe{cred: c, rng: rand.New(rand.NewPCG(rand.Uint64(), 0))}
	batches := make([]*batch, cfg.bigBatches)
	for i := range batches {
		batches[i] = p.newBigBatch(cfg.batch, cfg.bigBytes)
		if len(batches[i].body) > fibrehttp.MaxBodyBytes {
			return nil, fmt.Errorf("a batch of %d results takes %d bytes, over the service's %d: lower --big-bytes",
				cfg.batch, len(batches[i].body), fibrehttp.MaxBodyBytes)
		}
	}
	rep := &bigReport{store: store, batches: len(batches), results: cfg.batch, bodyBytes: len(batches[0].body), other: map[int]int64{}}
	if pid > 0 {
		var err error
		if rep.rssBefore, rep.hwmBefore, err = procStatus(pid); err != nil {
			return nil, err
		}
	}
	fmt.Fprintf(stderr, "%s: posting %d batches of %d results (%d bytes each) at once on one token\n",
		store, len(batches), cfg.batch, rep.bodyBytes)

	client := &http.Client{
		Timeout: cfg.timeout,
		Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
			MaxIdleConnsPerHost: len(batches),
			DisableCompression:  true,
		},
	}
	defer client.CloseIdleConnections()
	endpoint := strings.TrimRight(base, "/") + fibrehttp.PathResults
	deadline := time.Now().Add(cfg.duration)

	// The sampler reads VmRSS every 10 ms (VmHWM, read at the end, is
	// the kernel's own peak and misses nothing between two samples).
	// Liveness: returns when stop is closed.
	stop := make(chan struct{})
	var sampler sync.WaitGroup
	var rssMax atomic.Int64
	if pid > 0 {
		sampler.Go(func() {
			tick := time.NewTicker(10 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
					if rss, _, err := procStatus(pid); err == nil && rss > rssMax.Load() {
						rssMax.Store(rss)
					}
				}
			}
		})
	}

	var mu sync.Mutex
	begin := make(chan struct{})
	var wg sync.WaitGroup
	start := time.Now()
	// Liveness: each poster returns once its batch is acknowledged,
	// refused for good, or at the deadline (each attempt is bounded by
	// client.Timeout).
	for _, b := range batches {
		wg.Go(func() {
			<-begin
			for ctx.Err() == nil && time.Now().Before(deadline) {
				code, ans, retryAfter, err := postBig(ctx, client, endpoint, c.token, b.body)
				mu.Lock()
				switch {
				case err != nil:
					rep.transport++
					b.failed = true
				case code/100 == 2:
					if ans.Stored+ans.Duplicates != len(b.ids) || (!b.failed && ans.Duplicates != 0) {
						rep.other[code]++
						rep.sample = string(ans.raw)
					}
					b.acked = true
					rep.acked++
				case code == http.StatusServiceUnavailable:
					rep.busy++
					if retryAfter <= 0 {
						rep.retryAfterMiss++
					}
				default:
					rep.other[code]++
					rep.sample = string(ans.raw)
				}
				mu.Unlock()
				if b.acked || (err == nil && code != http.StatusServiceUnavailable) {
					return
				}
				// As the probe's uploader: at least Retry-After, with
				// jitter so the retries do not come back together.
				wait := max(retryAfter, time.Second)
				wait += time.Duration(rand.Int64N(int64(wait) / 2))
				select {
				case <-ctx.Done():
				case <-time.After(wait):
				}
			}
		})
	}
	close(begin)
	wg.Wait()
	rep.elapsed = time.Since(start)
	close(stop)
	sampler.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if pid > 0 {
		rss, hwm, err := procStatus(pid)
		if err != nil {
			return nil, err
		}
		rep.hwm, rep.rssMax = hwm, max(rssMax.Load(), rss)
	}
	for _, b := range batches {
		if b.acked {
			p.acked = append(p.acked, b.ids...)
		} else if b.failed {
			p.doubt = append(p.doubt, b)
		}
	}
	rep.check = &report{store: store}
	verify(ctx, base, time.Now().Add(-time.Hour), []*probe{p}, rep.check)
	return rep, nil
}

// postBig posts body and returns the status, the answer and the
// Retry-After of a 503.
func postBig(ctx context.Context, client *http.Client, endpoint, token string, body []byte) (int, answer, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return 0, answer{}, 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		return 0, answer{}, 0, err
	}
	defer resp.Body.Close()
	var ans answer
	ans.raw, _ = io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	ans.raw = bytes.TrimSpace(ans.raw)
	var retryAfter time.Duration
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
		retryAfter = time.Duration(s) * time.Second
	}
	if resp.StatusCode/100 == 2 {
		if err := json.Unmarshal(ans.raw, &ans.ResultsResponse); err != nil {
			return resp.StatusCode, ans, 0, fmt.Errorf("answer %q: %w", ans.raw, err)
		}
	}
	return resp.StatusCode, ans, retryAfter, nil
}

// printBigReport prints the outcome of a big-batch run.
func printBigReport(w io.Writer, r *bigReport) {
	mib := func(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
	fmt.Fprintf(w, "%s: %d batches of %d results, %s each, posted at once: %d acknowledged in %.1f s; %d answers 503 (%d without Retry-After), %d attempts without an answer\n",
		r.store, r.batches, r.results, mib(int64(r.bodyBytes)), r.acked, r.elapsed.Seconds(), r.busy, r.retryAfterMiss, r.transport)
	if r.hwm > 0 {
		fmt.Fprintf(w, "%s: service memory: VmRSS %s before; peak VmHWM %s (largest VmRSS sampled %s)\n",
			r.store, mib(r.rssBefore), mib(r.hwm), mib(r.rssMax))
	} else {
		fmt.Fprintf(w, "%s: service memory not read (give --big-pid for a service not started here)\n", r.store)
	}
	for code, n := range r.other {
		fmt.Fprintf(w, "%s: %d unexpected answers %d, e.g. %.300s\n", r.store, n, code, r.sample)
	}
	verdict := "ok"
	if !r.ok() {
		verdict = "FAIL"
	}
	fmt.Fprintf(w, "%s: %d results acknowledged, %d stored, %d in doubt; verdict %s\n",
		r.store, r.check.acked, r.check.stored, r.check.inDoubt, verdict)
	for k, n := range r.check.errors {
		fmt.Fprintf(w, "%s: check %s=%d %s\n", r.store, k, n, r.check.verifyErr)
	}
}
