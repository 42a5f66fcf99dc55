package main

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"fibremon"
	"fibremon/data"
	"fibremon/geo"
	"fibremon/internal/auth"
	"fibremon/internal/cli"
	"fibremon/internal/contract"
	"fibremon/internal/coverage"
	"fibremon/internal/fibrehttp"
	"fibremon/internal/influx"
	"fibremon/internal/metrics"
	"fibremon/internal/sqlite"
	"fibremon/internal/status"
	"fibremon/internal/web"
	"fibremon/probes/ndt7"
)

// serveConfig is the configuration of the central service.
type serveConfig struct {
	listenAddress    string
	storagePath      string
	influx           influx.Config // the InfluxDB store, used when influx.URL is set
	tokensFile       string
	dataDir          string
	comune           string
	stale            time.Duration
	refreshInterval  time.Duration
	shutdownTimeout  time.Duration
	shutdownDelay    time.Duration
	ndt7Duration     time.Duration
	tileURL          string
	tileAttribution  string
	tlsCertFile      string
	tlsKeyFile       string
	rateLimit        int
	contractInterval time.Duration
	rateLimitWindow  time.Duration
	publicRead       bool
	metricsAuth      string
	maxInflightBody  int64
	log              logFlags
	// emulatedLines marks every site's line as emulated (the demo): not
	// a flag, since only the demo runs its probes behind emulated lines.
	emulatedLines bool
}

// defaultServeConfig is the configuration of `fibremon serve` with every
// flag at its default.
func defaultServeConfig() serveConfig {
	return serveConfig{
		listenAddress:    "127.0.0.1:8080",
		storagePath:      "fibremon.db",
		influx:           influx.Config{Bucket: "fibremon/autogen", Timeout: influx.DefaultTimeout},
		tokensFile:       "tokens.json",
		stale:            5 * time.Minute,
		refreshInterval:  15 * time.Second,
		contractInterval: contract.DefaultInterval,
		shutdownTimeout:  15 * time.Second,
		ndt7Duration:     ndt7.DefaultDuration,
		rateLimit:        120,
		rateLimitWindow:  time.Minute,
		metricsAuth:      fibrehttp.MetricsAuthNone,
		maxInflightBody:  fibrehttp.DefaultMaxInflightBodyBytes,
		log:              logFlags{level: "info", format: "text"},
	}
}

