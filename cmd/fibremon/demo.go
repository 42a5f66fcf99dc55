package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/sync/errgroup"

	"fibremon"
	"fibremon/internal/agent"
	"fibremon/internal/auth"
	"fibremon/internal/cli"
	"fibremon/internal/metrics"
	"fibremon/internal/testing/linesim"
	"fibremon/probes"
)

// lineProfile is the emulated access line of a site: its contracted speeds
// (a line syncs at about what is sold) and a round-trip time typical of its
// technology.
func lineProfile(s fibremon.Site) linesim.Profile {
	rtt := map[fibremon.Technology]time.Duration{
		fibremon.FTTH: 4 * time.Millisecond, fibremon.FTTB: 6 * time.Millisecond,
		fibremon.FWA: 22 * time.Millisecond, fibremon.FTTC: 14 * time.Millisecond,
		fibremon.ADSL: 38 * time.Millisecond,
	}[s.Technology]
	down, up := s.ContractDownloadBytesPerSecond, s.ContractUploadBytesPerSecond
	if down == 0 {
		down, up = fibremon.MbitPerSecond(20), fibremon.MbitPerSecond(1)
	}
	return linesim.Profile{
		Name: fmt.Sprintf("%s %.4g/%.4g Mbit/s, %v RTT", s.Technology,
			fibremon.ToMbitPerSecond(down), fibremon.ToMbitPerSecond(up), rtt),
		DownBytesPerSecond: down,
		UpBytesPerSecond:   up,
		RTT:                rtt,
	}
}

// demoOutages scripts outages on two sites: the radio link of an FWA line
// fading now and then, and a copper line dropping for a longer while.
func demoOutages(s fibremon.Site) []linesim.Outage {
	switch s.ID {
	case "agriturismo-la-torre":
		return []linesim.Outage{{After: 40 * time.Second, For: 30 * time.Second}, {After: 80 * time.Second, For: 20 * time.Second}}
	case "azienda-agricola-zappello":
		return []linesim.Outage{{After: 75 * time.Second, For: 90 * time.Second}, {After: 120 * time.Second}}
	}
	return nil
}

// demoConfig is the configuration of `fibremon demo`: serve's, with other
// defaults, and the demo's own.
type demoConfig struct {
	serve              serveConfig
	probesAddress      string
	measureInterval    time.Duration
	throughputInterval time.Duration
	throughputDuration time.Duration
	statusEvery        time.Duration
	splay              time.Duration
}

// defaultDemoConfig is serve's default configuration made for one machine
// and a short look (status rebuilt every few seconds, short ndt7 tests,
// only warnings logged, results in a new temporary directory), with the
// demo's own defaults.
func defaultDemoConfig() demoConfig {
	s := defaultServeConfig()
	s.storagePath = "" // fibremon.db in the demo's temporary directory
	s.refreshInterval = 3 * time.Second
	s.stale = 45 * time.Second
	s.ndt7Duration = 4 * time.Second
	s.contractInterval = 5 * time.Second
	s.log.level = "warn"
	// One machine, synthetic data on a loopback address: every answer
	// open, so that the URLs the demo prints work without a token.
	s.publicRead = true
	// Every probe of the demo measures through an emulated line: its
	// results say so wherever they are shown.
	s.emulatedLines = true
	return demoConfig{
		serve:              s,
		probesAddress:      "127.0.0.1:9516",
		measureInterval:    10 * time.Second,
		throughputInterval: 2 * time.Minute,
		throughputDuration: 3 * time.Second,
		statusEvery:        20 * time.Second,
		splay:              40 * time.Second,
	}
}

