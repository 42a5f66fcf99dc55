// Command fibreload is a bounded load generator for fibremon's ingestion
// API. It simulates a fleet of probes, each posting batches of realistic
// results (download, upload, latency, http, tcp, dns, each with a UUID
// minted when it is made) to POST /api/v1/results on loopback, one batch in
// flight per probe, like the probe agent's uploader. A small share of
// batches is sent again after their acknowledgement, with the same UUIDs,
// as a probe does whose acknowledgement was lost: the service must answer
// them 200 with every result a duplicate.
//
// When the time is up it reads back, through GET /api/v1/results, every
// result stored for the fleet's sites and checks that the service stored
// exactly the acknowledged results: each acknowledged UUID once, nothing
// else (a batch whose outcome never became known, after a transport error,
// may be stored or not, but whole). It prints a table per store — results
// and batches per second, p50/p99/max latency, errors by kind, stored
// against acknowledged — and exits non-zero on any error or mismatch.
//
// # Load
//
// Self-contained (the default): fibreload builds cmd/fibremon (or runs
// --fibremon, or a fibremon on PATH when it cannot build), issues one token
// per simulated probe bound to a site of its own, starts `fibremon serve`
// on a free loopback port with a fresh temporary store, runs the load,
// verifies, and stops the service. From the module root:
//
//	go run ./cmd/fibreload                                   # 1,000 probes, 50 results a batch, 30 s, SQLite
//	go run ./cmd/fibreload --store influx --influx.url http://127.0.0.1:8086
//	go run ./cmd/fibreload --store both --influx.url http://127.0.0.1:8086 --duration 1m
//
// For InfluxDB (1.8, or 2.x with --influx.bucket naming an existing bucket
// and --influx.token) fibreload creates a database of its own,
// fibreload_<random>, unless --influx.bucket is given; the database is left
// in place for inspection. scripts/install-test-deps builds an influxd into
// .tools/.
//
// Against a running service, give its URL and a file with one
// "<probe> <site> <token>" line per probe (tokens from `fibremon token add`;
// the sites must hold no other results during the run):
//
//	go run ./cmd/fibreload --url http://127.0.0.1:8080 --tokens load-tokens.txt
//
// Each simulated probe posts far more often than a real one, so a service
// with few probes' tokens refuses some batches with 429 under its per-probe
// rate limit (--web.rate-limit, 120 a minute): start it with a higher one
// for such a run. The self-contained service runs with a limit so high it
// never refuses, which keeps the limiter's cost in the measured path.
//
// # Big batches
//
// --big-batches N posts, instead of the load, N batches of --batch results
// at once on one token, each body about --big-bytes (7.6 MiB), retrying
// each on 503 after Retry-After until it is acknowledged, and reports the
// self-contained service's peak resident memory (VmHWM of
// /proc/<pid>/status; --big-pid for a service given with --url), then
// checks that every result is stored once:
//
//	go run ./cmd/fibreload --big-batches 100 --batch 5000 --timeout 8m --duration 9m
//
// The load is bounded: --duration is at most 10 minutes, --concurrency
// goroutines post (at most one batch per probe in flight) and memory grows
// only with the results acknowledged (16 bytes each, for the final check).
// Every flag has an environment mirror, FIBRELOAD_ + its name upper-cased
// with '.' and '-' as '_'.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/google/uuid"

	"fibremon/internal/cli"
	"fibremon/internal/fibrehttp"
	"fibremon/internal/testing/influxtest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	uuid.EnableRandPool() // fewer reads of the system's randomness per result; before any goroutine
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "fibreload:", err)
		}
		var ue cli.UsageError
		if errors.As(err, &ue) || errors.Is(err, flag.ErrHelp) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

// Bounds of the load: a run stops by itself.
const (
	maxDuration    = 10 * time.Minute
	maxProbes      = 100000
	maxConcurrency = 4096
)

// config is the command line.
type config struct {
	probes      int
	batch       int
	duration    time.Duration
	concurrency int
	store       string // sqlite, influx or both
	resend      float64
	timeout     time.Duration
	progress    time.Duration // how often progress is printed; 0: never

	url    string // an existing service; empty: self-contained
	tokens string // "<probe> <site> <token>" lines, with url

	fibremon     string // the fibremon binary; empty: build it
	influxURL    string
	influxToken  string
	influxBucket string
	logLevel     string

	bigBatches int // > 0: the big-batch run instead of the load (big.go)
	bigBytes   int
	bigPid     int

	compareRaw  bool // the side-by-side InfluxDB benchmark (raw.go)
	rounds      int
	influxStart bool // start a throwaway influxd for the run
	influxPID   int  // of the influxd started, for compareRaw's waits
	influxCPU   int  // >= 0: the CPU influxd runs on alone (fibreload and fibremon on the others)
	// countDB, set by loadStore with --compare-raw: the InfluxDB database
	// whose points are counted instead of reading every result back
	// through the API (which takes minutes after a fast run).
	countDB string
}

