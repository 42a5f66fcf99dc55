package faults

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"fibremon"
	"fibremon/internal/fibrehttp"
	"fibremon/internal/testing/influxtest"
	"fibremon/internal/testing/testnet"
)

// The site and probe every scenario uses; each scenario has its own
// service and store, so they never meet.
const (
	siteID    = "municipio"
	probeName = "probe-municipio" // the name storetest.Result gives results of siteID
)

// Deadlines of the waits. They are generous on purpose: the suite runs
// beside the rest of `go test ./...` on two cores, and nothing here asserts
// how fast anything is.
const (
	startTimeout  = 2 * time.Minute  // a process answering after start
	settleTimeout = 90 * time.Second // the probe's and the service's accounts agreeing
	// backoffTimeout bounds how long a probe may take to retry after a
	// service comes back: its backoff doubles up to 5 min, ±20 % jitter.
	backoffTimeout = 6 * time.Minute
)

// These variables, set, make the test binary one of TestPowerCut's child
// processes, TestSpoolWriterProcess or TestStoreCheckProcess; they hold
// that process's configuration.
const (
	spoolWriterEnv = "FIBREMON_FAULTS_SPOOL_WRITER"
	storeCheckEnv  = "FIBREMON_FAULTS_STORE_CHECK"
)

// bins are the real binaries, built once by TestMain.
var bins struct{ fibremon, fibreprobe string }

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	if testing.Short() || os.Getenv(spoolWriterEnv) != "" || os.Getenv(storeCheckEnv) != "" {
		return m.Run() // every test skips, or this is a child process of TestPowerCut
	}
	dir, err := os.MkdirTemp("", "fibremon-faults-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	for _, c := range []string{"fibremon", "fibreprobe"} {
		out, err := exec.Command("go", "build", "-o", filepath.Join(dir, c), "fibremon/cmd/"+c).CombinedOutput()
		if err != nil {
			fmt.Fprintf(os.Stderr, "go build %s: %v\n%s", c, err, out)
			return 1
		}
	}
	bins.fibremon, bins.fibreprobe = filepath.Join(dir, "fibremon"), filepath.Join(dir, "fibreprobe")
	return m.Run()
}

// long marks a test that runs the real binaries.
func long(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("runs the real fibremon and fibreprobe binaries")
	}
}

// proc is a child process whose output goes to a log file.
type proc struct {
	t       *testing.T
	name    string
	args    []string
	env     []string
	logPath string
	cmd     *exec.Cmd
	done    chan struct{}
	err     error // the exit status, once done is closed
}

// start starts p; its output is appended to its log.
func (p *proc) start() {
	p.t.Helper()
	f, err := os.OpenFile(p.logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		p.t.Fatal(err)
	}
	fmt.Fprintf(f, "=== start %s %s\n", filepath.Base(p.args[0]), strings.Join(p.args[1:], " "))
	cmd := exec.Command(p.args[0], p.args[1:]...)
	cmd.Env = append(os.Environ(), p.env...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		p.t.Fatalf("%s: %v", p.name, err)
	}
	p.cmd, p.done = cmd, make(chan struct{})
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
}