// register defines the flags of c on fs, each defaulting to c's value
// (defaultServeConfig for serve; the demo starts from other values).
func (c *serveConfig) register(fs *flag.FlagSet) {
	fs.StringVar(&c.listenAddress, "web.listen-address", c.listenAddress, "address to serve the API, /metrics and ndt7 on")
	fs.StringVar(&c.storagePath, "storage.path", c.storagePath, "SQLite database file of the embedded store")
	fs.StringVar(&c.influx.URL, "storage.influx.url", c.influx.URL, "InfluxDB HTTP API URL, e.g. http://127.0.0.1:8086; when set, results are stored in InfluxDB instead of SQLite")
	fs.StringVar(&c.influx.Token, "storage.influx.token", c.influx.Token, "InfluxDB token: an API token (2.x), user:password (1.8 with auth) or empty; prefer the environment variable to the flag")
	fs.StringVar(&c.influx.Org, "storage.influx.org", c.influx.Org, "InfluxDB organisation (2.x; ignored by 1.8)")
	fs.StringVar(&c.influx.Bucket, "storage.influx.bucket", c.influx.Bucket, "InfluxDB bucket (2.x), or database/retention-policy (1.8)")
	fs.DurationVar(&c.influx.Timeout, "storage.influx.timeout", c.influx.Timeout, "how long one request to InfluxDB may take")
	fs.StringVar(&c.tokensFile, "auth.tokens-file", c.tokensFile, "probe tokens file, written by 'fibremon token add'")
	fs.StringVar(&c.dataDir, "data.dir", c.dataDir, "data set: a directory holding one <slug>/ directory per comune, each with boundary.geojson, hamlets.geojson, sites.csv and optionally civics.csv[.gz], coverage.csv[.gz] (default: the embedded data set, the 48 comuni of the Cremasco)")
	fs.StringVar(&c.comune, "data.comune", c.comune, "serve only this comune directory of the data set (default: every comune)")
	fs.DurationVar(&c.stale, "status.stale-after", c.stale, "a site with no result for this long is silent")
	fs.DurationVar(&c.refreshInterval, "status.refresh-interval", c.refreshInterval, "how often site status is rebuilt from the store")
	fs.DurationVar(&c.contractInterval, "contract.check-interval", c.contractInterval, "how often every site's last 96 tests are checked against its contract (also on GET /api/v1/sites/{id}/contract)")
	fs.DurationVar(&c.shutdownDelay, "web.shutdown-delay", c.shutdownDelay, "on shutdown, how long /readyz fails while requests are still served before the listener closes (lame duck; e.g. 5s behind a load balancer)")
	fs.DurationVar(&c.shutdownTimeout, "web.shutdown-timeout", c.shutdownTimeout, "how long in-flight requests may finish on shutdown")
	fs.DurationVar(&c.ndt7Duration, "ndt7.max-duration", c.ndt7Duration, "how long the ndt7 server sends or receives per test (at most 15s)")
	fs.StringVar(&c.tileURL, "web.tile-url", c.tileURL, "optional background tiles of the map page, e.g. https://tile.openstreetmap.org/{z}/{x}/{y}.png (default: none; the map is drawn from the GeoJSON alone)")
	fs.StringVar(&c.tileAttribution, "web.tile-attribution", c.tileAttribution, "attribution the tile provider requires, shown with the tiles")
	fs.StringVar(&c.tlsCertFile, "web.tls-cert-file", c.tlsCertFile, "serve HTTPS with this certificate (PEM, with --web.tls-key-file)")
	fs.StringVar(&c.tlsKeyFile, "web.tls-key-file", c.tlsKeyFile, "private key (PEM) of --web.tls-cert-file")
	fs.IntVar(&c.rateLimit, "web.rate-limit", c.rateLimit, "POST /api/v1/results requests each probe may make per --web.rate-limit-window; more get 429 with Retry-After (0: no limit)")
	fs.DurationVar(&c.rateLimitWindow, "web.rate-limit-window", c.rateLimitWindow, "window of --web.rate-limit")
	fs.BoolVar(&c.publicRead, "web.public-read", c.publicRead, "serve raw results, contracts and their evidence, and full site statuses to anyone, not only to reader and admin tokens (for a comune that publishes its monitoring data); /metrics follows --web.metrics-auth")
	fs.StringVar(&c.metricsAuth, "web.metrics-auth", c.metricsAuth, "what GET /metrics needs: none, or read-token (a reader or admin token, as Prometheus' authorization.credentials_file sends it); the metrics carry per-site state and contract figures")
	fs.Int64Var(&c.maxInflightBody, "web.max-inflight-body-bytes", c.maxInflightBody,
		"bytes of POST /api/v1/results bodies read, decoded and stored at once, over all probes; more get 503 with Retry-After and the probes retry later (bounds the memory of ingestion; 0: no bound)")
	c.log.register(fs)
}

func runServe(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg := defaultServeConfig()
	fs := flag.NewFlagSet("fibremon serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg.register(fs)
	if err := cli.Parse(fs, args, getenv, "FIBREMON_"); err != nil {
		return err
	}
	logger, err := cfg.log.logger(stderr)
	if err != nil {
		return err
	}
	tokens, err := auth.Load(cfg.tokensFile)
	if err != nil {
		return err
	}
	svc, err := newService(ctx, logger, cfg, tokens, cfg.tokensFile)
	if err != nil {
		return err
	}
	defer svc.Close()
	logTokenCounts(logger, tokens, cfg.tokensFile)
	ln, err := net.Listen("tcp", cfg.listenAddress)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	logger.Info("fibremon serving", "version", version, "address", ln.Addr().String(), "storage", cfg.storage(),
		"comuni", svc.live.Load().Len(), "sites", len(svc.live.Load().Sites()), "tokens", len(tokens.Entries()), "public_read", cfg.publicRead, "metrics_auth", cfg.metricsAuth)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return svc.Serve(gctx, ln) })
	g.Go(func() error { return tokens.Watch(gctx, cfg.tokensFile, 2*time.Second, logger) })
	g.Go(func() error { return svc.reloadOnHangup(gctx) })
	return g.Wait()
}

