package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"fibremon"
	"fibremon/internal/cli"
	"fibremon/internal/testing/netlab"
)

// The accuracy targets the table marks.
const (
	targetVsIperf3 = 0.05                   // |fibreprobe/iperf3 - 1|
	targetVsShaped = 0.90                   // fibreprobe/shaped rate, at least
	targetRTT      = time.Millisecond       // |measured - set|
	targetLoss     = 0.005                  // |measured - set|, as a ratio
	targetIdleRSS  = int64(20 << 20)        // bytes
	servicePort    = "8080"                 // fibremon in the server namespace
	siteID         = "municipio"            // a site of the embedded data set
	probeName      = "lab-probe"            //
	sampleEvery    = 100 * time.Millisecond // footprint sampling
)

var serviceURL = "http://" + netlab.ServerAddr.String() + ":" + servicePort

type accuracyConfig struct {
	fibremon, fibreprobe string
	duration             time.Duration
	latencyCount         int
	latencyInterval      time.Duration
	idle                 time.Duration
	capacity             bool
	dir                  string
	logger               *slog.Logger
}

func runAccuracy(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, logger *slog.Logger) error {
	fs := flag.NewFlagSet("fibrelab accuracy", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c accuracyConfig
	fs.StringVar(&c.fibremon, "fibremon", "", "the fibremon binary (default: beside fibrelab, else on PATH)")
	fs.StringVar(&c.fibreprobe, "fibreprobe", "", "the fibreprobe binary (default: beside fibrelab, else on PATH)")
	profiles := fs.String("profiles", "", "comma-separated profile names (default: all; see 'fibrelab profiles')")
	fs.DurationVar(&c.duration, "duration", 10*time.Second, "length of each ndt7 and iperf3 test (1s–15s)")
	fs.IntVar(&c.latencyCount, "latency.count", 1000, "ICMP packets of fibreprobe's latency round (and of the ping reference)")
	fs.DurationVar(&c.latencyInterval, "latency.interval", 10*time.Millisecond, "time between those packets (at least 10ms)")
	fs.DurationVar(&c.idle, "idle", 30*time.Second, "how long the idle footprint of 'fibreprobe run' is observed")
	fs.BoolVar(&c.capacity, "capacity", true, "first measure what the machine drives through an unshaped lab")
	if err := cli.Parse(fs, args, getenv, "FIBRELAB_"); err != nil {
		return err
	}
	if c.duration < time.Second || c.duration > 15*time.Second {
		return cli.UsageError("--duration: want 1s–15s")
	}
	var selected []netlab.Profile
	if *profiles == "" {
		selected = Profiles
	} else {
		for _, name := range strings.Split(*profiles, ",") {
			p, ok := findProfile(strings.TrimSpace(name))
			if !ok {
				return cli.UsageError(fmt.Sprintf("--profiles: unknown profile %q (see 'fibrelab profiles')", name))
			}
			selected = append(selected, p)
		}
	}
	var err error
	if c.fibremon, err = findBinary(c.fibremon, "fibremon"); err != nil {
		return err
	}
	if c.fibreprobe, err = findBinary(c.fibreprobe, "fibreprobe"); err != nil {
		return err
	}
	if err := netlab.Available(); err != nil {
		return err
	}
	if err := netlab.NeedTools("iperf3", "ping"); err != nil {
		return err
	}
	if err := sweep(ctx, stderr); err != nil {
		return err
	}
	c.logger = logger
	c.dir, err = os.MkdirTemp("", "fibrelab-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(c.dir)

	fmt.Fprintf(stdout, "fibrelab accuracy: %d profiles, %v tests, latency %d packets every %v, %s\n",
		len(selected), c.duration, c.latencyCount, c.latencyInterval, time.Now().UTC().Format(time.RFC3339))
	fmt.Fprintf(stdout, "machine: %s\n\n", machine())
	if c.capacity {
		caps, err := measureCapacity(ctx, c.duration, logger, stderr)
		if err != nil {
			return err
		}
		printCapacity(stdout, caps)
	}
	idle, err := measureIdle(ctx, c)
	if err != nil {
		return fmt.Errorf("idle footprint: %w", err)
	}
	var rows []row
	for _, p := range selected {
		fmt.Fprintf(stderr, "== %s\n", p.Name)
		r := measureProfile(ctx, c, p)
		if r.Err != nil {
			fmt.Fprintf(stderr, "   %s: %v\n", p.Name, r.Err)
		}
		rows = append(rows, r)
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	printAccuracy(stdout, rows)
	printFootprint(stdout, idle, rows)
	return nil
}

// findBinary returns path if set, else name beside this executable, else
// name on PATH.
func findBinary(path, name string) (string, error) {
	if path != "" {
		return filepath.Abs(path)
	}
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), name)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	p, err := exec.LookPath(name)
	if err != nil {
		return "", cli.UsageError(fmt.Sprintf("no %s binary: build it (go build -o bin/ ./cmd/...) and pass --%s", name, name))
	}
	return filepath.Abs(p)
}

func machine() string {
	var parts []string
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		n := 0
		model := ""
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, "processor") {
				n++
			}
			if model == "" && strings.HasPrefix(line, "model name") {
				if _, v, ok := strings.Cut(line, ":"); ok {
					model = strings.TrimSpace(v)
				}
			}
		}
		parts = append(parts, fmt.Sprintf("%d × %s", n, model))
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		parts = append(parts, "Linux "+strings.TrimSpace(string(b)))
	}
	return strings.Join(parts, ", ")
}

