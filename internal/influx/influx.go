// Package influx is fibremon's InfluxDB result store, for operators who
// keep their history in InfluxDB and read it from Grafana. It is the only
// package that imports influxdb-client-go.
//
// It speaks the v2 HTTP API (/api/v2/write, Flux on /api/v2/query), so the
// same code works against InfluxDB 2.x and against 1.8 with flux-enabled
// (there the token is "user:password", or empty without auth, the bucket
// is "database/retention-policy" and the org is ignored).
//
// Schema: one point per result in measurement probe_result, tagged
// site_id, probe and kind, timestamped within the second the result
// started (the sub-second part drawn from its UUID, see PointTime), with
// the UUID in the field result_id and the true start given by
// start_offset_ns. SCHEMA.md, beside this file, is the reference for
// dashboards.
//
// Durability: writes are blocking (WriteAPIBlocking): WriteResults returns
// only after InfluxDB has answered 2xx to one write request holding the
// whole batch (and the batches of other calls waiting at that moment:
// commit.go), so a 2xx to a probe means InfluxDB accepted its results.
//
// Idempotency without reading: a result's point identity (series and
// timestamp) is a function of the result alone, so a retried result,
// written by any replica, overwrites itself, and nothing is read before a
// write. See WriteResults.
//
// Concurrency: a Store is safe for concurrent use, and several fibremon
// replicas may share one bucket.
package influx

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
	"github.com/influxdata/influxdb-client-go/v2/api"
	ihttp "github.com/influxdata/influxdb-client-go/v2/api/http"

	"fibremon"
)

// Measurement is the measurement every result is written to.
const Measurement = "probe_result"

// DefaultTimeout bounds one request to InfluxDB when Config.Timeout is 0.
const DefaultTimeout = 10 * time.Second

// Config says where the store is.
type Config struct {
	// URL of the InfluxDB HTTP API, e.g. http://127.0.0.1:8086.
	URL string
	// Token authenticates: an API token (2.x), "user:password" (1.8 with
	// auth-enabled) or empty (1.8 without auth).
	Token string
	// Org is the organisation (2.x); 1.8 ignores it.
	Org string
	// Bucket receives the results: a bucket name (2.x) or
	// "database/retention-policy" (1.8; "database" alone means its default
	// retention policy).
	Bucket string
	// Timeout bounds each request to InfluxDB; 0 means DefaultTimeout.
	// It is applied in whole seconds, rounded up.
	Timeout time.Duration
	// Logger receives what the store reports on its own (a collision);
	// nil: nothing is logged.
	Logger *slog.Logger
}

// Store is a result store in an InfluxDB bucket.
type Store struct {
	cfg    Config
	client influxdb2.Client
	writer api.WriteAPIBlocking
	reader api.QueryAPI
	http   *http.Client
	// bucket is cfg.Bucket as a Flux string literal.
	bucket string
	latest latestCache
	recent recentPoints
	// collisions counts results written onto another's point.
	collisions atomic.Int64
	// group writes batches together (commit.go).
	group group
	// useQL: /query answers for the bucket, and Latest uses it.
	useQL bool
}

// New connects to the InfluxDB of cfg and checks, before returning, that
// the server answers and that the token may write to and query the
// bucket, so a wrong URL, token or bucket stops the service at start with
// an error naming them rather than failing its first write.
//
// The error is Transient when the server did not answer (it may come
// back), Unauthorized when it refused the token, Forbidden when the token
// lacks a permission, NotFound when the bucket does not exist, and
// Invalid for a bad cfg.
func New(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.URL == "" {
		return nil, fibremon.Errorf(fibremon.Invalid, "influx: no URL")
	}
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fibremon.Errorf(fibremon.Invalid, "influx: URL %q: want http(s)://host:port", cfg.URL)
	}
	if cfg.Bucket == "" {
		return nil, fibremon.Errorf(fibremon.Invalid, "influx: no bucket (InfluxDB 1.8: database/retention-policy)")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.Logger = cfg.Logger.With("component", "influx")
	opts := clientOptions(cfg)
	client := influxdb2.NewClientWithOptions(strings.TrimRight(cfg.URL, "/"), cfg.Token, opts)
	s := &Store{
		cfg:    cfg,
		client: client,
		writer: client.WriteAPIBlocking(cfg.Org, cfg.Bucket),
		reader: client.QueryAPI(cfg.Org),
		http:   opts.HTTPClient(),
		bucket: fluxString(cfg.Bucket),
		latest: latestCache{window: latestWindow, rescan: latestRescan},
	}
	if err := s.check(ctx); err != nil {
		client.Close()
		return nil, err
	}
	s.useQL = s.checkInfluxQL(ctx)
	s.group.start(func(ctx context.Context, lines string) error {
		if err := s.writer.WriteRecord(ctx, lines); err != nil {
			return s.errorf("write", err)
		}
		return nil
	})
	return s, nil
}

// clientOptions are the client's options for cfg (whose Timeout is set).
func clientOptions(cfg Config) *influxdb2.Options {
	secs := uint((cfg.Timeout + time.Second - 1) / time.Second)
	return influxdb2.DefaultOptions().
		SetHTTPRequestTimeout(secs).
		SetLogLevel(0). // errors only; blocking writes return theirs
		SetApplicationName("fibremon")
}