// reloadOnHangup reloads the data set on SIGHUP — a new civic register in
// --data.dir, say — and swaps the coverage index atomically: requests in
// flight finish on the old index, later ones use the new. A data set that
// fails to load keeps the old one. Sites and their contracts are reloaded
// too.
//
// Liveness: returns when ctx is done.
func (s *service) reloadOnHangup(ctx context.Context) error {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-hup:
		}
		if err := s.reloadData(); err != nil {
			s.logger.Error("data set not reloaded; keeping the previous one", "err", err)
		}
	}
}

// reloadData loads the data set again and swaps it in: a comune whose
// files fail to load keeps its previous version (logged, and "stale" in
// GET /api/v1/comuni) while the others are updated.
func (s *service) reloadData() error {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	set, err := loadSet(s.cfg, s.logger, s.live.Load())
	if err != nil {
		return err
	}
	s.swap(set)
	s.logger.Info("data set reloaded", "comuni", set.Len(), "sites", len(set.Sites()))
	return nil
}

// reloadComune loads one comune's directory again (slug) and swaps in a
// set with it and every other comune as it was. A comune whose files fail
// to load is an error, and the set stays as it was.
func (s *service) reloadComune(slug string) error {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	set, err := geo.ReloadComune(dataFS(s.cfg), s.live.Load(), slug, geo.LoadOptions{Lenient: s.cfg.dataDir != "", EmulatedLines: s.cfg.emulatedLines})
	if err != nil {
		return err
	}
	for _, r := range set.Reports() {
		if r.Slug == slug && len(r.Skipped) > 0 {
			logSkipped(s.logger, r)
		}
	}
	s.swap(set)
	s.logger.Info("comune reloaded", "comune", slug, "comuni", set.Len(), "sites", len(set.Sites()))
	return nil
}

// swap publishes set and gives its sites to the status tracker and the
// contract checker.
func (s *service) swap(set *geo.Set) {
	s.live.Store(set)
	s.tracker.SetSites(set.Sites())
	s.checker.SetSites(set.Sites())
}

// Tokens lists the issued tokens, for the admin API.
func (s *service) Tokens() []auth.Entry { return s.tokens.Entries() }

// changeTokens applies change to the tokens file, read afresh so that
// edits made there since start are kept, saves it and reloads the running
// set from it. Without a tokens file (the demo) it changes the running set
// only.
func (s *service) changeTokens(change func(*auth.Tokens) error) error {
	s.tokensMu.Lock()
	defer s.tokensMu.Unlock()
	if s.tokensFile == "" {
		return change(s.tokens)
	}
	onDisk, err := auth.Load(s.tokensFile)
	if err != nil {
		return err
	}
	if err := change(onDisk); err != nil {
		return err
	}
	if err := onDisk.Save(s.tokensFile); err != nil {
		return err
	}
	_, err = s.tokens.Reload(s.tokensFile)
	return err
}

// RevokeTokens revokes tokens for the admin API, those for which may
// returns true (nil: all).
func (s *service) RevokeTokens(probe, sha256Prefix string, may func(auth.Entry) bool) (int, error) {
	n := 0
	err := s.changeTokens(func(t *auth.Tokens) (err error) {
		n, err = t.RevokeIf(probe, sha256Prefix, may)
		return err
	})
	if err != nil {
		return 0, err
	}
	s.logger.Info("tokens revoked", "probe", probe, "sha256_prefix", sha256Prefix, "revoked", n)
	return n, nil
}

// IssueProbeToken issues a probe token for the admin API.
func (s *service) IssueProbeToken(probe string, sites []string) (string, auth.Entry, error) {
	var tok string
	var e auth.Entry
	err := s.changeTokens(func(t *auth.Tokens) (err error) {
		tok, e, err = t.Issue(probe, sites, time.Now())
		return err
	})
	if err != nil {
		return "", auth.Entry{}, err
	}
	s.logger.Info("probe token issued", "probe", probe, "sites", strings.Join(sites, ","), "sha256_prefix", e.SHA256[:12])
	return tok, e, nil
}