func parse(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("fibreload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&c.probes, "probes", 1000, "simulated probes, each with its own token and site")
	fs.IntVar(&c.batch, "batch", 50, "results per POST")
	fs.DurationVar(&c.duration, "duration", 30*time.Second, "how long each store is loaded (at most 10m)")
	fs.IntVar(&c.concurrency, "concurrency", 64, "batches in flight at most (goroutines posting)")
	fs.StringVar(&c.store, "store", "sqlite", "store(s) of the self-contained service: sqlite, influx or both")
	fs.Float64Var(&c.resend, "resend", 0.02, "share of acknowledged batches sent again with the same UUIDs")
	fs.DurationVar(&c.timeout, "timeout", 30*time.Second, "timeout of one POST")
	fs.DurationVar(&c.progress, "progress", 5*time.Second, "how often to print the results acknowledged per second so far, on stderr (0: never)")
	fs.StringVar(&c.url, "url", "", "base URL of a running service to load instead of starting one, e.g. http://127.0.0.1:8080")
	fs.StringVar(&c.tokens, "tokens", "", "with --url: file of '<probe> <site> <token>' lines, one per probe")
	fs.StringVar(&c.fibremon, "fibremon", "", "fibremon binary to start (default: go build fibremon/cmd/fibremon, else fibremon on PATH)")
	fs.StringVar(&c.influxURL, "influx.url", "", "InfluxDB the self-contained service stores in for --store influx|both, e.g. http://127.0.0.1:8086")
	fs.StringVar(&c.influxToken, "influx.token", "", "InfluxDB token (user:password for 1.8 with auth)")
	fs.StringVar(&c.influxBucket, "influx.bucket", "", "InfluxDB bucket (default: a new 1.8 database fibreload_<random>, bucket <db>/autogen)")
	fs.StringVar(&c.logLevel, "log.level", "warn", "log level of the self-contained service")
	fs.IntVar(&c.bigBatches, "big-batches", 0, "instead of the load: post this many batches of --batch results at once on one token, each body about --big-bytes, retried on 503 until acknowledged, and report the service's peak memory")
	fs.IntVar(&c.bigBytes, "big-bytes", 7969177, "with --big-batches: bytes of each body (default 7.6 MiB; at most the service's 8 MiB)")
	fs.IntVar(&c.bigPid, "big-pid", 0, "with --big-batches and --url: process id of the service, whose memory to read from /proc")
	fs.BoolVar(&c.compareRaw, "compare-raw", false, "with --store influx: each round, also write the same kind of load straight to InfluxDB with its Go client (same batch size, concurrency and duration), and print both rates and their ratio; --resend is 0")
	fs.IntVar(&c.rounds, "rounds", 3, "with --compare-raw: rounds, each a raw run and a run through fibremon (the medians are reported)")
	fs.IntVar(&c.influxCPU, "influx.cpu", -1, "with --influx.start: run influxd on this CPU alone and fibreload and the service on the others (as on machines of their own; taskset); -1: all share every CPU")
	fs.BoolVar(&c.influxStart, "influx.start", false, "start a throwaway InfluxDB 1.8 (.tools/influxd, else influxd on PATH) for the run, in a temporary directory removed at the end; instead of --influx.url")
	if err := cli.Parse(fs, args, getenv, "FIBRELOAD_"); err != nil {
		return c, err
	}
	switch {
	case c.probes < 1 || c.probes > maxProbes:
		return c, cli.UsageError(fmt.Sprintf("--probes %d: want 1..%d", c.probes, maxProbes))
	case c.batch < 1 || c.batch > 5000:
		return c, cli.UsageError(fmt.Sprintf("--batch %d: want 1..5000", c.batch))
	case c.duration <= 0 || c.duration > maxDuration:
		return c, cli.UsageError(fmt.Sprintf("--duration %v: want (0, %v]", c.duration, maxDuration))
	case c.concurrency < 1 || c.concurrency > maxConcurrency:
		return c, cli.UsageError(fmt.Sprintf("--concurrency %d: want 1..%d", c.concurrency, maxConcurrency))
	case c.resend < 0 || c.resend > 1:
		return c, cli.UsageError(fmt.Sprintf("--resend %g: want [0, 1]", c.resend))
	case c.timeout <= 0:
		return c, cli.UsageError("--timeout must be positive")
	case c.progress < 0:
		return c, cli.UsageError("--progress must not be negative")
	case (c.url == "") != (c.tokens == ""):
		return c, cli.UsageError("--url and --tokens go together")
	case c.bigBatches < 0 || c.bigBatches > 1000:
		return c, cli.UsageError(fmt.Sprintf("--big-batches %d: want 0..1000", c.bigBatches))
	case c.bigBytes < 1 || c.bigBytes > fibrehttp.MaxBodyBytes:
		return c, cli.UsageError(fmt.Sprintf("--big-bytes %d: want 1..%d", c.bigBytes, fibrehttp.MaxBodyBytes))
	case c.bigBatches > 0 && c.store == "both":
		return c, cli.UsageError("--big-batches runs against one store: --store sqlite or influx")
	}
	if c.bigBatches > 0 {
		c.probes = 1 // one token
	}
	if c.influxCPU >= 0 && (!c.influxStart || runtime.NumCPU() < 2 || c.influxCPU >= runtime.NumCPU()) {
		return c, cli.UsageError(fmt.Sprintf("--influx.cpu %d: needs --influx.start and a CPU number below %d, leaving at least one other", c.influxCPU, runtime.NumCPU()))
	}
	if c.influxStart {
		if c.influxURL != "" {
			return c, cli.UsageError("--influx.start and --influx.url exclude each other")
		}
		c.influxURL = "started" // replaced by the server's URL in run
	}
	if c.compareRaw {
		switch {
		case c.store != "influx" || c.url != "" || c.bigBatches > 0:
			return c, cli.UsageError("--compare-raw runs against a self-contained service with --store influx")
		case c.rounds < 1 || c.rounds > 9:
			return c, cli.UsageError(fmt.Sprintf("--rounds %d: want 1..9", c.rounds))
		}
		c.resend = 0
	}
	if c.url == "" {
		switch c.store {
		case "sqlite":
		case "influx", "both":
			if c.influxURL == "" {
				return c, cli.UsageError("--store " + c.store + " needs --influx.url")
			}
		default:
			return c, cli.UsageError(fmt.Sprintf("--store %q: want sqlite, influx or both", c.store))
		}
	}
	return c, nil
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := parse(args, getenv, stderr)
	if err != nil {
		return err
	}
	var reports []*report
	if cfg.url != "" {
		creds, err := readTokens(cfg.tokens)
		if err != nil {
			return err
		}
		if len(creds) < cfg.probes {
			cfg.probes = len(creds)
		}
		if cfg.bigBatches > 0 {
			rep, err := bigLoad(ctx, cfg, cfg.url, creds[0], cfg.bigPid, cfg.url, stderr)
			if err != nil {
				return err
			}
			reports = append(reports, &report{store: cfg.url, big: rep})
		} else {
			fmt.Fprintf(stderr, "loading %s with %d probes for %v\n", cfg.url, cfg.probes, cfg.duration)
			rep, err := load(ctx, cfg, cfg.url, creds[:cfg.probes], cfg.url, stderr)
			if err != nil {
				return err
			}
			reports = append(reports, rep)
		}
	} else {
		if cfg.influxStart {
			dir, err := os.MkdirTemp("", "fibreload-influxd-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(dir)
			srv, err := influxtest.StartIn(dir, influxtest.Options{})
			if err != nil {
				return err
			}
			defer srv.Stop()
			cfg.influxURL, cfg.influxPID = srv.URL, srv.PID()
			if cfg.influxCPU >= 0 {
				if err := pinApart(cfg.influxPID, cfg.influxCPU); err != nil {
					return err
				}
				fmt.Fprintf(stderr, "influxd on CPU %d alone; fibreload and fibremon on the others\n", cfg.influxCPU)
			}
			fmt.Fprintf(stderr, "influxd started at %s (data in %s)\n", srv.URL, dir)
		}
		stores := []string{cfg.store}
		if cfg.store == "both" {
			stores = []string{"sqlite", "influx"}
		}
		dir, err := os.MkdirTemp("", "fibreload-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		bin, err := fibremonBinary(ctx, cfg.fibremon, dir, stderr)
		if err != nil {
			return err
		}
		if cfg.compareRaw {
			return compareRaw(ctx, cfg, bin, dir, stdout, stderr)
		}
		for _, store := range stores {
			rep, err := loadStore(ctx, cfg, bin, dir, store, stderr)
			if rep != nil {
				reports = append(reports, rep)
			}
			if err != nil {
				printReports(stdout, reports)
				return fmt.Errorf("%s: %w", store, err)
			}
		}
	}
	printReports(stdout, reports)
	var failed []string
	for _, r := range reports {
		if !r.ok() {
			failed = append(failed, r.store)
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("errors or mismatches on %v", failed)
	}
	return nil
}
