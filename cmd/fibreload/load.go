package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"fibremon"
	"fibremon/internal/fibrehttp"
)

// Error kinds of a run. Any of them fails it.
const (
	errTransport   = "transport"    // no HTTP answer (connection refused or reset, timeout)
	errBadAnswer   = "bad_answer"   // a 2xx whose stored/duplicates do not add up
	errResendStore = "resend_store" // a batch sent again stored results anew
	errMissing     = "missing"      // acknowledged but not stored
	errUnexpected  = "unexpected"   // stored but never acknowledged (nor in doubt)
	errStoredTwice = "stored_twice" // one UUID stored more than once
	errPartial     = "partial"      // a batch in doubt stored in part: not all-or-nothing
	errVerify      = "verify"       // reading the stored results back failed
)

// batch is one POST body and the UUIDs in it.
type batch struct {
	body []byte
	ids  []uuid.UUID
	// acked: the service acknowledged it; sending it again is a resend.
	acked bool
	// failed: an attempt got no 2xx, so the batch may be stored or not
	// until a later attempt is acknowledged.
	failed bool
}

// probe is one simulated probe agent. Only the worker holding it (taken
// from the ready queue) touches it.
type probe struct {
	cred
	rng     *rand.Rand
	last    time.Time   // start of its newest result: starts strictly increase
	pending *batch      // to send next: a retry or a resend
	acked   []uuid.UUID // every result acknowledged as stored
	doubt   []*batch    // batches never acknowledged after a failed attempt
}

// tally is what one worker counts; merged at the end.
type tally struct {
	results, batches, resends int64
	hist                      histogram
	errors                    map[string]int64
	samples                   map[string]string // an error message per kind
}

func (t *tally) fail(kind, sample string) {
	if t.errors == nil {
		t.errors, t.samples = map[string]int64{}, map[string]string{}
	}
	t.errors[kind]++
	if _, ok := t.samples[kind]; !ok && sample != "" {
		t.samples[kind] = sample
	}
}

// report is the outcome of one run against one store.
type report struct {
	store   string
	elapsed time.Duration
	// cpu is the CPU time each process used during the run (with
	// --compare-raw: "influxd", "fibreload", "fibremon"); nil when not
	// measured.
	cpu      map[string]time.Duration
	probes   int
	batch    int
	results  int64 // results acknowledged on first acknowledgement
	batches  int64 // 2xx answers, resends included
	resends  int64
	hist     histogram
	errors   map[string]int64
	samples  map[string]string
	acked    int // distinct UUIDs acknowledged
	stored   int // distinct UUIDs read back
	inDoubt  int // results of batches whose outcome stayed unknown
	verified time.Duration
	// verifyErr is the first error reading results back, if any.
	verifyErr string
	// big is the outcome of a big-batch run (--big-batches), which
	// replaces the load's figures.
	big *bigReport
}

func (r *report) ok() bool {
	if r.big != nil {
		return r.big.ok()
	}
	return len(r.errors) == 0 && r.acked == r.stored
}

// load runs cfg's load against base with one simulated probe per cred,
// then verifies what the service stored.
func load(ctx context.Context, cfg config, base string, creds []cred, store string, stderr io.Writer) (*report, error) {
	client := &http.Client{
		Timeout: cfg.timeout,
		Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        cfg.concurrency,
			MaxIdleConnsPerHost: cfg.concurrency,
			MaxConnsPerHost:     cfg.concurrency,
			IdleConnTimeout:     time.Minute,
			DisableCompression:  true,
		},
	}
	defer client.CloseIdleConnections()
	endpoint := strings.TrimRight(base, "/") + fibrehttp.PathResults

	ready := make(chan *probe, len(creds))
	probes := make([]*probe, len(creds))
	seed := rand.Uint64()
	for i, c := range creds {
		probes[i] = &probe{cred: c, rng: rand.New(rand.NewPCG(seed, uint64(i)))}
		ready <- probes[i]
	}
	begin := time.Now()
	deadline := begin.Add(cfg.duration)
	// One tally per worker; a worker holds a probe, so no more than probes.
	tallies := make([]*tally, min(cfg.concurrency, len(creds)))
	// acked counts the results acknowledged so far, for the progress lines.
	var acked atomic.Int64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	if cfg.progress > 0 {
		// Liveness: returns when the workers are done.
		go func() {
			tick := time.NewTicker(cfg.progress)
			defer tick.Stop()
			last, lastAt := int64(0), begin
			for {
				select {
				case <-stop:
					return
				case now := <-tick.C:
					n := acked.Load()
					fmt.Fprintf(stderr, "%s: %3.0f s  %8d results acknowledged  %6.0f results/s over the last %v\n",
						store, now.Sub(begin).Seconds(), n, float64(n-last)/now.Sub(lastAt).Seconds(), cfg.progress)
					last, lastAt = n, now
				}
			}
		}()
	}
	// Liveness: each worker returns at the deadline or when ctx is done,
	// after its request in flight (bounded by client.Timeout) ends. A
	// probe is held by one worker at a time, so one probe never has two
	// batches in flight.
	for w := range tallies {
		t := &tally{}
		tallies[w] = t
		wg.Go(func() {
			for ctx.Err() == nil && time.Now().Before(deadline) {
				p := <-ready
				if time.Now().Before(deadline) {
					acked.Add(p.step(ctx, client, endpoint, cfg, t))
				}
				ready <- p
			}
		})
	}
	wg.Wait()
	close(stop)
	rep := &report{store: store, elapsed: time.Since(begin), probes: len(creds), batch: cfg.batch}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for _, t := range tallies {
		rep.results += t.results
		rep.batches += t.batches
		rep.resends += t.resends
		rep.hist.merge(&t.hist)
		for k, v := range t.errors {
			if rep.errors == nil {
				rep.errors, rep.samples = map[string]int64{}, map[string]string{}
			}
			rep.errors[k] += v
			if _, ok := rep.samples[k]; !ok {
				rep.samples[k] = t.samples[k]
			}
		}
	}
	for _, p := range probes {
		if p.pending != nil && !p.pending.acked {
			p.doubt = append(p.doubt, p.pending)
		}
	}
	verifyStart := time.Now()
	if cfg.countDB != "" {
		// Every batch was acknowledged once or is in doubt: the points
		// must number the results acknowledged, plus whole batches in
		// doubt.
		n, err := countPoints(ctx, cfg.influxURL, cfg.influxToken, cfg.countDB)
		rep.acked, rep.stored = int(rep.results), n
		for _, p := range probes {
			for _, b := range p.doubt {
				rep.inDoubt += len(b.ids)
			}
		}
		if err != nil || n < rep.acked || n > rep.acked+rep.inDoubt {
			if rep.errors == nil {
				rep.errors = map[string]int64{}
			}
			rep.errors[errVerify]++
			if err != nil {
				rep.verifyErr = err.Error()
			} else {
				rep.verifyErr = fmt.Sprintf("%d points in InfluxDB; want %d acknowledged (+ up to %d in doubt)", n, rep.acked, rep.inDoubt)
			}
		}
		rep.stored = min(n, rep.acked) // the check passed: stored is what was acknowledged
		rep.verified = time.Since(verifyStart)
		return rep, nil
	}
	verify(ctx, base, begin.Add(-time.Hour), probes, rep)
	rep.verified = time.Since(verifyStart)
	return rep, nil
}