// row is one profile's measurements.
type row struct {
	P                  netlab.Profile
	IperfDown, IperfUp netlab.Iperf3Result
	// fibreprobe's results as the service stored them.
	Down, Up, Latency fibremon.Result
	Ping              netlab.PingResult
	FootDown, FootUp  footprint
	FootRound         footprint
	Delay             netlab.DelayLineStats
	Err               error
}

func measureProfile(ctx context.Context, c accuracyConfig, p netlab.Profile) (r row) {
	r.P = p
	lab, err := netlab.New(ctx, p, c.logger)
	if err != nil {
		r.Err = err
		return r
	}
	defer lab.Close()
	dir, err := os.MkdirTemp(c.dir, "profile-")
	if err != nil {
		r.Err = err
		return r
	}
	if err := startService(ctx, c, lab, dir); err != nil {
		r.Err = err
		return r
	}
	if _, err := lab.StartIperf3Server(ctx); err != nil {
		r.Err = err
		return r
	}
	if r.IperfDown, err = lab.Iperf3(ctx, true, c.duration); err != nil {
		r.Err = fmt.Errorf("iperf3 download: %w", err)
		return r
	}
	if r.IperfUp, err = lab.Iperf3(ctx, false, c.duration); err != nil {
		r.Err = fmt.Errorf("iperf3 upload: %w", err)
		return r
	}
	if r.Ping, err = lab.Ping(ctx, c.latencyCount, c.latencyInterval); err != nil {
		r.Err = fmt.Errorf("ping: %w", err)
		return r
	}
	cfg, err := writeProbeConfig(c, dir, onceMeasurements(c))
	if err != nil {
		r.Err = err
		return r
	}
	var out bytes.Buffer
	cmd := lab.Command(ctx, netlab.Client, c.fibreprobe, "once", "--upload", "--config.file", cfg, "--log.level", "warn")
	cmd.Stdout, cmd.Stderr = &out, &out
	proc, err := lab.Start(cmd)
	if err != nil {
		r.Err = err
		return r
	}
	s := startSampler(ctx, proc.Pid(), sampleEvery)
	werr := proc.Wait()
	samples := s.stop()
	if werr != nil {
		r.Err = fmt.Errorf("fibreprobe once: %w\n%s", werr, out.String())
		return r
	}
	results, err := fetchResults(ctx, lab, dir)
	if err != nil {
		r.Err = err
		return r
	}
	for _, res := range results {
		switch res.Kind {
		case fibremon.KindDownload:
			r.Down = res
		case fibremon.KindUpload:
			r.Up = res
		case fibremon.KindLatency:
			r.Latency = res
		}
	}
	for _, res := range []fibremon.Result{r.Down, r.Up, r.Latency} {
		if res.Kind == "" {
			r.Err = fmt.Errorf("fibreprobe stored no result of every kind:\n%s", out.String())
			return r
		}
		if !res.Up {
			r.Err = fmt.Errorf("fibreprobe %s failed: %s", res.Kind, res.Error)
		}
	}
	during := func(res fibremon.Result) footprint {
		// The first and last 0.5 s hold the handshake and the close.
		from := res.Start.Add(500 * time.Millisecond)
		to := res.Start.Add(time.Duration(res.DurationSeconds*float64(time.Second)) - 500*time.Millisecond)
		f, _ := window(samples, from, to)
		return f
	}
	r.FootDown, r.FootUp = during(r.Down), during(r.Up)
	if len(samples) > 1 {
		r.FootRound, _ = window(samples, samples[0].At, samples[len(samples)-1].At)
	}
	if r.Delay, _, err = lab.DelayStats(); err != nil {
		r.Err = err
	}
	return r
}

// startService issues a probe token and starts fibremon serve in the
// server namespace: the ndt7 server and the API that stores fibreprobe's
// results.
func startService(ctx context.Context, c accuracyConfig, lab *netlab.Lab, dir string) error {
	tokens := filepath.Join(dir, "tokens.json")
	out, err := exec.CommandContext(ctx, c.fibremon, "token", "add", "--auth.tokens-file", tokens,
		"--probe", probeName, "--site", siteID).Output()
	if err != nil {
		return fmt.Errorf("fibremon token add: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "token"), bytes.TrimSpace(out), 0o600); err != nil {
		return err
	}
	log, err := os.Create(filepath.Join(dir, "fibremon.log"))
	if err != nil {
		return err
	}
	cmd := lab.Command(context.WithoutCancel(ctx), netlab.Server, c.fibremon, "serve",
		"--web.listen-address", netlab.ServerAddr.String()+":"+servicePort,
		"--storage.path", filepath.Join(dir, "fibremon.db"),
		"--auth.tokens-file", tokens,
		"--ndt7.max-duration", c.duration.String(),
		"--log.level", "warn")
	cmd.Stdout, cmd.Stderr = log, log
	if _, err := lab.Start(cmd); err != nil {
		return fmt.Errorf("start fibremon: %w", err)
	}
	if err := lab.WaitListening(ctx, netlab.Server, netlab.ServerAddr.String()+":"+servicePort); err != nil {
		b, _ := os.ReadFile(log.Name())
		return fmt.Errorf("fibremon serve: %w\n%s", err, b)
	}
	return nil
}

func onceMeasurements(c accuracyConfig) string {
	d := c.duration.String()
	return fmt.Sprintf(`  - name: download
    kind: download
    target: %[1]s
    duration: %[2]s
  - name: upload
    kind: upload
    target: %[1]s
    duration: %[2]s
  - name: latency
    kind: latency
    target: %[3]s
    method: icmp
    count: %[4]d
    packet_interval: %[5]s
    timeout: %[6]s
`, serviceURL, d, netlab.ServerAddr, c.latencyCount, c.latencyInterval,
		time.Duration(c.latencyCount)*c.latencyInterval+5*time.Second)
}

// writeProbeConfig writes a fibreprobe configuration for the lab's
// service with the given measurements list.
func writeProbeConfig(c accuracyConfig, dir, measurements string) (string, error) {
	path := filepath.Join(dir, fmt.Sprintf("probe-%d.yml", time.Now().UnixNano()))
	cfg := fmt.Sprintf(`probe: %s
site_id: %s
service:
  url: %s
  token_file: %s
spool:
  dir: %s
web:
  listen_address: 127.0.0.1:9516
measurements:
%s`, probeName, siteID, serviceURL, filepath.Join(dir, "token"), filepath.Join(dir, "spool"), measurements)
	return path, os.WriteFile(path, []byte(cfg), 0o600)
}

// fetchResults reads back what fibreprobe uploaded, as the service stored
// it: the figures at full precision. It reads with the probe's own token
// (in dir, from startService), which may read its site's results.
func fetchResults(ctx context.Context, lab *netlab.Lab, dir string) ([]fibremon.Result, error) {
	token, err := os.ReadFile(filepath.Join(dir, "token"))
	if err != nil {
		return nil, err
	}
	client := &http.Client{Transport: &http.Transport{DialContext: lab.DialContext(netlab.Server)}, Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, serviceURL+"/api/v1/results?site_id="+siteID+"&limit=100", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+string(bytes.TrimSpace(token)))
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("read results back: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("read results back: HTTP %s", resp.Status)
	}
	var body struct {
		Results []fibremon.Result `json:"results"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, fmt.Errorf("read results back: %w", err)
	}
	return body.Results, nil
}

// idleFootprint is 'fibreprobe run' with nothing due.
type idleFootprint struct {
	Start, Idle footprint
}

// measureIdle runs 'fibreprobe run' in an unshaped lab with measurements
// due only in a day, and observes it for c.idle after a settling second.
func measureIdle(ctx context.Context, c accuracyConfig) (idleFootprint, error) {
	lab, err := netlab.New(ctx, netlab.Profile{Name: "idle"}, c.logger)
	if err != nil {
		return idleFootprint{}, err
	}
	defer lab.Close()
	dir, err := os.MkdirTemp(c.dir, "idle-")
	if err != nil {
		return idleFootprint{}, err
	}
	if err := startService(ctx, c, lab, dir); err != nil {
		return idleFootprint{}, err
	}
	// The first run of each measurement falls at a random moment of
	// its interval: with 24 h, inside the observed minute with a
	// chance of about 0.1 %.
	m := strings.ReplaceAll(onceMeasurements(c), "    kind:", "    interval: 24h\n    kind:")
	cfg, err := writeProbeConfig(c, dir, m)
	if err != nil {
		return idleFootprint{}, err
	}
	var out bytes.Buffer
	cmd := lab.Command(ctx, netlab.Client, c.fibreprobe, "run", "--config.file", cfg, "--log.level", "warn")
	cmd.Stdout, cmd.Stderr = &out, &out
	proc, err := lab.Start(cmd)
	if err != nil {
		return idleFootprint{}, err
	}
	s := startSampler(ctx, proc.Pid(), sampleEvery)
	start := time.Now()
	select {
	case <-time.After(time.Second + c.idle):
	case <-ctx.Done():
	}
	samples := s.stop()
	cmd.Process.Signal(os.Interrupt)
	proc.Wait()
	if ctx.Err() != nil {
		return idleFootprint{}, ctx.Err()
	}
	var f idleFootprint
	var ok1, ok2 bool
	f.Start, ok1 = window(samples, start, start.Add(time.Second))
	f.Idle, ok2 = window(samples, start.Add(time.Second), time.Now())
	if !ok1 || !ok2 {
		return f, fmt.Errorf("fibreprobe run exited early:\n%s", out.String())
	}
	return f, nil
}

func mark(ok bool) string {
	if ok {
		return "ok"
	}
	return "MISS"
}

func printAccuracy(w io.Writer, rows []row) {
	fmt.Fprintf(w, "\nAccuracy (rates in Mbit/s; targets: fibreprobe within %.0f %% of iperf3 and at least %.0f %% of the shaped rate, RTT within %v of the set one, loss within %.1f points)\n\n",
		targetVsIperf3*100, targetVsShaped*100, targetRTT, targetLoss*100)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PROFILE\tDIR\tSHAPED\tIPERF3\tFIBREPROBE\tFP/IPERF3\t\tFP/SHAPED\t\tRTT SET\tRTT FP avg (min)\tRTT PING avg\t\tLOSS SET\tLOSS FP\tLOSS PING\t")
	for _, r := range rows {
		if r.Err != nil {
			fmt.Fprintf(tw, "%s\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\n", r.P.Name)
		}
		for i, d := range []struct {
			name   string
			shaped float64
			iperf  float64
			fp     float64
		}{
			{"down", r.P.Down, r.IperfDown.BitsPerSecond, r.Down.Values[fibremon.DownloadBytesPerSecond] * 8},
			{"up", r.P.Up, r.IperfUp.BitsPerSecond, r.Up.Values[fibremon.UploadBytesPerSecond] * 8},
		} {
			name := r.P.Name
			if i > 0 {
				name = ""
			}
			vsIperf, vsShaped := "", ""
			markI, markS := "", ""
			if d.iperf > 0 && d.fp > 0 {
				q := d.fp / d.iperf
				vsIperf, markI = fmt.Sprintf("%.3f", q), mark(math.Abs(q-1) <= targetVsIperf3)
			}
			if d.shaped > 0 && d.fp > 0 {
				q := d.fp / d.shaped
				vsShaped, markS = fmt.Sprintf("%.3f", q), mark(q >= targetVsShaped)
			}
			latency := "\t\t\t\t\t\t"
			if i == 0 && r.Latency.Up {
				v := r.Latency.Values
				avg := time.Duration(v[fibremon.AvgRTTSeconds] * float64(time.Second))
				minRTT := time.Duration(v[fibremon.MinRTTSeconds] * float64(time.Second))
				rttOK := absDur(avg-r.P.RTT) <= targetRTT
				lossOK := math.Abs(v[fibremon.LossRatio]-r.P.Loss) <= targetLoss
				latency = fmt.Sprintf("%s\t%s (%s)\t%s\t%s\t%.2f %%\t%.2f %%\t%.2f %% %s",
					ms(r.P.RTT), ms(avg), ms(minRTT), ms(r.Ping.Avg), mark(rttOK),
					r.P.Loss*100, v[fibremon.LossRatio]*100, r.Ping.Loss()*100, mark(lossOK))
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", name, d.name,
				mbit(d.shaped), mbit(d.iperf), mbit(d.fp), vsIperf, markI, vsShaped, markS, latency)
		}
	}
	tw.Flush()
	for _, r := range rows {
		if r.Err != nil {
			fmt.Fprintf(w, "%s: %v\n", r.P.Name, r.Err)
		}
	}
	fmt.Fprintln(w, "\nDelay line and TCP details")
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PROFILE\tDELAY LINE pkts\tDROPPED\tLATE mean/max\tRTT FP p95/max\tRTT PING max\tIPERF3 CC down/up\tIPERF3 RETRANS down/up\tNDT7 RETRANS RATIO down/up\tNDT7 MIN RTT down/up\t")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%v / %v\t%s / %s\t%s\t%s / %s\t%d / %d\t%s / %s\t%s / %s\t\n", r.P.Name, r.Delay.Forwarded, r.Delay.Dropped,
			r.Delay.MeanLate.Round(time.Microsecond), r.Delay.MaxLate.Round(time.Microsecond),
			seconds(r.Latency.Values, fibremon.P95RTTSeconds), seconds(r.Latency.Values, fibremon.MaxRTTSeconds), ms(r.Ping.Max),
			r.IperfDown.Congestion, r.IperfUp.Congestion, r.IperfDown.Retransmits, r.IperfUp.Retransmits,
			ratio(r.Down.Values, fibremon.RetransmissionRatio), ratio(r.Up.Values, fibremon.RetransmissionRatio),
			seconds(r.Down.Values, fibremon.MinRTTSeconds), seconds(r.Up.Values, fibremon.MinRTTSeconds))
	}
	tw.Flush()
}

func printFootprint(w io.Writer, idle idleFootprint, rows []row) {
	fmt.Fprintln(w, "\nfibreprobe footprint (RSS: resident set; HWM: its peak since start; CPU: % of one core)")
	fmt.Fprintf(w, "idle 'fibreprobe run': RSS %.1f MiB (HWM %.1f MiB), CPU %.2f %% over %v — target RSS < %d MiB: %s\n",
		mib(idle.Idle.PeakRSS), mib(idle.Idle.HWM), idle.Idle.CPUPercent(), idle.Idle.Wall.Round(time.Second),
		targetIdleRSS>>20, mark(idle.Idle.PeakRSS < targetIdleRSS))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PROFILE\tDOWNLOAD RSS peak\tCPU\tUPLOAD RSS peak\tCPU\tWHOLE ROUND HWM\tCPU s\t")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%.1f MiB\t%.1f %%\t%.1f MiB\t%.1f %%\t%.1f MiB\t%.2f\t\n", r.P.Name,
			mib(r.FootDown.PeakRSS), r.FootDown.CPUPercent(), mib(r.FootUp.PeakRSS), r.FootUp.CPUPercent(),
			mib(r.FootRound.HWM), r.FootRound.CPU.Seconds())
	}
	tw.Flush()
}

func absDur(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }

func mbit(bps float64) string {
	if bps <= 0 {
		return "-"
	}
	switch {
	case bps < 10e6:
		return fmt.Sprintf("%.3f", bps/1e6)
	case bps < 100e6:
		return fmt.Sprintf("%.2f", bps/1e6)
	}
	return fmt.Sprintf("%.1f", bps/1e6)
}

func ratio(v map[string]float64, key string) string {
	x, ok := v[key]
	if !ok {
		return "-"
	}
	return fmt.Sprintf("%.4f", x)
}

func seconds(v map[string]float64, key string) string {
	x, ok := v[key]
	if !ok {
		return "-"
	}
	return ms(time.Duration(x * float64(time.Second)))
}