// register defines the flags of c on fs, each defaulting to c's value.
func (c *demoConfig) register(fs *flag.FlagSet) {
	c.serve.register(fs)
	fs.Lookup("storage.path").Usage = "SQLite database file (default: fibremon.db in a new temporary directory)"
	fs.StringVar(&c.probesAddress, "demo.probes-listen-address", c.probesAddress, "address serving each demo probe's /metrics at /probes/<probe>/metrics")
	fs.DurationVar(&c.measureInterval, "demo.check-interval", c.measureInterval, "interval of each probe's availability and latency checks")
	fs.DurationVar(&c.throughputInterval, "demo.throughput-interval", c.throughputInterval, "interval of each probe's ndt7 download and upload tests")
	fs.DurationVar(&c.throughputDuration, "demo.throughput-duration", c.throughputDuration, "duration of each ndt7 test")
	fs.DurationVar(&c.statusEvery, "demo.status-every", c.statusEvery, "how often the demo prints the sites' state (0: never)")
	fs.DurationVar(&c.splay, "demo.splay", c.splay, "each measurement's first run happens at a random moment within this")
}

func runDemo(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg := defaultDemoConfig()
	fs := flag.NewFlagSet("fibremon demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg.register(fs)
	if err := cli.Parse(fs, args, getenv, "FIBREMON_"); err != nil {
		return err
	}
	logger, err := cfg.serve.log.logger(stderr)
	if err != nil {
		return err
	}
	d := &demo{cfg: cfg, logger: logger, stdout: stdout}
	defer d.Close()
	if err := d.startService(ctx); err != nil {
		return err
	}
	if err := d.startProbes(); err != nil {
		return err
	}
	d.printIntro()
	err = d.Run(ctx)
	fmt.Fprintln(stdout, "fibremon demo stopped; data kept in", storageName(d.cfg.serve))
	return err
}

// demo is the whole system on one machine: the service, one probe agent
// per site behind an emulated access line, and scripted outages on some
// lines. Its steps are startService, startProbes and Run; Close releases
// what they opened.
type demo struct {
	cfg    demoConfig
	logger *slog.Logger
	stdout io.Writer

	workDir     string // the probes' spools, and the database by default
	tempStorage bool   // the database is in workDir
	tokens      *auth.Tokens
	svc         *service
	ln          net.Listener // the service's
	base        string       // the service's URL

	probesLn  net.Listener // the probes' /metrics
	probesMux *http.ServeMux
	probes    []demoProbe
}

// demoProbe is one site's probe agent and its emulated line.
type demoProbe struct {
	site  fibremon.Site
	line  *linesim.Line
	agent *agent.Agent
}

// startService builds the service on a store in a new temporary directory
// (unless one is configured), with probe tokens kept in memory, and opens
// its listener.
func (d *demo) startService(ctx context.Context) error {
	var err error
	if d.workDir, err = os.MkdirTemp("", "fibremon-demo-"); err != nil {
		return err
	}
	if d.cfg.serve.storagePath == "" && d.cfg.serve.influx.URL == "" {
		d.cfg.serve.storagePath = filepath.Join(d.workDir, "fibremon.db")
		d.tempStorage = true
	}
	d.tokens = auth.NewTokens()
	if d.svc, err = newService(ctx, d.logger, d.cfg.serve, d.tokens, ""); err != nil {
		return err
	}
	if d.ln, err = net.Listen("tcp", d.cfg.serve.listenAddress); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	d.base = "http://" + d.ln.Addr().String()
	return nil
}

// startProbes builds one agent per site of the service, each with its own
// token, spool and emulated line, and opens the listener of their metrics.
func (d *demo) startProbes() error {
	var err error
	if d.probesLn, err = net.Listen("tcp", d.cfg.probesAddress); err != nil {
		return fmt.Errorf("listen for probe metrics: %w", err)
	}
	d.probesMux = http.NewServeMux()
	for _, site := range d.svc.live.Load().Sites() {
		name := "probe-" + site.ID
		tok, _, err := d.tokens.Issue(name, []string{site.ID}, time.Now())
		if err != nil {
			return err
		}
		c := d.probeConfig(name, site, tok)
		if err := c.Validate(); err != nil {
			return fmt.Errorf("demo probe %s: %w", name, err)
		}
		line := linesim.New(lineProfile(site))
		reg := metrics.NewRegistry("fibreprobe", version)
		a, err := agent.New(c, agent.Options{
			Logger:   d.logger.With("site_id", site.ID),
			Registry: reg,
			Dial:     line.DialContext,
			Splay:    d.cfg.splay,
		})
		if err != nil {
			return err
		}
		d.probes = append(d.probes, demoProbe{site: site, line: line, agent: a})
		d.probesMux.Handle("/probes/"+name+"/metrics", metrics.Handler(reg))
	}
	return nil
}

// probeConfig is the configuration of the probe of site: ndt7 tests, a
// latency round and availability checks, all against the service.
func (d *demo) probeConfig(name string, site fibremon.Site, token string) *agent.Config {
	addr, cfg := d.ln.Addr().String(), d.cfg
	throughput := probes.Options{Throughput: probes.ThroughputOptions{Duration: cfg.throughputDuration}}
	c := &agent.Config{
		Probe:   name,
		SiteID:  site.ID,
		Service: agent.DefaultService,
		Spool:   agent.DefaultSpool,
		Web:     agent.WebConfig{ListenAddress: d.probesLn.Addr().String()},
		Measurements: []agent.MeasurementConfig{
			{Name: "ndt7-download", Kind: fibremon.KindDownload, Target: d.base, Interval: cfg.throughputInterval,
				Timeout: cfg.throughputDuration + 10*time.Second, Options: throughput},
			{Name: "ndt7-upload", Kind: fibremon.KindUpload, Target: d.base, Interval: cfg.throughputInterval,
				Timeout: cfg.throughputDuration + 10*time.Second, Options: throughput},
			{Name: "latency-service", Kind: fibremon.KindLatency, Target: addr, Interval: cfg.measureInterval, Timeout: 8 * time.Second,
				Options: probes.Options{Latency: probes.LatencyOptions{Method: "tcp", Count: 10, PacketInterval: 100 * time.Millisecond}}},
			{Name: "http-service", Kind: fibremon.KindHTTP, Target: d.base + "/healthz", Interval: cfg.measureInterval, Timeout: 5 * time.Second},
			{Name: "tcp-service", Kind: fibremon.KindTCP, Target: addr, Interval: cfg.measureInterval, Timeout: 5 * time.Second},
		},
	}
	c.Service.URL = d.base
	c.Service.Token = token
	c.Service.UploadInterval = 3 * time.Second
	c.Spool.Dir = filepath.Join(d.workDir, "spool", site.ID)
	return c
}

// printIntro tells what runs and where to look.
func (d *demo) printIntro() {
	fmt.Fprintf(d.stdout, "fibremon demo: Ripalta Cremasca, %d sites, each with a probe behind an emulated access line\n\n", len(d.probes))
	tw := tabwriter.NewWriter(d.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SITE\tHAMLET\tLINE\tSCRIPTED OUTAGES")
	for _, p := range d.probes {
		out := "-"
		if o := demoOutages(p.site); o != nil {
			out = describeOutages(o)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", p.site.ID, orDash(p.site.Hamlet), p.line.Profile().Name, out)
	}
	tw.Flush()
	tmpNote := ""
	if d.tempStorage {
		tmpNote = " (temporary)"
	}
	fmt.Fprintf(d.stdout, `
open:
  %[1]s/                          the coverage map and "is my address covered?"
  %[1]s/api/v1/sites              sites with latest results and state
  %[1]s/api/v1/coverage.geojson   comune, hamlets and sites as GeoJSON (?layer=addresses&comune=... by bbox= and zoom=)
  %[1]s/api/v1/coverage?address=Via+Roma+5
  %[1]s/api/v1/rollout            coverage figures and the rollout timeline
  %[1]s/metrics                   the service's Prometheus metrics
  %[1]s/api/v1/results?site_id=municipio
  %[2]s/probes/probe-municipio/metrics   a probe's own metrics (one per site)
storage: %[3]s%[4]s
first results within a minute; Ctrl-C stops.

`, d.base, "http://"+d.probesLn.Addr().String(), storageName(d.cfg.serve), tmpNote)
}

// Run serves, measures through the emulated lines, plays the scripted
// outages and prints the sites' state until ctx is done.
//
// Liveness: every goroutine belongs to Run's errgroup and returns when ctx
// is done (or another fails); Run waits for them all.
func (d *demo) Run(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return d.svc.Serve(ctx, d.ln) })
	g.Go(func() error { return d.serveProbeMetrics(ctx) })
	for _, p := range d.probes {
		g.Go(func() error { return p.agent.Run(ctx) })
	}
	for _, p := range d.probes {
		if o := demoOutages(p.site); o != nil {
			g.Go(func() error {
				p.line.RunOutages(ctx, o, true)
				return nil
			})
		}
	}
	if d.cfg.statusEvery > 0 {
		g.Go(func() error { return d.printStatusEvery(ctx) })
	}
	return g.Wait()
}

// serveProbeMetrics serves each probe's /metrics until ctx is done.
func (d *demo) serveProbeMetrics(ctx context.Context) error {
	srv := &http.Server{Handler: d.probesMux, ReadHeaderTimeout: 10 * time.Second}
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		if err := srv.Serve(d.probesLn); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	g.Go(func() error {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return srv.Shutdown(sctx)
	})
	return g.Wait()
}

// printStatusEvery prints the sites' state every cfg.statusEvery until
// ctx is done.
func (d *demo) printStatusEvery(ctx context.Context) error {
	t := time.NewTicker(d.cfg.statusEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			printStatus(d.stdout, d.svc, d.lineState)
		}
	}
}