// check proves the server answers and the token may write and query.
func (s *Store) check(ctx context.Context) error {
	if err := s.Ping(ctx); err != nil {
		return err
	}
	// An empty write: InfluxDB authenticates, authorises and looks the
	// bucket up, then stores nothing. 1.8 answers 204; 2.x may answer 400
	// "writing requires points", which also means all checks passed.
	q := url.Values{"bucket": {s.cfg.Bucket}, "org": {s.cfg.Org}, "precision": {"ns"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost,
		strings.TrimRight(s.cfg.URL, "/")+"/api/v2/write?"+q.Encode(), http.NoBody)
	if err != nil {
		return fibremon.Errorf(fibremon.Invalid, "influx: %w", err)
	}
	if s.cfg.Token != "" {
		req.Header.Set("Authorization", "Token "+s.cfg.Token)
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return fibremon.Errorf(fibremon.Transient, "InfluxDB at %s does not answer: %w", s.cfg.URL, err)
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	msg := strings.TrimSpace(string(body))
	switch {
	case resp.StatusCode/100 == 2:
	case resp.StatusCode == http.StatusBadRequest && strings.Contains(msg, "requires points"):
	default:
		return s.statusError("write check", resp.StatusCode, msg)
	}
	// A query of the bucket proves read access (and, on 1.8, that Flux is
	// enabled).
	res, err := s.reader.Query(ctx, fmt.Sprintf(`from(bucket: %s)
  |> range(start: -1m)
  |> filter(fn: (r) => r._measurement == %q)
  |> limit(n: 1)`, s.bucket, Measurement))
	if err != nil {
		if strings.Contains(err.Error(), "Flux query service disabled") {
			return fibremon.Errorf(fibremon.Invalid, "InfluxDB at %s has Flux disabled: set [http] flux-enabled = true (InfluxDB 1.8)", s.cfg.URL)
		}
		return s.errorf("query check", err)
	}
	for res.Next() {
	}
	if err := res.Err(); err != nil {
		return s.errorf("query check", err)
	}
	return res.Close()
}

// Ping reports whether the server answers (GET /ping). It returns a
// Transient error when it does not.
func (s *Store) Ping(ctx context.Context) error {
	if _, err := s.client.Ping(ctx); err != nil {
		return s.errorf("ping", err)
	}
	return nil
}

// Close waits for the write requests in flight, then releases the
// client's connections. Results acknowledged are already in InfluxDB.
func (s *Store) Close() error {
	s.group.stop()
	s.client.Close()
	return nil
}

// Config returns the store's configuration.
func (s *Store) Config() Config { return s.cfg }

// errorf wraps an error of the client with the operation and the server's
// URL, and classifies it by the HTTP status InfluxDB answered.
func (s *Store) errorf(op string, err error) error {
	var he *ihttp.Error
	if errors.As(err, &he) && he.StatusCode != 0 {
		msg := he.Message
		if msg == "" {
			msg = he.Error()
		}
		return s.statusError(op, he.StatusCode, msg)
	}
	return fibremon.Errorf(fibremon.Transient, "influx %s: InfluxDB at %s does not answer: %w", op, s.cfg.URL, err)
}

// statusError classifies an answer of InfluxDB by its status code.
func (s *Store) statusError(op string, code int, msg string) error {
	status := fmt.Sprintf("%d %s", code, http.StatusText(code))
	switch {
	case code == http.StatusUnauthorized:
		return fibremon.Errorf(fibremon.Unauthorized,
			"influx %s: InfluxDB at %s refused the token (%s): check the token (InfluxDB 1.8: user:password): %s",
			op, s.cfg.URL, status, msg)
	case code == http.StatusForbidden:
		return fibremon.Errorf(fibremon.Forbidden,
			"influx %s: InfluxDB at %s: the token may not use bucket %q (%s): %s", op, s.cfg.URL, s.cfg.Bucket, status, msg)
	case code == http.StatusNotFound || strings.Contains(msg, "not found") || strings.Contains(msg, "no database"):
		return fibremon.Errorf(fibremon.NotFound,
			"influx %s: InfluxDB at %s has no bucket %q (%s): create it (InfluxDB 1.8: CREATE DATABASE; the bucket is database/retention-policy): %s",
			op, s.cfg.URL, s.cfg.Bucket, status, msg)
	case code == http.StatusBadRequest:
		return fibremon.Errorf(fibremon.Internal, "influx %s: InfluxDB at %s refused the request (%s): %s", op, s.cfg.URL, status, msg)
	}
	return fibremon.Errorf(fibremon.Transient, "influx %s: InfluxDB at %s: %s: %s", op, s.cfg.URL, status, msg)
}

// transient turns every failure of a running store into a Transient error
// (503 and Retry-After to a probe, which keeps its batch) except a refused
// request, which is a bug of ours (Internal, 500). A token revoked or a
// bucket deleted while fibremon runs is for an operator to fix; meanwhile
// probes keep their results.
func transient(err error) error {
	if k := fibremon.KindOf(err); k == fibremon.Transient || k == fibremon.Internal {
		return err
	}
	var e *fibremon.Error
	if errors.As(err, &e) {
		return &fibremon.Error{Kind: fibremon.Transient, Msg: e.Msg, Err: e.Err}
	}
	return fibremon.Errorf(fibremon.Transient, "%w", err)
}

// fluxString quotes s as a Flux string literal.
func fluxString(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\r", `\r`, "\t", `\t`, "${", `\${`)
	return `"` + r.Replace(s) + `"`
}

// fluxTime formats t as a Flux time literal.
func fluxTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }
