package main

import (
	"context"
	"flag"
	"fmt"
	"io"
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

type demoConfig struct {
	serve              serveConfig
	probesAddress      string
	measureInterval    time.Duration
	throughputInterval time.Duration
	throughputDuration time.Duration
	statusEvery        time.Duration
	splay              time.Duration
}

func runDemo(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var cfg demoConfig
	fs := flag.NewFlagSet("fibremon demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg.serve.register(fs)
	fs.Lookup("storage.path").DefValue = ""
	fs.Set("storage.path", "")
	fs.Lookup("storage.path").Usage = "SQLite database file (default: fibremon.db in a new temporary directory)"
	fs.Set("status.refresh-interval", "3s")
	fs.Set("status.stale-after", "45s")
	fs.Set("ndt7.max-duration", "4s")
	fs.Set("contract.check-interval", "5s")
	fs.Set("log.level", "warn")
	// One machine, synthetic data on a loopback address: every answer open,
	// so that the URLs printed below work without a token.
	fs.Set("web.public-read", "true")
	fs.StringVar(&cfg.probesAddress, "demo.probes-listen-address", "127.0.0.1:9516", "address serving each demo probe's /metrics at /probes/<probe>/metrics")
	fs.DurationVar(&cfg.measureInterval, "demo.check-interval", 10*time.Second, "interval of each probe's availability and latency checks")
	fs.DurationVar(&cfg.throughputInterval, "demo.throughput-interval", 2*time.Minute, "interval of each probe's ndt7 download and upload tests")
	fs.DurationVar(&cfg.throughputDuration, "demo.throughput-duration", 3*time.Second, "duration of each ndt7 test")
	fs.DurationVar(&cfg.statusEvery, "demo.status-every", 20*time.Second, "how often the demo prints the sites' state (0: never)")
	fs.DurationVar(&cfg.splay, "demo.splay", 40*time.Second, "each measurement's first run happens at a random moment within this")
	tmpNote := ""
	if err := cli.Parse(fs, args, getenv, "FIBREMON_"); err != nil {
		return err
	}
	logger, err := cfg.serve.log.logger(stderr)
	if err != nil {
		return err
	}
	workDir, err := os.MkdirTemp("", "fibremon-demo-")
	if err != nil {
		return err
	}
	if cfg.serve.storagePath == "" && cfg.serve.influx.URL == "" {
		cfg.serve.storagePath = filepath.Join(workDir, "fibremon.db")
		tmpNote = " (temporary)"
	}

	tokens := auth.NewTokens()
	svc, err := newService(ctx, logger, cfg.serve, tokens, "")
	if err != nil {
		return err
	}
	defer svc.Close()
	ln, err := net.Listen("tcp", cfg.serve.listenAddress)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	pln, err := net.Listen("tcp", cfg.probesAddress)
	if err != nil {
		ln.Close()
		return fmt.Errorf("listen for probe metrics: %w", err)
	}
	base := "http://" + ln.Addr().String()
	probeBase := "http://" + pln.Addr().String()

	// One agent per site, each behind its own emulated line.
	type demoProbe struct {
		site  fibremon.Site
		line  *linesim.Line
		agent *agent.Agent
	}
	var probes []demoProbe
	probeMux := http.NewServeMux()
	for _, site := range svc.live.Load().Sites() {
		name := "probe-" + site.ID
		tok, _, err := tokens.Issue(name, []string{site.ID}, time.Now())
		if err != nil {
			return err
		}
		c := &agent.Config{
			Probe:   name,
			SiteID:  site.ID,
			Service: agent.DefaultService,
			Spool:   agent.DefaultSpool,
			Web:     agent.WebConfig{ListenAddress: pln.Addr().String()},
			Measurements: []agent.MeasurementConfig{
				{Name: "ndt7-download", Kind: fibremon.KindDownload, Target: base, Interval: cfg.throughputInterval, Duration: cfg.throughputDuration, Timeout: cfg.throughputDuration + 10*time.Second},
				{Name: "ndt7-upload", Kind: fibremon.KindUpload, Target: base, Interval: cfg.throughputInterval, Duration: cfg.throughputDuration, Timeout: cfg.throughputDuration + 10*time.Second},
				{Name: "latency-service", Kind: fibremon.KindLatency, Target: ln.Addr().String(), Method: "tcp", Count: 10, PacketInterval: 100 * time.Millisecond, Interval: cfg.measureInterval, Timeout: 8 * time.Second},
				{Name: "http-service", Kind: fibremon.KindHTTP, Target: base + "/healthz", Interval: cfg.measureInterval, Timeout: 5 * time.Second},
				{Name: "tcp-service", Kind: fibremon.KindTCP, Target: ln.Addr().String(), Interval: cfg.measureInterval, Timeout: 5 * time.Second},
			},
		}
		c.Service.URL = base
		c.Service.Token = tok
		c.Service.UploadInterval = 3 * time.Second
		c.Spool.Dir = filepath.Join(workDir, "spool", site.ID)
		if err := c.Validate(); err != nil {
			return fmt.Errorf("demo probe %s: %w", name, err)
		}
		line := linesim.New(lineProfile(site))
		reg := metrics.NewRegistry("fibreprobe", version)
		a, err := agent.New(c, agent.Options{
			Logger:   logger.With("site_id", site.ID),
			Registry: reg,
			Dial:     line.DialContext,
			Splay:    cfg.splay,
		})
		if err != nil {
			return err
		}
		defer a.Close()
		probeMux.Handle("/probes/"+name+"/metrics", metrics.Handler(reg))
		probes = append(probes, demoProbe{site: site, line: line, agent: a})
	}

	fmt.Fprintf(stdout, "fibremon demo: Ripalta Cremasca, %d sites, each with a probe behind an emulated access line\n\n", len(probes))
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SITE\tHAMLET\tLINE\tSCRIPTED OUTAGES")
	for _, p := range probes {
		out := "-"
		if o := demoOutages(p.site); o != nil {
			out = describeOutages(o)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", p.site.ID, orDash(p.site.Hamlet), p.line.Profile().Name, out)
	}
	tw.Flush()
	fmt.Fprintf(stdout, `
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

`, base, probeBase, storageName(cfg.serve), tmpNote)

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return svc.Serve(gctx, ln) })
	psrv := &http.Server{Handler: probeMux, ReadHeaderTimeout: 10 * time.Second}
	g.Go(func() error {
		if err := psrv.Serve(pln); err != nil && err != http.ErrServerClosed {
			return err
		}
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return psrv.Shutdown(sctx)
	})
	for _, p := range probes {
		g.Go(func() error { return p.agent.Run(gctx) })
		if o := demoOutages(p.site); o != nil {
			g.Go(func() error {
				p.line.RunOutages(gctx, o, true)
				return nil
			})
		}
	}
	if cfg.statusEvery > 0 {
		g.Go(func() error {
			t := time.NewTicker(cfg.statusEvery)
			defer t.Stop()
			for {
				select {
				case <-gctx.Done():
					return nil
				case <-t.C:
					printStatus(stdout, svc, func(id string) (bool, int) {
						for _, p := range probes {
							if p.site.ID == id {
								return p.line.Down(), p.agent.Spool().Results
							}
						}
						return false, 0
					})
				}
			}
		})
	}
	err = g.Wait()
	fmt.Fprintln(stdout, "fibremon demo stopped; data kept in", storageName(cfg.serve))
	return err
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