// Reload reloads, for the admin API, one comune (slug), or the whole data
// set and the tokens file (slug "").
func (s *service) Reload(slug string) error {
	if slug != "" {
		return s.reloadComune(slug)
	}
	if err := s.reloadData(); err != nil {
		return err
	}
	if s.tokensFile == "" {
		return nil
	}
	s.tokensMu.Lock()
	defer s.tokensMu.Unlock()
	_, err := s.tokens.Reload(s.tokensFile)
	return err
}

// The InfluxDB store lets the status tracker read only the configured
// sites.
var _ status.SiteReader = (*influx.Store)(nil)

// resultStore is what the service calls on its result store (the API's,
// the status tracker's, and Close): *sqlite.Store or *influx.Store.
type resultStore interface {
	WriteResults(ctx context.Context, rs []fibremon.Result) (int, error)
	Results(ctx context.Context, q fibremon.Query) ([]fibremon.Result, error)
	Latest(ctx context.Context) (map[string][]fibremon.Result, error)
	Availability(ctx context.Context, since time.Time) (map[string]fibremon.Tally, error)
	Ping(ctx context.Context) error
	Close() error
}

// storage describes the configured store for the log.
func (c *serveConfig) storage() string {
	if c.influx.URL != "" {
		return "influxdb " + c.influx.URL + " bucket " + c.influx.Bucket
	}
	return "sqlite " + c.storagePath
}

// openStore opens the InfluxDB store when its URL is set, else the SQLite
// file. The InfluxDB store checks at once that its token may write and
// query, so a wrong one stops the service here.
func openStore(ctx context.Context, cfg serveConfig, logger *slog.Logger) (resultStore, error) {
	if cfg.influx.URL == "" {
		s, err := sqlite.Open(ctx, cfg.storagePath)
		if err != nil {
			return nil, err
		}
		return s, nil
	}
	icfg := cfg.influx
	icfg.Logger = logger
	s, err := influx.New(ctx, icfg)
	if err != nil {
		switch fibremon.KindOf(err) {
		case fibremon.Unauthorized, fibremon.Forbidden:
			err = fmt.Errorf("%w (set --storage.influx.token or FIBREMON_STORAGE_INFLUX_TOKEN)", err)
		case fibremon.NotFound:
			err = fmt.Errorf("%w (--storage.influx.bucket)", err)
		}
		return nil, fmt.Errorf("storage: %w", err)
	}
	return s, nil
}

// service is the wired central service: store, status, HTTP handler.
type service struct {
	logger  *slog.Logger
	cfg     serveConfig
	store   resultStore
	tracker *status.Tracker
	checker *contract.Checker
	live    *geo.Live
	handler *fibrehttp.Server
	reg     *prometheus.Registry

	tokens     *auth.Tokens
	tokensFile string // "" when the tokens live in memory only
	tokensMu   sync.Mutex
	reloadMu   sync.Mutex // one reload of the data set at a time
}

// loadSet loads the embedded data set (which must be clean), or the one
// in --data.dir, whose civic registers may come from outside: their bad
// rows are logged and skipped, the rest is imported. A comune that fails
// to load is logged and keeps its version in prev, if any.
func loadSet(cfg serveConfig, logger *slog.Logger, prev *geo.Set) (*geo.Set, error) {
	root := "."
	if cfg.comune != "" {
		root = cfg.comune
	}
	set, err := geo.LoadSet(dataFS(cfg), root, geo.LoadOptions{Lenient: cfg.dataDir != "", Prev: prev, EmulatedLines: cfg.emulatedLines})
	if err != nil {
		return nil, err
	}
	for _, r := range set.Reports() {
		switch {
		case r.Err != nil && r.Kept:
			logger.Error("comune not reloaded; its previous version is served", "dir", r.Dir, "err", r.Err)
		case r.Err != nil:
			logger.Error("comune not loaded", "dir", r.Dir, "err", r.Err)
		}
		logSkipped(logger, r)
	}
	if cfg.dataDir == "" {
		for _, r := range set.Reports() {
			if r.Err != nil {
				return nil, fmt.Errorf("embedded data set: %w", r.Err)
			}
		}
	}
	return set, nil
}

// dataFS is the file system of the data set: --data.dir, or the embedded
// one.
func dataFS(cfg serveConfig) fs.FS {
	if cfg.dataDir != "" {
		return os.DirFS(cfg.dataDir)
	}
	return data.FS
}