// step makes the probe post one batch: its pending one, or a new one. It
// returns the number of results acknowledged for the first time.
func (p *probe) step(ctx context.Context, client *http.Client, endpoint string, cfg config, t *tally) int64 {
	b := p.pending
	p.pending = nil
	if b == nil {
		b = p.newBatch(cfg.batch)
	}
	start := time.Now()
	code, ans, err := post(ctx, client, endpoint, p.token, b.body)
	if ctx.Err() != nil {
		// The run was interrupted: the outcome is unknown.
		if !b.acked {
			p.pending = b
		}
		return 0
	}
	switch {
	case err != nil:
		t.fail(errTransport, err.Error())
	case code/100 != 2:
		t.fail(fmt.Sprintf("http_%d", code), string(ans.raw))
	}
	if err != nil || code/100 != 2 {
		switch {
		case b.acked:
			// A failed resend changes nothing: the batch is stored.
		case code/100 == 4 && code != http.StatusRequestTimeout && code != http.StatusTooManyRequests:
			// Refused for good: none of it may be stored (the check
			// counts any of it found as unexpected) unless an earlier
			// attempt may have stored it.
			if b.failed {
				p.doubt = append(p.doubt, b) // an earlier attempt may have stored it
			}
		default:
			b.failed = true
			p.pending = b // retried, as a probe's spool does
			time.Sleep(50 * time.Millisecond)
		}
		return 0
	}
	t.hist.record(time.Since(start))
	t.batches++
	n := len(b.ids)
	switch {
	case ans.Stored+ans.Duplicates != n:
		t.fail(errBadAnswer, string(ans.raw))
	case b.acked && ans.Stored != 0:
		t.fail(errResendStore, string(ans.raw))
	case !b.acked && !b.failed && ans.Duplicates != 0:
		t.fail(errBadAnswer, string(ans.raw))
	}
	if b.acked {
		t.resends++
		return 0
	}
	b.acked = true
	t.results += int64(n)
	p.acked = append(p.acked, b.ids...)
	if p.rng.Float64() < cfg.resend {
		p.pending = b // the acknowledgement was "lost": send it again
	}
	return int64(n)
}

// answer is the service's answer to a POST: decoded when 2xx.
type answer struct {
	fibrehttp.ResultsResponse
	raw []byte
}

// post sends one body and decodes a 2xx answer.
func post(ctx context.Context, client *http.Client, endpoint, token string, body []byte) (int, answer, error) {
	var ans answer
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return 0, ans, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		return 0, ans, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return 0, ans, err
	}
	ans.raw = bytes.TrimSpace(raw)
	if resp.StatusCode/100 == 2 {
		if err := json.Unmarshal(raw, &ans.ResultsResponse); err != nil {
			return resp.StatusCode, ans, fmt.Errorf("answer %q: %w", raw, err)
		}
	}
	return resp.StatusCode, ans, nil
}

// Kinds of result a probe makes, weighted like a probe's schedule: many
// availability checks, few speed tests.
var kindWeights = []struct {
	kind   fibremon.Kind
	weight float64
}{
	{fibremon.KindLatency, 0.30},
	{fibremon.KindHTTP, 0.25},
	{fibremon.KindTCP, 0.18},
	{fibremon.KindDNS, 0.17},
	{fibremon.KindDownload, 0.05},
	{fibremon.KindUpload, 0.05},
}

// newBatch makes n results, each with a fresh UUID, started just before
// now and after the probe's previous results.
func (p *probe) newBatch(n int) *batch {
	rs, ids := p.newResults(n)
	return &batch{body: appendRequest(make([]byte, 0, 400*n), rs), ids: ids}
}

// newResults makes the n results of a new batch, and their UUIDs, their
// starts spread evenly over the time since the probe's previous batch (at
// most 10 s; the first batch: the last 10 s), as a probe's batch holds
// what it measured since its last upload.
func (p *probe) newResults(n int) ([]fibremon.Result, []uuid.UUID) {
	rs := make([]fibremon.Result, n)
	ids := make([]uuid.UUID, n)
	now := time.Now().UTC()
	from := now.Add(-10 * time.Second)
	if p.last.After(from) {
		from = p.last
	}
	step := now.Sub(from) / time.Duration(n)
	for i := range rs {
		ids[i] = newID() // as the probe mints them
		start := from.Add(step * time.Duration(i+1))
		if !start.After(p.last) {
			start = p.last.Add(time.Microsecond)
		}
		p.last = start
		rs[i] = p.result(ids[i].String(), start)
	}
	return rs, ids
}