// running reports whether the process started last is still running.
func (p *proc) running() bool {
	if p.cmd == nil {
		return false
	}
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// signal sends sig and waits for the process to exit, returning its exit
// status; a process that has not exited within timeout is killed and the
// test fails.
func (p *proc) signal(sig syscall.Signal, timeout time.Duration) error {
	p.t.Helper()
	if !p.running() {
		p.t.Fatalf("%s: not running", p.name)
	}
	p.cmd.Process.Signal(sig) //nolint:errcheck // it may have exited meanwhile
	select {
	case <-p.done:
	case <-time.After(timeout):
		p.cmd.Process.Kill() //nolint:errcheck // it may have exited meanwhile
		<-p.done
		p.t.Fatalf("%s did not exit within %v of %v\n%s", p.name, timeout, sig, p.logTail())
	}
	return p.err
}

// kill stops the process with SIGKILL, as a crash or the OOM killer would.
func (p *proc) kill() {
	p.t.Helper()
	p.signal(syscall.SIGKILL, 10*time.Second) //nolint:errcheck // killed: the status says so
}

// cleanup kills the process if it still runs; registered with t.Cleanup.
func (p *proc) cleanup() {
	if p.running() {
		p.cmd.Process.Kill() //nolint:errcheck // it may have exited meanwhile
		<-p.done
	}
	if p.t.Failed() {
		p.t.Logf("log of %s:\n%s", p.name, p.logTail())
	}
}

// log returns the whole log.
func (p *proc) log() string {
	b, _ := os.ReadFile(p.logPath)
	return string(b)
}

// logTail returns the end of the log, for failure messages.
func (p *proc) logTail() string {
	s := p.log()
	if len(s) > 6000 {
		s = "…" + s[len(s)-6000:]
	}
	return s
}

// waitHTTP waits until GET url answers want, failing the test if p exits
// or the deadline passes.
func (p *proc) waitHTTP(url string, want int) {
	p.t.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	deadline := time.Now().Add(startTimeout)
	for {
		if !p.running() {
			p.t.Fatalf("%s exited: %v\n%s", p.name, p.err, p.logTail())
		}
		resp, err := c.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == want {
				return
			}
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("GET %s did not answer %d within %v\n%s", url, want, startTimeout, p.logTail())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// service is `fibremon serve` on its own store, address and tokens file.
type service struct {
	proc
	addr, base string
	tokens     string
	token      string // probeName's, which also reads siteID's results back
}

// serviceOptions select the store and extra flags.
type serviceOptions struct {
	influx *influxtest.Server // nil: SQLite
	dbPath string             // the SQLite file; default: in the test's directory
	args   []string
	// tokensFile, if set, is the tokens file to serve (shared by
	// replicas); no token is added to it.
	tokensFile string
}

// newService prepares (but does not start) a service with a token for
// probeName on siteID, and returns it with the token.
func newService(t *testing.T, opts serviceOptions) (*service, string) {
	t.Helper()
	dir := t.TempDir()
	s := &service{addr: testnet.FreeAddr(t), tokens: filepath.Join(dir, "tokens.json")}
	s.base = "http://" + s.addr
	var out []byte
	if opts.tokensFile != "" {
		s.tokens = opts.tokensFile
	} else {
		var err error
		if out, err = exec.Command(bins.fibremon, "token", "add", "--auth.tokens-file", s.tokens,
			"--probe", probeName, "--site", siteID).Output(); err != nil {
			t.Fatalf("fibremon token add: %v", err)
		}
	}
	args := []string{bins.fibremon, "serve", "--web.listen-address", s.addr, "--auth.tokens-file", s.tokens,
		"--status.refresh-interval", "1s", "--log.level", "debug"}
	if opts.influx != nil {
		args = append(args, "--storage.influx.url", opts.influx.URL, "--storage.influx.bucket", opts.influx.Bucket,
			"--storage.influx.timeout", "2s")
		s.env = []string{"FIBREMON_STORAGE_INFLUX_TOKEN=" + opts.influx.Token}
	} else {
		if opts.dbPath == "" {
			opts.dbPath = filepath.Join(dir, "fibremon.db")
		}
		args = append(args, "--storage.path", opts.dbPath)
	}
	s.proc = proc{t: t, name: "fibremon serve", args: append(args, opts.args...), logPath: filepath.Join(dir, "fibremon.log")}
	t.Cleanup(s.cleanup)
	s.token = strings.TrimSpace(string(out))
	return s, s.token
}

// start starts the service and waits until /readyz answers 200.
func (s *service) start() {
	s.t.Helper()
	s.proc.start()
	s.waitHTTP(s.base+fibrehttp.PathReadyz, http.StatusOK)
}

// readyz returns the status of GET /readyz, or 0 when nothing answers.
func (s *service) readyz() int {
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(s.base + fibrehttp.PathReadyz)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// results returns every result of siteID the service has stored since
// since, failing the test on duplicate IDs or a full page (the page limit
// is the API's maximum, far above what a scenario produces).
func (s *service) results(since time.Time) []fibremon.Result {
	s.t.Helper()
	return resultsOf(s.t, s, s.token, siteID, since)
}

// resultsOf returns every result of site that s has stored since since,
// read with token, as service.results does.
func resultsOf(t *testing.T, s *service, token, site string, since time.Time) []fibremon.Result {
	t.Helper()
	q := url.Values{"site_id": {site}, "since": {since.UTC().Format(time.RFC3339)},
		"limit": {strconv.Itoa(fibremon.DefaultQueryLimit)}}
	req, err := http.NewRequest(http.MethodGet, s.base+fibrehttp.PathResults+"?"+q.Encode(), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET results = %d %s", resp.StatusCode, body)
	}
	var rr struct{ Results []fibremon.Result }
	if err := json.Unmarshal(body, &rr); err != nil {
		t.Fatal(err)
	}
	if len(rr.Results) >= fibremon.DefaultQueryLimit {
		t.Fatalf("GET results returned a full page of %d; the scenario produced too many to count", len(rr.Results))
	}
	seen := make(map[string]bool, len(rr.Results))
	for _, r := range rr.Results {
		if seen[r.ID] {
			t.Errorf("result %s is stored twice", r.ID)
		}
		seen[r.ID] = true
	}
	return rr.Results
}

// metrics scrapes url's Prometheus text exposition.
func metrics(t *testing.T, url string) promText {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("scrape %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape %s: %d", url, resp.StatusCode)
	}
	m := promText{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("scrape %s: %q: %v", url, line, err)
		}
		m[line[:i]] = v
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("scrape %s: %v", url, err)
	}
	return m
}

// promText maps each series, as exposed (`name{labels}`), to its value.
type promText map[string]float64

// sum adds the series of metric name that carry every one of labels
// (written as in the exposition: `outcome="up"`).
func (m promText) sum(name string, labels ...string) float64 {
	var total float64
	for series, v := range m {
		n, rest, _ := strings.Cut(series, "{")
		if n != name {
			continue
		}
		ok := true
		for _, l := range labels {
			if !strings.Contains(rest, l) {
				ok = false
				break
			}
		}
		if ok {
			total += v
		}
	}
	return total
}

// targets are what the probes measure: an HTTP server and a TCP listener
// of the test process, and a loopback port where nothing listens, so that
// the probes make results quickly and cheaply, up and down alike.
type targets struct {
	httpURL, tcpAddr, closedAddr string
}

func newTargets(t *testing.T) targets {
	t.Helper()
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, "ok\n")
	}))
	t.Cleanup(hs.Close)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	// A port closed again at once: nothing listens there (and should a
	// process of another test take it, the check is merely up).
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := closed.Addr().String()
	closed.Close()
	return targets{httpURL: hs.URL + "/", tcpAddr: ln.Addr().String(), closedAddr: closedAddr}
}

