// Command fibreprobe is the probe agent of the fibre-rollout monitor. It
// measures one site's line — ndt7 download and upload, latency, jitter and
// loss, HTTP/TCP/DNS availability — keeps every result in a durable spool
// until the central fibremon service acknowledges it, and serves its own
// /metrics.
//
//	fibreprobe run  --config.file probe.yml   measure on schedule, forever
//	fibreprobe once --config.file probe.yml   one round, printed as a table
//	fibreprobe --config.file probe.yml --config.check
//	fibreprobe spool status  --config.file probe.yml   what waits in the spool, and the dead letters
//	fibreprobe spool requeue --config.file probe.yml   send the dead letters again
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
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"golang.org/x/sync/errgroup"

	"fibremon/internal/agent"
	"fibremon/internal/cli"
	"fibremon/internal/metrics"
	"fibremon/internal/spool"
)

var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "fibreprobe:", err)
		}
		if errors.Is(err, flag.ErrHelp) || errors.As(err, new(cli.UsageError)) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

const usage = `usage: fibreprobe <command> --config.file FILE [flags]

commands:
  run       measure on schedule and upload results until stopped
  once      run every measurement once and print the results (--upload to also send them)
  check     validate the configuration file and exit (same as --config.check)
  spool status    show the results waiting in the spool and the dead letters, with their reasons
  spool requeue   queue the dead letters again (with the agent stopped: it holds the spool)
  version   print the version
`

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cmd := "run"
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	if cmd == "spool" {
		if len(args) == 0 || (args[0] != "status" && args[0] != "requeue") {
			fmt.Fprint(stderr, usage)
			return cli.UsageError("spool: want status or requeue")
		}
		cmd, args = "spool "+args[0], args[1:]
	}
	switch cmd {
	case "run", "once", "check", "spool status", "spool requeue":
	case "version":
		fmt.Fprintln(stdout, "fibreprobe", version)
		return nil
	case "help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return cli.UsageError(fmt.Sprintf("unknown command %q", cmd))
	}
	fs := flag.NewFlagSet("fibreprobe "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	configFile := fs.String("config.file", "probe.yml", "configuration file (see internal/agent/CONFIGURATION.md)")
	check := fs.Bool("config.check", cmd == "check", "validate the configuration and exit")
	listen := fs.String("web.listen-address", "", "address for /metrics and /healthz (overrides web.listen_address of the file)")
	upload := fs.Bool("upload", false, "once: also spool the results and upload them")
	logLevel := fs.String("log.level", "info", "log level: debug, info, warn, error")
	if err := cli.Parse(fs, args, getenv, "FIBREPROBE_"); err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return cli.UsageError(fmt.Sprintf("--log.level %q: want debug, info, warn or error", *logLevel))
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	cfg, err := agent.LoadConfig(*configFile)
	if err != nil {
		return err
	}
	if *check {
		fmt.Fprintf(stdout, "%s: ok (probe %s, site %s, %d measurements)\n", *configFile, cfg.Probe, cfg.SiteID, len(cfg.Measurements))
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		for _, m := range cfg.Measurements {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", m.Name, m.Kind, m.Target, m.Describe())
		}
		tw.Flush()
		return nil
	}
	if sub, ok := strings.CutPrefix(cmd, "spool "); ok {
		return spoolCommand(sub, cfg, stdout)
	}
	if *listen != "" {
		cfg.Web.ListenAddress = *listen
	}
	reg := metrics.NewRegistry("fibreprobe", version)
	a, err := agent.New(cfg, agent.Options{Logger: logger, Registry: reg})
	if err != nil {
		return err
	}
	defer a.Close()

	if cmd == "once" {
		rs := a.RunOnce(ctx)
		fmt.Fprintf(stdout, "probe %s at site %s, %s\n\n", cfg.Probe, cfg.SiteID, time.Now().Format(time.RFC3339))
		fmt.Fprint(stdout, agent.Summary(rs))
		if !*upload {
			return nil
		}
		if err := a.Enqueue(rs); err != nil {
			return err
		}
		uctx, cancel := context.WithTimeout(ctx, cfg.Service.Timeout)
		defer cancel()
		if err := a.Flush(uctx); err != nil {
			return fmt.Errorf("upload (results stay in the spool %s): %w", cfg.Spool.Dir, err)
		}
		fmt.Fprintf(stdout, "\n%d results uploaded to %s\n", len(rs), a.ServiceURL())
		return nil
	}

	ln, err := net.Listen("tcp", cfg.Web.ListenAddress)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics.Handler(reg))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	logger.Info("fibreprobe running", "version", version, "probe", cfg.Probe, "site_id", cfg.SiteID,
		"service", strings.Join(cfg.ServiceURLs(), " "), "metrics", "http://"+ln.Addr().String()+"/metrics", "spool", cfg.Spool.Dir)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return a.Run(gctx) })
	g.Go(func() error {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return srv.Shutdown(sctx)
	})
	return g.Wait()
}

// spoolCommand runs `fibreprobe spool status|requeue` on the spool of cfg.
// The spool is locked while an agent runs, so both want the agent stopped.
func spoolCommand(sub string, cfg *agent.Config, stdout io.Writer) error {
	q, err := spool.Open(cfg.Spool.Dir, spool.Options{MaxBytes: cfg.Spool.MaxBytes, MaxAge: cfg.Spool.MaxAge})
	if errors.Is(err, spool.ErrLocked) {
		return fmt.Errorf("spool %s is in use: stop the fibreprobe that runs on it first (%w)", cfg.Spool.Dir, err)
	}
	if err != nil {
		return err
	}
	defer q.Close()
	if sub == "requeue" {
		files, results, err := q.Requeue()
		fmt.Fprintf(stdout, "%d dead letters (%d results) queued again in %s\n", files, results, cfg.Spool.Dir)
		if err != nil {
			return err
		}
	}
	st := q.Len()
	fmt.Fprintf(stdout, "spool %s: %d results in %d files (%d bytes) wait for the service's acknowledgement\n",
		cfg.Spool.Dir, st.Results, st.Files, st.Bytes)
	if !st.Oldest.IsZero() {
		fmt.Fprintf(stdout, "oldest queued at %s\n", st.Oldest.Format(time.RFC3339))
	}
	dls, err := q.DeadLetters()
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%d dead letters\n", len(dls))
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	for _, d := range dls {
		what := fmt.Sprintf("%d results", d.Results)
		if d.Err != nil {
			what = "undecodable: " + d.Err.Error()
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", d.Name, what, d.Reason)
	}
	return tw.Flush()
}
