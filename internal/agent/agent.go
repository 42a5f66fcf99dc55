package agent

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"fibremon"
	"fibremon/internal/spool"
	"fibremon/internal/wire"
	"fibremon/probes"
)

// Options are the agent's dependencies.
type Options struct {
	Logger   *slog.Logger
	Registry prometheus.Registerer
	// Dial, if set, carries every connection the agent makes (measurements
	// and uploads): the demo passes an emulated access line here.
	Dial probes.DialFunc
	// Token overrides the configured token (the demo issues its own).
	Token string
	// Splay bounds the random delay of each measurement's first run;
	// zero means the measurement's interval.
	Splay time.Duration
}

// Agent measures one site and forwards the results. Run it once.
type Agent struct {
	cfg    *Config
	logger *slog.Logger
	dial   probes.DialFunc // nil: probes dial directly
	queue  *spool.Queue
	// clients post to the service's URLs, in order of preference; cur is
	// the one in use. Only the uploader touches them.
	clients []*wire.Client
	cur     int
	m       *agentMetrics
	// line is held by the throughput test in progress, so that tests
	// never overlap on one line (a one-slot semaphore: a waiter can give
	// up when its ctx ends).
	line   chan struct{}
	queued chan struct{}
	splay  time.Duration
	// seed seeds each measurement's schedule; zero means random.
	seed uint64
	// measure makes one probe attempt; tests replace it to run schedules
	// on a simulated clock.
	measure func(ctx context.Context, m MeasurementConfig, t probes.Target) (probes.Measurement, *probes.Traffic, error)
	// rereadToken: the token comes from service.token_file, read again
	// before each Flush, so that a rotated token is used without a restart.
	rereadToken bool
}