// logSkipped logs the register rows a lenient load of r's comune skipped.
func logSkipped(logger *slog.Logger, r geo.ComuneReport) {
	for _, e := range r.Skipped {
		logger.Warn("civic register row skipped", "dir", r.Dir, "err", e.Error())
	}
	if len(r.Skipped) > 0 {
		logger.Warn("civic register imported with bad rows skipped", "dir", r.Dir, "skipped", len(r.Skipped))
	}
}

func newService(ctx context.Context, logger *slog.Logger, cfg serveConfig, tokens *auth.Tokens, tokensFile string) (*service, error) {
	set, err := loadSet(cfg, logger, nil)
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	if cfg.maxInflightBody < 0 {
		return nil, cli.UsageError("--web.max-inflight-body-bytes must not be negative (0: no bound)")
	}
	if (cfg.tlsCertFile == "") != (cfg.tlsKeyFile == "") {
		return nil, cli.UsageError("--web.tls-cert-file and --web.tls-key-file go together")
	}
	if cfg.tlsCertFile != "" {
		if _, err := tls.LoadX509KeyPair(cfg.tlsCertFile, cfg.tlsKeyFile); err != nil {
			return nil, fmt.Errorf("--web.tls-cert-file/--web.tls-key-file: %w", err)
		}
	}
	access := fibrehttp.Access{PublicRead: cfg.publicRead, MetricsAuth: cfg.metricsAuth}
	if err := access.Validate(); err != nil {
		return nil, cli.UsageError(fmt.Sprintf("--web.metrics-auth=%q: want one of %v", cfg.metricsAuth, fibrehttp.MetricsAuths))
	}
	webOpts := web.Options{TileURL: cfg.tileURL, Attribution: cfg.tileAttribution}
	if err := webOpts.Validate(); err != nil {
		return nil, cli.UsageError("--web.tile-url: " + err.Error())
	}
	store, err := openStore(ctx, cfg, logger)
	if err != nil {
		return nil, err
	}
	live := new(geo.Live)
	live.Store(set)
	reg := metrics.NewRegistry("fibremon", version)
	if is, ok := store.(*influx.Store); ok {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "fibremon_store_point_collisions_total",
			Help: "Results written to InfluxDB onto the point of another result this replica wrote, which they replaced (expected never: see internal/influx/SCHEMA.md).",
		}, func() float64 { return float64(is.Collisions()) }))
	}
	reg.MustRegister(coverage.NewCollector(live, nil), auth.NewCollector(tokens))
	tracker := status.New(logger, reg, set.Sites(), store, status.Options{Stale: cfg.stale})
	checker := contract.NewChecker(logger, reg, set.Sites(), store, nil)
	ndt := ndt7.NewHandler(logger, ndt7.ServerOptions{
		MaxDuration: cfg.ndt7Duration,
		OnDone:      newNDT7Metrics(reg),
	})
	svc := &service{logger: logger, cfg: cfg, store: store, tracker: tracker, checker: checker, live: live, reg: reg,
		tokens: tokens, tokensFile: tokensFile}
	h := fibrehttp.NewHandler(fibrehttp.Deps{
		Logger:      logger,
		Registry:    reg,
		Metrics:     metrics.Handler(reg),
		Store:       store,
		Auth:        tokens,
		Status:      tracker,
		Geo:         live,
		Web:         web.Handler(webOpts),
		NDTDownload: ndt.Download,
		NDTUpload:   ndt.Upload,
		Middleware:  fibrehttp.NewHTTPMetrics(reg, "fibremon").Middleware,
		RateLimit:   fibrehttp.RateLimit{Requests: cfg.rateLimit, Window: cfg.rateLimitWindow},
		// 0 on the command line is no bound; in Deps it is the default.
		MaxInflightBodyBytes: cmp.Or(cfg.maxInflightBody, -1),
		Admin:                svc,
		Contract:             checker,
		Access:               access,
	})
	svc.handler = h
	return svc, nil
}