// probe is `fibreprobe run` with four cheap measurements, each every
// second: about four results a second.
type probe struct {
	proc
	cfgPath, spoolDir, metricsURL string
	tokenFile                     string // service.token_file, read again before each upload
}

// probeOptions shape the probe's configuration.
type probeOptions struct {
	serviceURL string // default: the service's
	spoolDir   string // default: a new directory
	batchSize  int    // default 500
	// serviceURLs, if set, replace serviceURL: service.urls, several
	// replicas in order of preference.
	serviceURLs []string
	// name and site default to probeName and siteID.
	name, site string
}

func newProbe(t *testing.T, svc *service, token string, tg targets, opts probeOptions) *probe {
	t.Helper()
	dir := t.TempDir()
	if opts.serviceURL == "" {
		opts.serviceURL = svc.base
	}
	if opts.spoolDir == "" {
		opts.spoolDir = filepath.Join(dir, "spool")
	}
	if opts.batchSize == 0 {
		opts.batchSize = 500
	}
	if opts.name == "" {
		opts.name, opts.site = probeName, siteID
	}
	serviceURL := "url: " + opts.serviceURL
	if len(opts.serviceURLs) > 0 {
		serviceURL = "urls: [" + strings.Join(opts.serviceURLs, ", ") + "]"
	}
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	metricsAddr := testnet.FreeAddr(t)
	cfg := fmt.Sprintf(`probe: %s
site_id: %s
service:
  %s
  token_file: %s
  upload_interval: 500ms
  batch_size: %d
  timeout: 10s
spool:
  dir: %s
web:
  listen_address: %s
measurements:
  - name: web
    kind: http
    target: %s
    interval: 1s
    timeout: 2s
  - name: port
    kind: tcp
    target: %s
    interval: 1s
    timeout: 2s
  - name: closed-port
    kind: tcp
    target: %s
    interval: 1s
    timeout: 2s
  - name: rtt
    kind: latency
    method: tcp
    target: %s
    count: 3
    packet_interval: 10ms
    interval: 1s
    timeout: 2s
`, opts.name, opts.site, serviceURL, tokenFile, opts.batchSize, opts.spoolDir, metricsAddr,
		tg.httpURL, tg.tcpAddr, tg.closedAddr, tg.tcpAddr)
	cfgPath := filepath.Join(dir, "probe.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	p := &probe{cfgPath: cfgPath, spoolDir: opts.spoolDir, metricsURL: "http://" + metricsAddr + "/metrics", tokenFile: tokenFile}
	p.proc = proc{t: t, name: "fibreprobe run", logPath: filepath.Join(dir, "fibreprobe.log"),
		args: []string{bins.fibreprobe, "run", "--config.file", cfgPath, "--log.level", "debug"}}
	t.Cleanup(p.cleanup)
	return p
}

// start starts the probe and waits until its /metrics answers.
func (p *probe) start() {
	p.t.Helper()
	p.proc.start()
	p.waitHTTP(p.metricsURL, http.StatusOK)
}

// account is the probe's own record of its results, from its /metrics.
type account struct {
	produced    int // results made: measurements that ended up or down
	spooled     int // results waiting in the spool
	uploaded    int // results the service acknowledged
	dropped     int // results the spool dropped unsent
	writeErrors int // results that never reached the spool
	failed      int // POSTs that failed and will be retried
	refused     int // POSTs refused for the token (401/403), retried
	dead        int // spool files set aside as dead letters
}

func (p *probe) account() account {
	p.t.Helper()
	m := metrics(p.t, p.metricsURL)
	return account{
		produced:    int(m.sum("fibreprobe_measurements_total", `outcome="up"`) + m.sum("fibreprobe_measurements_total", `outcome="down"`)),
		spooled:     int(m.sum("fibreprobe_spool_results")),
		uploaded:    int(m.sum("fibreprobe_uploaded_results_total")),
		dropped:     int(m.sum("fibreprobe_spool_dropped_results_total")),
		writeErrors: int(m.sum("fibreprobe_spool_write_errors_total")),
		failed:      int(m.sum("fibreprobe_upload_batches_total", `outcome="failed"`)),
		refused:     int(m.sum("fibreprobe_upload_batches_total", `outcome="unauthorized"`)),
		dead:        int(m.sum("fibreprobe_spool_dead_files_total")),
	}
}

// waitAccount polls the probe's account until cond holds, failing the
// test with what was last seen after timeout.
func (p *probe) waitAccount(what string, timeout time.Duration, cond func(account) bool) account {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		a := p.account()
		if cond(a) {
			return a
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("waiting %v for %s; the probe's account is %+v\n%s", timeout, what, a, p.logTail())
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// settle waits for a moment when the probe's account and the service's
// store agree, and returns both. The probe keeps measuring, so one
// moment is caught between two scrapes that see the same number of
// results made and an empty spool, with the stored results read in
// between: then every result the probe made (plus before, made by earlier
// runs of the probe and accounted for by the caller) and not counted as
// dropped or unwritten must be stored, and nothing else. A result lost or
// stored twice never lets the two agree, and the test fails at the
// deadline with the figures it last saw.
func settle(t *testing.T, p *probe, svc *service, since time.Time, before int) (account, []fibremon.Result) {
	t.Helper()
	deadline := time.Now().Add(settleTimeout)
	for {
		a := p.account()
		stored := svc.results(since)
		b := p.account()
		want := before + a.produced - a.dropped - a.writeErrors
		if a.produced == b.produced && a.spooled == 0 && b.spooled == 0 && len(stored) == want {
			return a, stored
		}
		if time.Now().After(deadline) {
			t.Fatalf("the probe's account and the store never agreed within %v: probe %+v then %+v, "+
				"%d stored; want %d (%d from earlier runs + made - dropped - unwritten)\n%s",
				settleTimeout, a, b, len(stored), want, before, p.logTail())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// ids returns the set of the results' IDs.
func ids(rs []fibremon.Result) map[string]bool {
	m := make(map[string]bool, len(rs))
	for _, r := range rs {
		m[r.ID] = true
	}
	return m
}

// checkOwn fails the test for a stored result that is not the probe's.
func checkOwn(t *testing.T, rs []fibremon.Result) {
	t.Helper()
	for _, r := range rs {
		if r.Probe != probeName || r.SiteID != siteID {
			t.Errorf("stored result %s of probe %q site %q; only %s on %s posted", r.ID, r.Probe, r.SiteID, probeName, siteID)
		}
	}
}

var retryRE = regexp.MustCompile(`(?m)^.*msg="upload failed; will retry".*retry_in_seconds=([0-9.e+-]+).*$`)

// retry is one "upload failed; will retry" line of a probe's log.
type retry struct {
	line string
	wait float64 // seconds
}

// retries returns the probe's upload retries, in order.
func retries(log string) []retry {
	var out []retry
	for _, m := range retryRE.FindAllStringSubmatch(log, -1) {
		w, err := strconv.ParseFloat(m[1], 64)
		if err != nil {
			continue
		}
		out = append(out, retry{line: m[0], wait: w})
	}
	return out
}

// checkBackoff checks a run of consecutive retries of one outage against
// the agent's policy: the wait doubles from about a second up to 5 min,
// each step jittered by ±20 %, and is never below minWait (the service's
// Retry-After). It also checks that the waits are jittered at all.
func checkBackoff(t *testing.T, rs []retry, minWait float64) {
	t.Helper()
	if len(rs) < 2 {
		t.Fatalf("%d upload retries in the log; want at least 2 to see a backoff: %+v", len(rs), rs)
	}
	jittered := false
	prev := 0.0
	for i, r := range rs {
		// nextBackoff: d = max(2*prev, 1 s), capped at 5 min, times
		// [0.8, 1.2], then at least Retry-After.
		base := min(max(2*prev, 1), 300)
		lo, hi := max(0.8*base, minWait), max(1.2*base, minWait)
		if r.wait < lo-1e-6 || r.wait > hi+1e-6 {
			t.Errorf("retry %d waits %.3f s after %.3f s; want within [%.3f, %.3f]:\n%s", i, r.wait, prev, lo, hi, r.line)
		}
		if r.wait > minWait+1e-6 && r.wait != base {
			jittered = true
		}
		prev = r.wait
	}
	if !jittered {
		t.Errorf("no retry wait carries jitter: %+v", rs)
	}
}

// exitCode returns the exit status err reports: 0 for nil, -1 when the
// process did not exit normally.
func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}