// New opens the spool and builds the agent.
func New(cfg *Config, opts Options) (*Agent, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	token := opts.Token
	if token == "" {
		var err error
		if token, err = cfg.Token(); err != nil {
			return nil, err
		}
	}
	transport := &http.Transport{DialContext: nil, MaxIdleConns: 1, IdleConnTimeout: 90 * time.Second}
	if cfg.Service.CAFile != "" {
		pem, err := os.ReadFile(cfg.Service.CAFile)
		if err != nil {
			return nil, cfg.errAt("service.ca_file", "%v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, cfg.errAt("service.ca_file", "no PEM certificate in %s", cfg.Service.CAFile)
		}
		transport.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	q, err := spool.Open(cfg.Spool.Dir, spool.Options{MaxBytes: cfg.Spool.MaxBytes, MaxAge: cfg.Spool.MaxAge})
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	// Without an emulated line, probes dial directly (and latency can use
	// ICMP); uploads always need a dialer.
	uploadDial := opts.Dial
	if uploadDial == nil {
		uploadDial = (&net.Dialer{Timeout: 10 * time.Second}).DialContext
	}
	transport.DialContext = uploadDial
	hc := &http.Client{Timeout: cfg.Service.Timeout, Transport: transport}
	var clients []*wire.Client
	for _, u := range cfg.ServiceURLs() {
		clients = append(clients, &wire.Client{BaseURL: u, Token: token, HTTPClient: hc, UserAgent: "fibreprobe/" + cfg.Probe})
	}
	a := &Agent{
		cfg:     cfg,
		logger:  opts.Logger.With("component", "agent", "probe", cfg.Probe),
		dial:    opts.Dial,
		queue:   q,
		clients: clients,
		queued:  make(chan struct{}, 1),
		line:    make(chan struct{}, 1),
		splay:   opts.Splay,
	}
	a.rereadToken = opts.Token == "" && cfg.Service.TokenFile != ""
	a.measure = a.probe
	if opts.Registry != nil {
		a.m = newAgentMetrics(opts.Registry, cfg, q)
	} else {
		a.m = newAgentMetrics(prometheus.NewRegistry(), cfg, q)
	}
	return a, nil
}

// Close closes the spool. Call it after Run has returned.
func (a *Agent) Close() error { return a.queue.Close() }

// Spool returns the agent's queue statistics.
func (a *Agent) Spool() spool.Stats { return a.queue.Len() }

// Run schedules every measurement and drains the spool until ctx is done.
//
// Liveness: one goroutine per measurement and one uploader, all owned by
// Run's errgroup; each returns when ctx is done, and Run waits for them.
func (a *Agent) Run(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	for i, m := range a.cfg.Measurements {
		p := newPlanner(m, a.splay, a.rng(i))
		g.Go(func() error { return a.schedule(ctx, m, p) })
	}
	g.Go(func() error { return a.upload(ctx) })
	return g.Wait()
}

// rng returns the random source of the i-th measurement's schedule.
func (a *Agent) rng(i int) *rand.Rand {
	if a.seed == 0 {
		return rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	return rand.New(rand.NewPCG(a.seed, uint64(i)))
}

// schedule runs m whenever p says (see the schedule modes), so that a
// fleet never synchronises, until ctx is done.
func (a *Agent) schedule(ctx context.Context, m MeasurementConfig, p planner) error {
	at := p.first(time.Now())
	for {
		t := time.NewTimer(time.Until(at))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		r, ok := a.Measure(ctx, m)
		if ok { // a measurement that completed is kept, even during shutdown
			a.store(r)
		}
		at = p.next(time.Now())
	}
}

// store puts r in the spool and wakes the uploader. When the spool drops
// its oldest results to make room (a full disk, or its size or age
// bound), that is logged here as well as counted: they are lost.
func (a *Agent) store(r fibremon.Result) {
	dropped := a.queue.Len().Dropped
	err := a.queue.Put([]fibremon.Result{r})
	if s := a.queue.Len(); s.Dropped > dropped {
		a.logger.Warn("spool full: oldest results dropped unsent", "dropped_results", s.Dropped-dropped,
			"dropped_results_total", s.Dropped, "spooled_results", s.Results)
	}
	if err != nil {
		a.m.spoolErrors.Inc()
		a.logger.Error("result not spooled", "result_id", r.ID, "err", err)
		return
	}
	select {
	case a.queued <- struct{}{}:
	default:
	}
}

// Measure makes one attempt of m and returns its result, with a UUID minted
// now. ok is false when the probe itself is broken (misconfigured, not
// permitted): that says nothing about the line, so no result is made; the
// error is logged and counted.
func (a *Agent) Measure(ctx context.Context, m MeasurementConfig) (r fibremon.Result, ok bool) {
	if _, found := probes.Registry[m.Kind]; !found {
		a.logger.Error("no probe for kind", "kind", m.Kind)
		return r, false
	}
	if throughputKind(m.Kind) || m.Kind == fibremon.KindLatency {
		// A latency round during a throughput test would measure the
		// test's queue, not the line: both take the line.
		select {
		case a.line <- struct{}{}:
			defer func() {
				if !throughputKind(m.Kind) {
					<-a.line
					return
				}
				// The line is freed once drained; the result is
				// returned at once.
				go func() {
					a.drain(ctx)
					<-a.line
				}()
			}()
		case <-ctx.Done():
			return r, false
		}
	}
	// A version 7 UUID starts with the time it was minted, so the stores'
	// indexes of result ids grow at their end instead of at random places.
	id, err := uuid.NewV7()
	if err != nil {
		id = uuid.New()
	}
	r = fibremon.Result{
		ID:     id.String(),
		SiteID: a.cfg.SiteID,
		Probe:  a.cfg.Probe,
		Kind:   m.Kind,
		Target: m.Target,
		Start:  time.Now().UTC(),
	}
	mctx, cancel := context.WithTimeout(ctx, m.Timeout)
	defer cancel()
	meas, traffic, err := a.measure(mctx, m, probes.Target{Kind: m.Kind, Address: m.Target, Options: m.Options, Dial: a.dial})
	elapsed := time.Since(r.Start)
	a.m.duration.WithLabelValues(m.Name).Observe(elapsed.Seconds())
	if err != nil {
		if ctx.Err() != nil { // shutting down, not a broken probe
			return r, false
		}
		a.m.measurements.WithLabelValues(m.Name, "error").Inc()
		a.logger.Error("probe failed", "measurement", m.Name, "err", err)
		return r, false
	}
	r.DurationSeconds = elapsed.Seconds()
	r.Method = meas.Method
	r.Up = meas.Up
	r.Values = meas.Values
	r.Error = meas.Err
	if !r.Up && r.Error == "" {
		r.Error = "failed"
	}
	if len(r.Error) > fibremon.MaxTextLength {
		r.Error = r.Error[:fibremon.MaxTextLength]
	}
	void := traffic != nil && traffic.Void
	if traffic != nil {
		a.m.otherTraffic.WithLabelValues(m.Name).Set(traffic.OtherRatio)
		a.logger.Debug("other traffic during the test", "measurement", m.Name, "interface", traffic.Interface,
			"test_bytes", traffic.TestBytes, "other_bytes", traffic.OtherBytes, "void", void)
	}
	if void {
		a.logger.Warn("throughput test void: the line carried other traffic", "measurement", m.Name, "err", r.Error)
	}
	a.m.observe(m.Name, r, void)
	return r, true
}

// lineDrain is how long the line stays held after a throughput test, so
// that the test's last data drains from the line's queues before the next
// test: on a 0.7 Mbit/s uplink a latency round started at once sees its
// first half second of packets delayed by the upload's backlog.
const lineDrain = time.Second

// drain waits lineDrain, or until ctx is done.
func (a *Agent) drain(ctx context.Context) {
	t := time.NewTimer(lineDrain)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

func throughputKind(k fibremon.Kind) bool {
	return k == fibremon.KindDownload || k == fibremon.KindUpload
}

// probe makes one attempt of m with the probe of its kind.
func (a *Agent) probe(ctx context.Context, m MeasurementConfig, t probes.Target) (probes.Measurement, *probes.Traffic, error) {
	if throughputKind(m.Kind) {
		return probes.Throughput(ctx, t, a.logger)
	}
	meas, err := probes.Registry[m.Kind](ctx, t, a.logger)
	return meas, nil, err
}

// RunOnce measures every configured measurement once, in order, and returns
// the results without spooling them.
func (a *Agent) RunOnce(ctx context.Context) []fibremon.Result {
	var out []fibremon.Result
	for _, m := range a.cfg.Measurements {
		if r, ok := a.Measure(ctx, m); ok {
			out = append(out, r)
		}
	}
	return out
}

// Enqueue spools results for upload (used by `fibreprobe once --upload`).
func (a *Agent) Enqueue(rs []fibremon.Result) error {
	if len(rs) == 0 {
		return nil
	}
	return a.queue.Put(rs)
}

// upload drains the spool: Peek, POST, Ack on the service's acknowledgement,
// set aside (Reject) a batch the service judged invalid, back off with jitter
// on anything else (network, 5xx, 429, 401/403, a redirect or an answer
// that is not the service's).
func (a *Agent) upload(ctx context.Context) error {
	backoff := time.Duration(0)
	for {
		err := a.Flush(ctx)
		wait := a.cfg.Service.UploadInterval
		switch {
		case err == nil:
			backoff = 0
		case ctx.Err() != nil:
			return nil
		default:
			backoff = nextBackoff(backoff, wire.RetryAfter(err))
			wait = backoff
			a.logger.Warn("upload failed; will retry", "err", err, "retry_in_seconds", wait.Seconds(),
				"spooled_results", a.queue.Len().Results)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		case <-a.queued:
			t.Stop()
			if backoff > 0 { // a new result does not cut a backoff short
				select {
				case <-ctx.Done():
					return nil
				case <-time.After(wait):
				}
			}
		}
	}
}

// nextBackoff doubles from 1 s up to 5 min, with ±20 % jitter, and never
// waits less than the service asked for.
func nextBackoff(prev, retryAfter time.Duration) time.Duration {
	d := 2 * prev
	if d < time.Second {
		d = time.Second
	}
	if d > 5*time.Minute {
		d = 5 * time.Minute
	}
	d = time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
	return max(d, retryAfter)
}

// Flush uploads until the spool is empty or an upload fails and must be
// retried. Batches the service judged invalid are moved aside (dead
// letters, see `fibreprobe spool requeue`) and counted; Flush goes on.
// A token from service.token_file is read again first, so that a rotated
// token takes effect without a restart. Flush must not be called
// concurrently (Run calls it from its one uploader).
//
// Failover: with several service URLs (service.urls), a batch goes to the
// one in use; when that POST fails for any reason but the batch itself
// (network, 5xx, 429, 401/403, an answer not the service's), the same
// batch goes at once to the next URL, and so on once round the list. The
// first that acknowledges it stays in use. Only when every URL failed
// does Flush return the error and the uploader back off. A batch whose
// acknowledgement was lost may thus reach two replicas: the service
// stores a result once whichever replicas it reaches (its ID is the
// idempotency key of every store).
func (a *Agent) Flush(ctx context.Context) error {
	if a.rereadToken {
		if tok, err := a.cfg.Token(); err != nil {
			a.logger.Warn("cannot read the token file again; using the token read before", "err", err)
		} else if tok != a.clients[0].Token {
			for i, c := range a.clients {
				c2 := *c
				c2.Token = tok
				a.clients[i] = &c2
			}
			a.logger.Info("token file changed; uploading with the new token")
		}
	}
	for {
		b, err := a.queue.Peek(a.cfg.Service.BatchSize)
		if err != nil {
			return fmt.Errorf("spool peek: %w", err)
		}
		if len(b.Results) == 0 {
			return nil
		}
		resp, err := a.post(ctx, b.Results)
		switch {
		case err == nil:
			if err := a.queue.Ack(b); err != nil {
				return fmt.Errorf("spool ack: %w", err)
			}
			a.m.uploaded.Add(float64(len(b.Results)))
			a.m.lastUpload.SetToCurrentTime()
			a.logger.Debug("uploaded", "results", len(b.Results), "stored", resp.Stored, "duplicates", resp.Duplicates)
		case wire.Permanent(err):
			a.logger.Error("service refused a batch; moved to the spool's dead letters", "results", len(b.Results), "err", err)
			if rerr := a.queue.Reject(b, err.Error()); rerr != nil {
				return errors.Join(err, rerr)
			}
		default:
			a.queue.Release(b)
			return err
		}
	}
}

// ServiceURL is the service URL in use: the first of service.urls until a
// failover. Not to be called while Run runs.
func (a *Agent) ServiceURL() string { return a.clients[a.cur].BaseURL }

// post posts rs to the service URL in use and, when that fails for a
// reason other than the batch, to the others in turn (see Flush). Every
// POST is counted by outcome. It returns the first acknowledgement, the
// refusal of the batch, or the last URL's error.
func (a *Agent) post(ctx context.Context, rs []fibremon.Result) (wire.ResultsResponse, error) {
	var err error
	for i := range a.clients {
		k := (a.cur + i) % len(a.clients)
		c := a.clients[k]
		var resp wire.ResultsResponse
		resp, err = c.PostResults(ctx, rs)
		switch {
		case err == nil:
			a.m.uploads.WithLabelValues("ok").Inc()
		case wire.Permanent(err):
			a.m.uploads.WithLabelValues("rejected").Inc()
		case wire.Refused(err):
			a.m.uploads.WithLabelValues("unauthorized").Inc()
			a.logger.Error("service refused the probe's token; the batch stays spooled and is retried",
				"service_url", c.BaseURL, "results", len(rs), "err", err)
		case wire.Misdirected(err):
			a.m.uploads.WithLabelValues("misdirected").Inc()
			a.logger.Error("the service URL does not reach fibremon's results API; the batch stays spooled and is retried",
				"service_url", c.BaseURL, "results", len(rs), "err", err)
		default:
			a.m.uploads.WithLabelValues("failed").Inc()
		}
		if err == nil || wire.Permanent(err) {
			if k != a.cur {
				a.logger.Warn("uploading to another service URL", "service_url", c.BaseURL, "failed_url", a.clients[a.cur].BaseURL)
				a.m.failovers.WithLabelValues(c.BaseURL).Inc()
				a.cur = k
			}
			return resp, err
		}
		if ctx.Err() != nil {
			break
		}
		if len(a.clients) > 1 {
			a.logger.Warn("upload failed; trying the next service URL", "service_url", c.BaseURL,
				"next_url", a.clients[(k+1)%len(a.clients)].BaseURL, "err", err)
		}
	}
	return wire.ResultsResponse{}, err
}

// Describe says when m runs, for people.
func (m MeasurementConfig) Describe() string {
	s := m.Schedule
	switch s.Mode {
	case ModeSlots:
		return fmt.Sprintf("once per %v slot at a random offset", s.Slot)
	case ModeRandom:
		return fmt.Sprintf("random waits, exponential with mean %v, within %v–%v", s.Mean, s.Min, s.Max)
	}
	return fmt.Sprintf("every %v ±10 %%", m.Interval)
}

// Summary renders results as a table for people.
func Summary(rs []fibremon.Result) string {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KIND\tMETHOD\tTARGET\tTOOK\tSTATE\tRESULT")
	for _, r := range rs {
		state := "up"
		switch {
		case !r.Up && strings.HasPrefix(r.Error, probes.VoidPrefix):
			state = "VOID"
		case !r.Up:
			state = "DOWN"
		}
		took := time.Duration(r.DurationSeconds * float64(time.Second)).Round(100 * time.Microsecond)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%v\t%s\t%s\n", r.Kind, r.Method, r.Target, took, state, detail(r))
	}
	tw.Flush()
	return b.String()
}

func detail(r fibremon.Result) string {
	if !r.Up {
		return r.Error
	}
	var parts []string
	v := r.Values
	if x, ok := v[fibremon.DownloadBytesPerSecond]; ok {
		parts = append(parts, fmt.Sprintf("download %.1f Mbit/s", fibremon.ToMbitPerSecond(x)))
	}
	if x, ok := v[fibremon.UploadBytesPerSecond]; ok {
		parts = append(parts, fmt.Sprintf("upload %.1f Mbit/s", fibremon.ToMbitPerSecond(x)))
	}
	if x, ok := v[fibremon.MinRTTSeconds]; ok {
		parts = append(parts, fmt.Sprintf("rtt min %.2f ms", x*1000))
	}
	if x, ok := v[fibremon.AvgRTTSeconds]; ok {
		parts = append(parts, fmt.Sprintf("avg %.2f ms", x*1000))
	}
	if x, ok := v[fibremon.JitterSeconds]; ok {
		parts = append(parts, fmt.Sprintf("jitter %.2f ms", x*1000))
	}
	if x, ok := v[fibremon.LossRatio]; ok {
		parts = append(parts, fmt.Sprintf("loss %.1f %%", x*100))
	}
	if x, ok := v[fibremon.HTTPStatusCode]; ok {
		parts = append(parts, fmt.Sprintf("HTTP %d", int(x)))
	}
	if x, ok := v[fibremon.DNSAnswers]; ok {
		parts = append(parts, fmt.Sprintf("%d answers", int(x)))
	}
	return strings.Join(parts, ", ")
}