// logTokenCounts warns now, and whenever the tokens change (a reload, the
// tokens file watched, a revocation), if no probe token is loaded: the
// tokens file was moved away or emptied, every upload of results is
// answered 503 and /readyz fails. It says so again, at INFO, when probe
// tokens are back.
func logTokenCounts(logger *slog.Logger, tokens *auth.Tokens, file string) {
	var zero atomic.Bool
	check := func(c auth.Counts) {
		args := []any{"tokens_file", file, "probe_tokens", c.Probe, "reader_tokens", c.Reader, "admin_tokens", c.Admin}
		if c.Probe == 0 {
			zero.Store(true)
			logger.Warn(fmt.Sprintf("%d probe tokens loaded (%d tokens in all): every upload of results is refused with 503 and /readyz fails until the tokens file is restored or tokens are issued with 'fibremon token add'", c.Probe, c.Total()), args...)
			return
		}
		if zero.Swap(false) {
			logger.Info(fmt.Sprintf("%d probe tokens loaded again: uploads accepted, /readyz ready", c.Probe), args...)
		}
	}
	check(tokens.Counts())
	tokens.OnChange(check)
}

// Serve serves on ln until ctx is done, then drains: /readyz fails first,
// in-flight requests get cfg.shutdownTimeout to finish.
func (s *service) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		// ndt7 tests set their own deadlines on the connection once
		// upgraded, so this bounds every other answer.
		WriteTimeout: 60 * time.Second,
		IdleTimeout:  2 * time.Minute,
		ErrorLog:     slog.NewLogLogger(s.logger.Handler(), slog.LevelWarn),
		TLSConfig:    serverTLSConfig(),
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return s.tracker.Run(gctx, s.cfg.refreshInterval) })
	g.Go(func() error { return s.checker.Run(gctx, s.cfg.contractInterval) })
	g.Go(func() error {
		serve := func() error { return srv.Serve(ln) }
		if s.cfg.tlsCertFile != "" {
			serve = func() error { return srv.ServeTLS(ln, s.cfg.tlsCertFile, s.cfg.tlsKeyFile) }
		}
		if err := serve(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serve: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		s.handler.SetDraining()
		if d := s.cfg.shutdownDelay; d > 0 {
			// Lame duck: /readyz answers 503 while requests are still
			// served, so that a load balancer stops sending new ones
			// before the listener closes.
			s.logger.Info("draining: /readyz fails; closing the listener after the shutdown delay", "delay", d)
			time.Sleep(d)
		}
		sctx, cancel := context.WithTimeout(context.Background(), s.cfg.shutdownTimeout)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			s.logger.Warn("shutdown: in-flight requests cut short", "err", err)
			srv.Close()
		}
		return nil
	})
	err := g.Wait()
	s.logger.Info("fibremon stopped")
	return err
}

// serverTLSConfig is the TLS of the service: TLS 1.3, or TLS 1.2 with
// ECDHE key exchange and an AEAD cipher only (forward secrecy; none of
// the CBC suites with SHA-1 MACs that Go still offers by default, which
// are exposed to padding-oracle attacks such as Lucky Thirteen). TLS 1.3
// suites are all AEAD and not configurable. Every probe (Go) and browser
// of the last decade speaks one of these.
func serverTLSConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		CipherSuites: []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, // HTTP/2 requires it (RFC 7540, 9.2.2)
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
			tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
		},
	}
}

// Close closes the store.
func (s *service) Close() error { return s.store.Close() }

func newNDT7Metrics(reg prometheus.Registerer) func(ndt7.ServerStats) {
	tests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "fibremon_ndt7_tests_total",
		Help: "ndt7 tests served, by test (download, upload) and outcome (ok, error).",
	}, []string{"test", "outcome"})
	bytes := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "fibremon_ndt7_bytes_total",
		Help: "Payload bytes sent (download) or received (upload) by the ndt7 server.",
	}, []string{"test"})
	for _, t := range []string{ndt7.TestDownload, ndt7.TestUpload} {
		tests.WithLabelValues(t, "ok")
		tests.WithLabelValues(t, "error")
		bytes.WithLabelValues(t)
	}
	reg.MustRegister(tests, bytes)
	return func(s ndt7.ServerStats) {
		outcome := "ok"
		if s.Err != nil {
			outcome = "error"
		}
		tests.WithLabelValues(s.Test, outcome).Inc()
		bytes.WithLabelValues(s.Test).Add(float64(s.Bytes))
	}
}