// result is one realistic result of a line of some 100 to 1000 Mbit/s.
func (p *probe) result(id string, start time.Time) fibremon.Result {
	rng := p.rng
	x := rng.Float64()
	kind := kindWeights[len(kindWeights)-1].kind
	for _, kw := range kindWeights {
		if x < kw.weight {
			kind = kw.kind
			break
		}
		x -= kw.weight
	}
	r := fibremon.Result{ID: id, SiteID: p.site, Probe: p.probe, Kind: kind, Start: start, Up: rng.Float64() >= 0.03}
	rtt := 0.004 + rng.ExpFloat64()*0.003
	switch kind {
	case fibremon.KindLatency:
		r.Method, r.Target, r.DurationSeconds = "icmp", "193.204.114.105", 2.0+rng.Float64()*0.1
		recv := 10.0
		if !r.Up {
			recv = 0
		} else if rng.Float64() < 0.1 {
			recv = 9
		}
		r.Values = map[string]float64{
			fibremon.PacketsSent: 10, fibremon.PacketsReceived: recv, fibremon.LossRatio: (10 - recv) / 10,
		}
		if recv > 0 {
			r.Values[fibremon.MinRTTSeconds] = rtt
			r.Values[fibremon.AvgRTTSeconds] = rtt * 1.2
			r.Values[fibremon.MaxRTTSeconds] = rtt * 2
			r.Values[fibremon.P95RTTSeconds] = rtt * 1.8
			r.Values[fibremon.JitterSeconds] = rtt * 0.1
		}
		if !r.Up {
			r.Error = "no reply to 10 echo requests"
		}
	case fibremon.KindHTTP:
		r.Method, r.Target, r.DurationSeconds = "http-get", "https://www.comune.ripaltacremasca.cr.it/", 0.05+rtt*10
		if r.Up {
			r.Values = map[string]float64{fibremon.HTTPStatusCode: 200}
		} else {
			r.Error = "Get \"https://www.comune.ripaltacremasca.cr.it/\": context deadline exceeded"
		}
	case fibremon.KindTCP:
		r.Method, r.Target, r.DurationSeconds = "tcp-connect", "193.204.114.105:443", rtt
		if !r.Up {
			r.Error = "dial tcp 193.204.114.105:443: connect: connection refused"
		}
	case fibremon.KindDNS:
		r.Method, r.Target, r.DurationSeconds = "dns-udp", "www.comune.ripaltacremasca.cr.it", rtt*2
		if r.Up {
			r.Values = map[string]float64{fibremon.DNSAnswers: 2}
		} else {
			r.Values = map[string]float64{fibremon.DNSAnswers: 0}
			r.Error = "lookup www.comune.ripaltacremasca.cr.it: i/o timeout"
		}
	case fibremon.KindDownload, fibremon.KindUpload:
		rate := 12.5e6 + rng.Float64()*112.5e6 // 100 to 1000 Mbit/s
		name := fibremon.DownloadBytesPerSecond
		if kind == fibremon.KindUpload {
			name, rate = fibremon.UploadBytesPerSecond, rate*0.3
		}
		r.Method, r.Target, r.DurationSeconds = "ndt7", "ws://fibremon.example.net/ndt/v7/"+string(kind), 10
		if r.Up {
			r.Values = map[string]float64{
				name: rate, fibremon.TransferredBytes: rate * 10,
				fibremon.MinRTTSeconds: rtt, fibremon.RetransmissionRatio: rng.Float64() * 0.01,
			}
		} else {
			r.DurationSeconds = 3
			r.Error = "ndt7 " + string(kind) + ": websocket: close 1006 (abnormal closure): unexpected EOF"
		}
	}
	return r
}

// newID mints a result id the way fibreprobe does: a version 7 UUID,
// time-ordered.
func newID() uuid.UUID {
	id, err := uuid.NewV7()
	if err != nil {
		return uuid.New()
	}
	return id
}