// lineState says whether the line of site id is down, and how many
// results its probe holds unsent.
func (d *demo) lineState(id string) (down bool, spooled int) {
	for _, p := range d.probes {
		if p.site.ID == id {
			return p.line.Down(), p.agent.Spool().Results
		}
	}
	return false, 0
}

// Close closes the probes' spools, the listeners (when not served), and
// the service's store. Call it after Run has returned.
func (d *demo) Close() error {
	var errs []error
	for _, p := range d.probes {
		errs = append(errs, p.agent.Close())
	}
	for _, ln := range []net.Listener{d.probesLn, d.ln} {
		if ln != nil {
			ln.Close() // already closed if it was served
		}
	}
	if d.svc != nil {
		errs = append(errs, d.svc.Close())
	}
	return errors.Join(errs...)
}

func printStatus(w io.Writer, svc *service, line func(id string) (down bool, spooled int)) {
	snap := svc.tracker.Snapshot()
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "%s\nSITE\tSTATE\tDOWN Mbit/s\tUP Mbit/s\tRTT ms\tAVAIL 24h\tLINE\tSPOOLED\n", snap.At.Format(time.TimeOnly))
	for _, s := range snap.Sites {
		down, up, rtt := "-", "-", "-"
		for _, r := range s.Latest {
			if !r.Up {
				continue
			}
			if v, ok := r.Values[fibremon.DownloadBytesPerSecond]; ok {
				down = fmt.Sprintf("%.1f", fibremon.ToMbitPerSecond(v))
			}
			if v, ok := r.Values[fibremon.UploadBytesPerSecond]; ok {
				up = fmt.Sprintf("%.1f", fibremon.ToMbitPerSecond(v))
			}
			if v, ok := r.Values[fibremon.MinRTTSeconds]; ok && r.Kind == fibremon.KindLatency {
				rtt = fmt.Sprintf("%.1f", v*1000)
			}
		}
		avail := "-"
		if a := s.Availability24h; a != nil {
			avail = fmt.Sprintf("%.1f %%", *a*100)
		}
		lineDown, spooled := line(s.ID)
		ls := "up"
		if lineDown {
			ls = "OUTAGE"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\n", s.ID, s.State, down, up, rtt, avail, ls, spooled)
	}
	tw.Flush()
	fmt.Fprintln(w)
}

func describeOutages(o []linesim.Outage) string {
	var parts []string
	for _, x := range o {
		if x.For > 0 {
			parts = append(parts, fmt.Sprintf("%v down after %v", x.For, x.After))
		}
	}
	return strings.Join(parts, ", ") + ", repeating"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// storageName says where the service keeps results.
func storageName(c serveConfig) string {
	if c.influx.URL != "" {
		return fmt.Sprintf("InfluxDB %s, bucket %s", c.influx.URL, c.influx.Bucket)
	}
	return c.storagePath
}
