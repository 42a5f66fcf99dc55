package dashboards

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"fibremon/internal/testing/testnet"
)

// The proof that the dashboards and rules work: `fibremon demo` (built from
// this module) serves eleven sites with emulated probes, a real Prometheus
// (from PATH) scrapes the service and every probe every second and loads
// the rules, and every PromQL expression of every dashboard is run against
// it and must return data.

// mayBeEmpty are the dashboard queries that are legitimately empty in the
// demo, keyed "<file>/<panel title>/<refId>", with the reason. They must
// still parse and run: Prometheus answers success with an empty result.
var mayBeEmpty = map[string]string{
	"overview.json/HTTP errors by route and code/A":  "the demo serves no 4xx or 5xx: every probe's requests are valid",
	"probes.json/Age of the oldest spooled result/A": "absent while a probe's spool is empty, the healthy state between uploads (every 3 s in the demo)",
}

// globals are Grafana's own variables, as the test sets them: a range of
// four 1 s scrapes is enough for rate(); Grafana computes them from the
// scrape interval and the time range.
var globals = map[string]string{
	"__rate_interval": "1m",
	"__interval":      "15s",
	"__range":         "1h",
}

const (
	demoSites     = 11 // the Ripalta Cremasca data set
	scrapeSeconds = 1
)

// demoEnv is a running fibremon demo scraped by a running Prometheus.
type demoEnv struct {
	fibremon string   // the service's base URL
	probes   string   // base URL of the probes' metrics (/probes/probe-<site>/metrics)
	prom     string   // Prometheus's base URL
	sites    []string // site ids, from /api/v1/sites
	// comune is each site's comune, from /api/v1/sites: the label the
	// scrape configuration gives each probe target.
	comune map[string]string
}

func TestPrometheus(t *testing.T) {
	if testing.Short() {
		t.Skip("runs fibremon demo and Prometheus for about a minute")
	}
	t.Parallel() // its own demo, Prometheus, ports and files
	env := startDemoEnv(t)

	t.Run("rules loaded and healthy", func(t *testing.T) { env.checkRules(t) })
	t.Run("datasources provisioned", checkDatasources)
	t.Run("GeoJSON layers served", func(t *testing.T) { env.checkGeoJSONLayers(t) })
	t.Run("query checker catches breakage", func(t *testing.T) { env.checkBrokenQueries(t) })
	t.Run("promtool check metrics", func(t *testing.T) { env.checkMetricsLint(t) })

	files, err := filepath.Glob(dashboardsGlob)
	if err != nil {
		t.Fatal(err)
	}
	used := map[string]bool{}
	for _, file := range files {
		base := filepath.Base(file)
		d, err := readDashboard(file)
		if err != nil {
			t.Fatal(err)
		}
		if typ := datasourceType(d); typ != "prometheus" {
			t.Logf("%s reads %s, not Prometheus: its queries are proven elsewhere (influx_test.go)", base, typ)
			continue
		}
		for _, pass := range passes {
			t.Run(base+":"+pass, func(t *testing.T) { env.checkDashboardQueries(t, base, d, pass, used) })
		}
	}
	for key := range mayBeEmpty {
		if !used[key] {
			t.Errorf("mayBeEmpty names %s, which is no query of any dashboard", key)
		}
	}
}

// startWait bounds the waits for the demo, Prometheus and influxd to start
// and have data: far above what they take, as a loaded 2-core machine runs
// them several times slower. Only a start that never completes waits this
// long.
const startWait = 2 * time.Minute

// startDemoEnv builds fibremon, runs its demo and a Prometheus scraping it,
// and waits until every site has measurements and Prometheus has scraped
// them a few times. Both processes stop in t.Cleanup.
func startDemoEnv(t *testing.T) *demoEnv {
	t.Helper()
	prometheus, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatalf("prometheus not found (%v): %s", err, installHint)
	}
	promtool(t) // fails early with the same hint
	dir := t.TempDir()
	bin := buildFibremon(t)

	env := &demoEnv{}
	demo := exec.Command(bin, "demo",
		"--web.listen-address", "127.0.0.1:0", "--demo.probes-listen-address", "127.0.0.1:0",
		"--demo.splay", "5s", "--demo.throughput-duration", "2s", "--demo.check-interval", "3s",
		"--demo.status-every", "0", "--storage.path", filepath.Join(dir, "fibremon.db"))
	var demoErr lockedBuffer
	demo.Stderr = &demoErr
	stdout, err := demo.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := demo.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stop(t, "fibremon demo", demo, &demoErr) })
	env.fibremon, env.probes = demoURLs(t, stdout, &demoErr)

	// Sites, as the service lists them: the probes' metrics paths follow.
	env.sites, _, env.comune, err = demoSiteList(env.fibremon)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range env.sites {
		if env.comune[s] == "" {
			t.Fatalf("site %s has no comune in /api/v1/sites", s)
		}
	}
	measured := func() []string {
		_, missing, err := demoSitesMeasured(env.fibremon)
		if err != nil {
			return []string{err.Error()}
		}
		return missing
	}
	if len(env.sites) != demoSites {
		t.Fatalf("/api/v1/sites lists %d sites, want %d: %q", len(env.sites), demoSites, env.sites)
	}

	env.prom = startPrometheus(t, prometheus, dir, env)

	deadline := time.Now().Add(startWait)
	for missing := measured(); len(missing) > 0; missing = measured() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v, no successful result yet for %q\nfibremon stderr:\n%s", startWait, missing, demoErr.String())
		}
		time.Sleep(time.Second)
	}
	// A few scrapes of every target after the last site got its results,
	// so that every gauge is in Prometheus and rate() has samples.
	want := fmt.Sprintf(`count(count_over_time(up{job=~"fibremon|fibreprobe"}[10s]) >= 3) == %d`, 1+len(env.sites))
	deadline = time.Now().Add(startWait)
	for {
		n, _, err := env.instant(t.Context(), want)
		if err == nil && n == 1 {
			// The contract check runs on its own interval (5 s in the
			// demo): wait for its percentiles too.
			all := fmt.Sprintf(`count(fibremon_site_download_bytes_per_second) == %d
				and count(fibremon_contract_download_p5_bytes_per_second) == %[1]d
				and count(fibremon_contract_upload_p5_bytes_per_second) == %[1]d
				and count(fibremon_contract_latency_p95_seconds) == %[1]d`, len(env.sites))
			if n, _, err := env.instant(t.Context(), all); err == nil && n == 1 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("Prometheus has not scraped every target three times in 10 s within %v (%v): %s", startWait, err, env.targetsHealth())
		}
		time.Sleep(time.Second)
	}
	t.Logf("fibremon demo at %s (probes at %s), Prometheus at %s, %d sites", env.fibremon, env.probes, env.prom, len(env.sites))
	return env
}

// TestMain removes the fibremon binary the tests built.
func TestMain(m *testing.M) {
	code := m.Run()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

// built is fibremon, compiled once for the tests that run it (they run
// in parallel, and a link takes seconds).
var built struct {
	once     sync.Once
	dir, bin string
	err      error
}

// buildFibremon builds fibremon from this module, once per test binary.
func buildFibremon(t *testing.T) string {
	t.Helper()
	built.once.Do(func() {
		goTool, err := exec.LookPath("go")
		if err != nil {
			built.err = fmt.Errorf("go not found: %v", err)
			return
		}
		if built.dir, built.err = os.MkdirTemp("", "fibremon-dashboards-"); built.err != nil {
			return
		}
		bin := filepath.Join(built.dir, "fibremon")
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		if out, err := exec.CommandContext(ctx, goTool, "build", "-o", bin, "fibremon/cmd/fibremon").CombinedOutput(); err != nil {
			built.err = fmt.Errorf("go build fibremon/cmd/fibremon: %v\n%s", err, out)
			return
		}
		built.bin = bin
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.bin
}

// demoSitesMeasured reads the sites of the service at base and returns
// their ids and, as "<site> <kind>", each download, upload and latency
// measurement a site has no successful result of yet.
func demoSitesMeasured(base string) (ids, missing []string, err error) {
	ids, missing, _, err = demoSiteList(base)
	return ids, missing, err
}

// demoSiteList is demoSitesMeasured with the comune of each site.
func demoSiteList(base string) (ids, missing []string, comune map[string]string, err error) {
	var sites struct {
		Sites []struct {
			ID     string `json:"id"`
			Comune string `json:"comune"`
			Latest []struct {
				Kind string `json:"kind"`
				Up   bool   `json:"up"`
			} `json:"latest"`
		} `json:"sites"`
	}
	if err := getJSON(base+"/api/v1/sites", &sites); err != nil {
		return nil, nil, nil, err
	}
	comune = map[string]string{}
	for _, s := range sites.Sites {
		ids = append(ids, s.ID)
		comune[s.ID] = s.Comune
		kinds := map[string]bool{}
		for _, r := range s.Latest {
			kinds[r.Kind] = kinds[r.Kind] || r.Up
		}
		for _, k := range []string{"download", "upload", "latency"} {
			if !kinds[k] {
				missing = append(missing, s.ID+" "+k)
			}
		}
	}
	return ids, missing, comune, nil
}

// demoURLs reads the demo's stdout until it has printed the service's and
// the probes' URLs, then keeps draining it.
func demoURLs(t *testing.T, stdout io.Reader, stderr *lockedBuffer) (service, probes string) {
	t.Helper()
	serviceRE := regexp.MustCompile(`(http://127\.0\.0\.1:\d+)/api/v1/sites`)
	probesRE := regexp.MustCompile(`(http://127\.0\.0\.1:\d+)/probes/`)
	found := make(chan [2]string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		var s, p string
		for sc.Scan() {
			if m := serviceRE.FindStringSubmatch(sc.Text()); m != nil {
				s = m[1]
			}
			if m := probesRE.FindStringSubmatch(sc.Text()); m != nil && p == "" {
				p = m[1]
				found <- [2]string{s, p}
			}
		}
		close(found)
	}()
	select {
	case u, ok := <-found:
		if !ok || u[0] == "" {
			t.Fatalf("fibremon demo printed no URLs\nstderr:\n%s", stderr.String())
		}
		return u[0], u[1]
	case <-time.After(startWait):
		t.Fatalf("fibremon demo printed no URLs in %v\nstderr:\n%s", startWait, stderr.String())
	}
	return "", ""
}

// promConfig is the scrape configuration, as README.md tells operators to
// write it: job "fibremon" for the service, job "fibreprobe" with one
// target per probe labelled with its site_id and comune.
func promConfig(env *demoEnv, rules string) string {
	svc, _ := url.Parse(env.fibremon)
	prb, _ := url.Parse(env.probes)
	var b strings.Builder
	fmt.Fprintf(&b, `global:
  scrape_interval: %[1]ds
  scrape_timeout: %[1]ds
  evaluation_interval: %[1]ds
rule_files:
  - %[2]q
scrape_configs:
  - job_name: fibremon
    static_configs:
      - targets: [%[3]q]
  - job_name: fibreprobe
    static_configs:
`, scrapeSeconds, rules, svc.Host)
	for _, s := range env.sites {
		fmt.Fprintf(&b, "      - targets: [%q]\n        labels: {__metrics_path__: %q, site_id: %q, comune: %q, probe: %q}\n",
			prb.Host, "/probes/probe-"+s+"/metrics", s, env.comune[s], "probe-"+s)
	}
	return b.String()
}

// startPrometheus runs Prometheus on a free loopback port with a temporary
// TSDB, scraping env, and waits until it is ready.
func startPrometheus(t *testing.T, prometheus, dir string, env *demoEnv) string {
	t.Helper()
	rules, err := filepath.Abs(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfg, []byte(promConfig(env, rules)), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := runPromtool(t, dir, "check", "config", cfg); err != nil {
		t.Fatalf("promtool check config: %v\n%s", err, out)
	}
attempts:
	for attempt := 1; ; attempt++ {
		addr := freeAddr(t)
		var logs lockedBuffer
		cmd := exec.Command(prometheus, "--config.file="+cfg, "--storage.tsdb.path="+filepath.Join(dir, fmt.Sprintf("tsdb%d", attempt)),
			"--web.listen-address="+addr, "--log.level=warn")
		cmd.Stdout, cmd.Stderr = &logs, &logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		base := "http://" + addr
		deadline := time.After(startWait)
		for {
			if resp, err := http.Get(base + "/-/ready"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					t.Cleanup(func() {
						_ = cmd.Process.Signal(syscall.SIGTERM)
						select {
						case <-exited:
						case <-time.After(10 * time.Second):
							_ = cmd.Process.Kill()
							<-exited
						}
						if t.Failed() {
							t.Logf("prometheus log:\n%s", logs.String())
						}
					})
					return base
				}
			}
			select {
			case err := <-exited:
				if attempt < 3 && strings.Contains(logs.String(), "address already in use") {
					continue attempts
				}
				t.Fatalf("prometheus exited (%v):\n%s", err, logs.String())
			case <-deadline:
				_ = cmd.Process.Kill()
				t.Fatalf("prometheus not ready in %v:\n%s", startWait, logs.String())
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
}

func freeAddr(t *testing.T) string { return testnet.FreeAddr(t) }

// stop interrupts a process as Ctrl-C would and waits for it.
func stop(t *testing.T, name string, cmd *exec.Cmd, stderr *lockedBuffer) {
	_ = cmd.Process.Signal(os.Interrupt)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		t.Errorf("%s did not stop within 15 s of an interrupt", name)
		_ = cmd.Process.Kill()
		<-done
	}
	if t.Failed() {
		t.Logf("%s stderr:\n%s", name, stderr.String())
	}
}

// lockedBuffer collects a process's output while tests read it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

var httpClient = &http.Client{Timeout: 15 * time.Second}

func getJSON(u string, v any) error {
	resp, err := httpClient.Get(u)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("GET %s: %s: %s", u, resp.Status, b)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// promResponse is the envelope of Prometheus's HTTP API.
type promResponse struct {
	Status    string          `json:"status"`
	ErrorType string          `json:"errorType"`
	Error     string          `json:"error"`
	Warnings  []string        `json:"warnings"`
	Data      json.RawMessage `json:"data"`
}

// api calls Prometheus's HTTP API as Grafana's datasource does: queries
// are POSTed, form-encoded (the provisioned datasource's httpMethod), and
// the other endpoints read with GET.
func (e *demoEnv) api(ctx context.Context, method, path string, form url.Values, v any) error {
	var req *http.Request
	var err error
	if method == http.MethodPost {
		req, err = http.NewRequestWithContext(ctx, method, e.prom+path, strings.NewReader(form.Encode()))
		if err == nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
	} else {
		req, err = http.NewRequestWithContext(ctx, method, e.prom+path+"?"+form.Encode(), nil)
	}
	if err != nil {
		return err
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var r promResponse
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return fmt.Errorf("%s: %s: %v", path, resp.Status, err)
	}
	if r.Status != "success" {
		return fmt.Errorf("%s: %s: %s", r.ErrorType, resp.Status, r.Error)
	}
	if len(r.Warnings) > 0 {
		return fmt.Errorf("warnings: %q", r.Warnings)
	}
	return json.Unmarshal(r.Data, v)
}

// instant runs an instant query now and returns how many series (or
// scalars) it answered and the result type.
func (e *demoEnv) instant(ctx context.Context, expr string) (int, string, error) {
	var data struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	}
	if err := e.api(ctx, http.MethodPost, "/api/v1/query", url.Values{"query": {expr}, "time": {unixNow()}}, &data); err != nil {
		return 0, "", err
	}
	return resultCount(data.ResultType, data.Result)
}

// instantSeries runs an instant query now and returns the labels of each
// series it answered (one empty set for a scalar) and the result type.
func (e *demoEnv) instantSeries(ctx context.Context, expr string) ([]map[string]string, string, error) {
	var data struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	}
	if err := e.api(ctx, http.MethodPost, "/api/v1/query", url.Values{"query": {expr}, "time": {unixNow()}}, &data); err != nil {
		return nil, "", err
	}
	switch data.ResultType {
	case "vector", "matrix":
		var rs []struct {
			Metric map[string]string `json:"metric"`
		}
		if err := json.Unmarshal(data.Result, &rs); err != nil {
			return nil, data.ResultType, err
		}
		out := make([]map[string]string, len(rs))
		for i, r := range rs {
			out[i] = r.Metric
		}
		return out, data.ResultType, nil
	case "scalar", "string":
		return []map[string]string{{}}, data.ResultType, nil
	}
	return nil, data.ResultType, fmt.Errorf("result type %q", data.ResultType)
}

// comuneWithSites returns the first comune, by slug, that has monitored
// sites in the demo.
func (e *demoEnv) comuneWithSites() string {
	var cs []string
	for _, c := range e.comune {
		cs = append(cs, c)
	}
	slices.Sort(cs)
	return cs[0]
}

// rangeQuery runs expr over the last 20 s at a 5 s step, as a time series
// panel does, and returns how many series it answered.
func (e *demoEnv) rangeQuery(ctx context.Context, expr string) (int, error) {
	now := time.Now()
	var data struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	}
	form := url.Values{"query": {expr}, "start": {unix(now.Add(-20 * time.Second))}, "end": {unix(now)}, "step": {"5"}}
	if err := e.api(ctx, http.MethodPost, "/api/v1/query_range", form, &data); err != nil {
		return 0, err
	}
	n, _, err := resultCount(data.ResultType, data.Result)
	return n, err
}

func resultCount(typ string, raw json.RawMessage) (int, string, error) {
	switch typ {
	case "vector", "matrix":
		var rs []json.RawMessage
		if err := json.Unmarshal(raw, &rs); err != nil {
			return 0, typ, err
		}
		return len(rs), typ, nil
	case "scalar", "string":
		return 1, typ, nil
	}
	return 0, typ, fmt.Errorf("result type %q", typ)
}

func unix(t time.Time) string { return strconv.FormatFloat(float64(t.UnixMilli())/1000, 'f', 3, 64) }
func unixNow() string         { return unix(time.Now()) }

// targetsHealth summarises Prometheus's targets for a failure message.
func (e *demoEnv) targetsHealth() string {
	var data struct {
		ActiveTargets []struct {
			ScrapeURL string `json:"scrapeUrl"`
			Health    string `json:"health"`
			LastError string `json:"lastError"`
		} `json:"activeTargets"`
	}
	if err := e.api(context.Background(), http.MethodGet, "/api/v1/targets", nil, &data); err != nil {
		return err.Error()
	}
	var b strings.Builder
	for _, tg := range data.ActiveTargets {
		fmt.Fprintf(&b, "\n  %s %s %s", tg.ScrapeURL, tg.Health, tg.LastError)
	}
	return b.String()
}

// checkRules: Prometheus loaded every group of the rule file, and has
// evaluated every rule without error.
func (e *demoEnv) checkRules(t *testing.T) {
	want := ruleGroupNames(t)
	type ruleState struct {
		Name      string `json:"name"`
		Type      string `json:"type"`
		Query     string `json:"query"`
		Health    string `json:"health"`
		LastError string `json:"lastError"`
		State     string `json:"state"`
	}
	var data struct {
		Groups []struct {
			Name  string      `json:"name"`
			File  string      `json:"file"`
			Rules []ruleState `json:"rules"`
		} `json:"groups"`
	}
	deadline := time.Now().Add(startWait)
	for {
		if err := e.api(t.Context(), http.MethodGet, "/api/v1/rules", nil, &data); err != nil {
			t.Fatal(err)
		}
		var problems []string
		var got []string
		for _, g := range data.Groups {
			got = append(got, g.Name)
			if filepath.Base(g.File) != filepath.Base(rulesFile) {
				problems = append(problems, fmt.Sprintf("group %s from %s", g.Name, g.File))
			}
			for _, r := range g.Rules {
				if r.Health != "ok" || r.LastError != "" {
					problems = append(problems, fmt.Sprintf("%s/%s: health %q, last error %q", g.Name, r.Name, r.Health, r.LastError))
				}
			}
		}
		for _, w := range want {
			if !slices.Contains(got, w) {
				problems = append(problems, fmt.Sprintf("group %s not loaded (loaded: %q)", w, got))
			}
		}
		if len(problems) == 0 {
			break
		}
		if time.Now().After(deadline) {
			for _, p := range problems {
				t.Error(p)
			}
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
	// What the rules see in the demo, for the record; and the recorded
	// contract minimums exist for every site (all have a contract figure).
	for _, g := range data.Groups {
		for _, r := range g.Rules {
			n, _, err := e.instant(t.Context(), r.Query)
			if err != nil {
				t.Errorf("%s: %v", r.Name, err)
				continue
			}
			t.Logf("%s %s: %d series now (state %q)", r.Type, r.Name, n, r.State)
			if r.Type == "recording" && n != len(e.sites) {
				t.Errorf("recording rule %s: %d series, want one per site (%d)", r.Name, n, len(e.sites))
			}
			if r.Type == "recording" {
				// Each keeps its site's comune, for the alerts built on it.
				series, _, _ := e.instantSeries(t.Context(), r.Query)
				for _, l := range series {
					if l["comune"] != e.comune[l["site_id"]] {
						t.Errorf("recording rule %s: %v; want comune %q", r.Name, l, e.comune[l["site_id"]])
					}
				}
			}
		}
	}
}

// checkDatasources: every datasource a dashboard's panels, targets and
// variables name resolves to a provisioned datasource of the type named.
func checkDatasources(t *testing.T) {
	dss, _, err := provisionedDatasources(datasourcesFile)
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(dashboardsGlob)
	if err != nil {
		t.Fatal(err)
	}
	for _, file := range files {
		d, err := readDashboard(file)
		if err != nil {
			t.Fatal(err)
		}
		resolved := map[string]string{}
		for _, v := range d.Templating.List {
			if v.Type == "datasource" {
				resolved["${"+v.Name+"}"] = v.currentValue()
				resolved["$"+v.Name] = v.currentValue()
			}
		}
		check := func(where string, raw json.RawMessage) {
			if len(raw) == 0 {
				return
			}
			var ref struct {
				Type string `json:"type"`
				UID  string `json:"uid"`
			}
			if json.Unmarshal(raw, &ref) != nil {
				var s string
				_ = json.Unmarshal(raw, &s)
				ref.UID, ref.Type = s, datasourceType(d) // a bare uid or variable
			}
			uid := ref.UID
			if r, ok := resolved[uid]; ok {
				uid = r
			}
			if ds, ok := dss[uid]; !ok || ds.Type != ref.Type {
				t.Errorf("%s: %s: datasource %s resolves to %q, which %s does not provision as a %s datasource",
					filepath.Base(file), where, compact(raw), uid, datasourcesFile, ref.Type)
			}
		}
		n := 0
		for _, v := range d.Templating.List {
			check("variable "+v.Name, v.Datasource)
		}
		walkPanels(d.Panels, func(p panel) {
			check(fmt.Sprintf("panel %q", p.Title), p.Datasource)
			for _, tg := range p.Targets {
				check(fmt.Sprintf("panel %q target %s", p.Title, tg.RefID), tg.Datasource)
				n++
			}
		})
		t.Logf("%s: %d targets, every datasource a provisioned %s datasource", filepath.Base(file), n, datasourceType(d))
	}
}

// walkPanels calls f for every panel, the panels of collapsed rows included.
func walkPanels(ps []panel, f func(panel)) {
	for _, p := range ps {
		f(p)
		walkPanels(p.Panels, f)
	}
}

// checkGeoJSONLayers fetches every GeoJSON layer of every geomap from the
// demo, with $fibremon_url set to it, as the browser would: each answers
// a FeatureCollection of the layer asked for, readable cross-origin, whose
// features carry every property the style rules test. ${comune:csv} is
// set as Grafana sets it for three choices of comuni — the comune with
// the demo's sites, that one and another, and All (every comune Prometheus
// lists) — and the features must be those of the comuni chosen, every
// one of them in the comune layer.
func (e *demoEnv) checkGeoJSONLayers(t *testing.T) {
	files, err := filepath.Glob(dashboardsGlob)
	if err != nil {
		t.Fatal(err)
	}
	var every []string
	if err := e.api(t.Context(), http.MethodGet, "/api/v1/label/comune/values", url.Values{"match[]": {"fibremon_comune_info"}}, &every); err != nil {
		t.Fatal(err)
	}
	slices.Sort(every)
	sites := e.comuneWithSites()
	other := every[0]
	if other == sites {
		other = every[1]
	}
	choices := [][]string{{sites}, {other, sites}, every}
	n := 0
	for _, file := range files {
		d, err := readDashboard(file)
		if err != nil {
			t.Fatal(err)
		}
		walkPanels(d.Panels, func(p panel) {
			if p.Type != "geomap" {
				return
			}
			layers, err := geomapLayers(p)
			if err != nil {
				t.Fatal(err)
			}
			for _, ly := range layers {
				if ly.Type != "geojson" {
					continue
				}
				for _, chosen := range choices {
					n++
					u := strings.Replace(ly.Config.Src, "${"+fibremonURLVar+"}", e.fibremon, 1)
					u = strings.Replace(u, "${"+comuneVar+":csv}", strings.Join(chosen, ","), 1)
					where := fmt.Sprintf("%s %q layer %q, %d comuni", filepath.Base(file), p.Title, ly.Name, len(chosen))
					e.checkGeoJSONLayer(t, where, u, ly, chosen)
				}
			}
		})
	}
	if n == 0 {
		t.Error("no GeoJSON layer in any dashboard")
	}
}

func (e *demoEnv) checkGeoJSONLayer(t *testing.T, where, u string, ly geomapLayer, chosen []string) {
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Origin", "http://grafana.example.org:3000")
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Errorf("%s: %v", where, err)
		return
	}
	defer resp.Body.Close()
	var fc struct {
		Type     string `json:"type"`
		Features []struct {
			Properties map[string]any `json:"properties"`
		} `json:"features"`
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Errorf("%s: GET %s: %s: %s", where, u, resp.Status, b)
		return
	}
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "*" && got != "http://grafana.example.org:3000" {
		t.Errorf("%s: GET %s: Access-Control-Allow-Origin %q: a browser showing Grafana may not read it", where, u, got)
	}
	if err := json.NewDecoder(resp.Body).Decode(&fc); err != nil {
		t.Errorf("%s: GET %s: %v", where, u, err)
		return
	}
	q, _ := url.Parse(u)
	layer := q.Query().Get("layer")
	if fc.Type != "FeatureCollection" || len(fc.Features) == 0 {
		t.Errorf("%s: GET %.200s: a %q of %d features, want a FeatureCollection with features", where, u, fc.Type, len(fc.Features))
		return
	}
	present := map[string]bool{}
	comuni := map[string]bool{}
	for _, f := range fc.Features {
		if f.Properties["layer"] != layer {
			t.Errorf("%s: GET %.200s: a feature of layer %v", where, u, f.Properties["layer"])
			return
		}
		c, _ := f.Properties["comune"].(string)
		if !slices.Contains(chosen, c) {
			t.Errorf("%s: GET %.200s: a feature of comune %q, not one chosen", where, u, c)
			return
		}
		comuni[c] = true
		for k := range f.Properties {
			present[k] = true
		}
	}
	if layer == "comune" && len(comuni) != len(chosen) {
		t.Errorf("%s: GET %.200s: the boundaries of %d comuni; want the %d chosen", where, u, len(comuni), len(chosen))
	}
	var matched []string
	for _, r := range ly.Config.Rules {
		c := r.Check
		if !present[c.Property] {
			t.Errorf("%s: style rule on %q, which no feature of %s has", where, c.Property, u)
		}
		m := 0
		for _, f := range fc.Features {
			if c.Operation == "eq" && fmt.Sprint(f.Properties[c.Property]) == fmt.Sprint(c.Value) {
				m++
			}
		}
		matched = append(matched, fmt.Sprintf("%s=%v: %d", c.Property, c.Value, m))
	}
	t.Logf("%s: %.200s: %d features of %d comuni; style rules matched %s", where, u, len(fc.Features), len(comuni), strings.Join(matched, ", "))
}

// checkMetricsLint: promtool check metrics finds nothing to say about the
// service's /metrics and a probe's, and does object to a bad exposition
// (so that silence means something).
func (e *demoEnv) checkMetricsLint(t *testing.T) {
	for name, u := range map[string]string{
		"fibremon":   e.fibremon + "/metrics",
		"fibreprobe": e.probes + "/probes/probe-" + e.sites[0] + "/metrics",
	} {
		resp, err := httpClient.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %s %v", u, resp.Status, err)
		}
		if !bytes.Contains(body, []byte(name+"_build_info")) {
			t.Errorf("GET %s: no %s_build_info", u, name)
		}
		if out, err := promtoolStdin(t, body, "check", "metrics"); err != nil || strings.TrimSpace(out) != "" {
			t.Errorf("promtool check metrics on %s (%s): %v\n%s", name, u, err, out)
		} else {
			t.Logf("promtool check metrics: %s (%s, %d bytes): no problem", name, u, len(body))
		}
	}
	bad := "# HELP fibremon_bad_count A counter without _total.\n# TYPE fibremon_bad_count counter\nfibremon_bad_count 1\n"
	if out, err := promtoolStdin(t, []byte(bad), "check", "metrics"); err == nil && strings.TrimSpace(out) == "" {
		t.Errorf("promtool check metrics accepts a counter without _total: the check proves nothing")
	}
}

func promtoolStdin(t *testing.T, stdin []byte, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, promtool(t), args...)
	cmd.Stdin = bytes.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// dashQuery is one PromQL expression of a dashboard.
// passes are the ways the test sets a dashboard's variables: "all"
// selects All everywhere (the consortium); "first" each variable's first
// value, which for the comune is one without monitored sites (the
// embedded data set's first comune, Agnadello); "sites" the first comune
// with monitored sites (Ripalta Cremasca) and each other variable's
// first value.
var passes = []string{"all", "first", "sites"}

type dashQuery struct {
	key     string // <file>/<panel title>/<refId>
	expr    string
	isRange bool // Grafana runs it as a range query (a time series panel)
}

// checkDashboardQueries runs every query of d against Prometheus with the
// variables set as Grafana would for the pass (see passes). A query must
// run without error or warning and return data, unless mayBeEmpty excuses
// it, or it reads only per-site metrics and the comuni chosen have no
// monitored site (it must still run: a comune without sites renders
// empty, not broken). With every comune chosen, a query whose answer is
// per comune must answer for at least two comuni (one, the comune with
// sites, for per-site metrics).
func (e *demoEnv) checkDashboardQueries(t *testing.T, file string, d dashboard, pass string, used map[string]bool) {
	ctx := t.Context()
	vals, err := e.resolveVariables(ctx, d, pass)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := loadMetrics(metricsReadme)
	if err != nil {
		t.Fatal(err)
	}
	// Do the comuni chosen have monitored sites?
	withSites := true
	if c, ok := vals[comuneVar]; ok {
		n, _, err := e.instant(ctx, fmt.Sprintf(`fibremon_site_info{comune=~%q}`, c))
		if err != nil {
			t.Fatal(err)
		}
		withSites = n > 0
		t.Logf("comune=~%q: %d monitored sites", c, n)
	}
	var qs []dashQuery
	walkPanels(d.Panels, func(p panel) {
		for _, tg := range p.Targets {
			if strings.TrimSpace(tg.Expr) != "" {
				qs = append(qs, dashQuery{key: file + "/" + p.Title + "/" + tg.RefID, expr: tg.Expr, isRange: tg.Range})
			}
		}
	})
	if len(qs) == 0 && len(d.Panels) > 0 {
		t.Errorf("%s has no queries", file)
	}
	for _, q := range qs {
		used[q.key] = true
		expr, err := interpolate(q.expr, vals)
		if err != nil {
			t.Errorf("%s: %v", q.key, err)
			continue
		}
		reason, excused := mayBeEmpty[q.key]
		perSite, err := perSiteOnly(ms, q.expr)
		if err != nil {
			t.Errorf("%s: %v", q.key, err)
			continue
		}
		if perSite && !withSites && !excused {
			reason, excused = "per-site metrics only, and the comuni chosen have no monitored site", true
		}
		series, typ, err := e.instantSeries(ctx, expr)
		// A scrape that failed on a loaded machine leaves a target's
		// series stale for a second: ask again before calling it empty.
		// A broken query stays empty.
		for retry := 0; err == nil && len(series) == 0 && !excused && retry < 3; retry++ {
			time.Sleep(time.Second)
			series, typ, err = e.instantSeries(ctx, expr)
		}
		n := len(series)
		switch {
		case err != nil:
			t.Errorf("%s: %s: %v", q.key, expr, err)
			continue
		case n == 0 && excused:
			t.Logf("%s: empty, as allowed (%s): %s", q.key, reason, expr)
		case n == 0:
			t.Errorf("%s: no data: %s", q.key, expr)
			continue
		default:
			comuni := comuniOf(series)
			t.Logf("%s: %d %s of %d comuni: %s", q.key, n, typ, len(comuni), expr)
			if want := 2; pass == "all" && len(comuni) > 0 && len(comuni) < want && !perSite {
				t.Errorf("%s: answers for comuni %q with every comune chosen; want at least %d: %s", q.key, comuni, want, expr)
			}
			if c, ok := vals[comuneVar]; ok && c != ".*" {
				for _, got := range comuni {
					if m, _ := regexp.MatchString("^(?:"+strings.ReplaceAll(c, `\\`, `\`)+")$", got); !m {
						t.Errorf("%s: answers for comune %q, not one of %s: %s", q.key, got, c, expr)
					}
				}
			}
		}
		if q.isRange {
			m, err := e.rangeQuery(ctx, expr)
			switch {
			case err != nil:
				t.Errorf("%s (range): %s: %v", q.key, expr, err)
			case m == 0 && !excused:
				t.Errorf("%s (range): no data over the last 20 s: %s", q.key, expr)
			}
		}
	}
}

// perSiteOnly reports whether every metric expr reads is a per-site one (a
// site_id label, or a probe's): a comune without monitored sites has none.
func perSiteOnly(ms map[string]metric, expr string) (bool, error) {
	names, err := metricNames(expr)
	if err != nil {
		return false, err
	}
	for _, n := range names {
		if !slices.Contains(ms[n].Labels, "site_id") && !strings.HasPrefix(n, "fibreprobe_") {
			return false, nil
		}
	}
	return len(names) > 0, nil
}

// comuniOf returns the distinct values of the comune label of series.
func comuniOf(series []map[string]string) []string {
	var out []string
	for _, s := range series {
		if c, ok := s["comune"]; ok && !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	slices.Sort(out)
	return out
}

// resolveVariables gives every variable of d its value for the pass, in
// order, running the query variables against Prometheus as Grafana does
// (label_values(selector, label) is the label values API with a match[]).
func (e *demoEnv) resolveVariables(ctx context.Context, d dashboard, pass string) (map[string]string, error) {
	vals := map[string]string{}
	labelValuesRE := regexp.MustCompile(`^label_values\(\s*(?:(.*?)\s*,\s*)?([A-Za-z_][A-Za-z0-9_]*)\s*\)$`)
	for _, v := range d.Templating.List {
		switch v.Type {
		case "datasource":
			vals[v.Name] = v.currentValue()
		case "textbox", "constant":
			if v.Name == fibremonURLVar {
				vals[v.Name] = e.fibremon
			} else {
				vals[v.Name] = v.text()
			}
		case "query":
			q, err := interpolate(v.text(), vals)
			if err != nil {
				return nil, fmt.Errorf("variable %s: %w", v.Name, err)
			}
			m := labelValuesRE.FindStringSubmatch(q)
			if m == nil {
				return nil, fmt.Errorf("variable %s: query %q is not label_values(...), the only form this test runs", v.Name, q)
			}
			form := url.Values{}
			if m[1] != "" {
				form.Set("match[]", m[1])
			}
			var values []string
			if err := e.api(ctx, http.MethodGet, "/api/v1/label/"+m[2]+"/values", form, &values); err != nil {
				return nil, fmt.Errorf("variable %s: %s: %w", v.Name, q, err)
			}
			values = slices.DeleteFunc(values, func(s string) bool { return s == "" })
			slices.Sort(values)
			escaped := make([]string, len(values))
			for i, s := range values {
				escaped[i] = promRegexEscape(s)
			}
			// With no value to offer (the hamlets and sites of a comune
			// without monitored sites), Grafana lists only All, and All
			// stands for its allValue, or for no value: "()", the regex
			// alternation of none.
			all := v.AllValue
			if all == "" {
				all = "(" + strings.Join(escaped, "|") + ")"
			}
			switch {
			case len(values) == 0 && !v.IncludeAll:
				return nil, fmt.Errorf("variable %s: %s has no values and no All: every panel using $%s would be empty", v.Name, q, v.Name)
			case len(values) == 0 || pass == "all" && v.IncludeAll:
				vals[v.Name] = all
			case pass == "sites" && v.Name == comuneVar:
				c := e.comuneWithSites()
				if !slices.Contains(values, c) {
					return nil, fmt.Errorf("variable %s: %s does not list %q, the comune of the demo's sites", v.Name, q, c)
				}
				vals[v.Name] = promRegexEscape(c)
			default:
				vals[v.Name] = escaped[0]
			}
		default:
			return nil, fmt.Errorf("variable %s: type %q, which this test cannot set", v.Name, v.Type)
		}
	}
	return vals, nil
}

// promRegexEscape escapes a label value for a =~ matcher inside a PromQL
// double-quoted string, as Grafana does for multi-value variables.
func promRegexEscape(s string) string {
	return strings.ReplaceAll(regexp.QuoteMeta(s), `\`, `\\`)
}

// interpolate replaces $name, ${name} and Grafana's global $__ variables.
func interpolate(s string, vals map[string]string) (string, error) {
	var errs []error
	out := variableRefs.ReplaceAllStringFunc(s, func(ref string) string {
		m := variableRefs.FindStringSubmatch(ref)
		name := m[1] + m[2]
		if strings.Contains(ref, ":") {
			errs = append(errs, fmt.Errorf("%s: formatted variables are not supported by this test", ref))
			return ref
		}
		if v, ok := globals[name]; ok {
			return v
		}
		if v, ok := vals[name]; ok {
			return v
		}
		errs = append(errs, fmt.Errorf("undefined variable %s", ref))
		return ref
	})
	return out, errors.Join(errs...)
}

// checkBrokenQueries: the checks above fail on a query that reads a
// misspelt metric (no data) and on one Prometheus cannot parse, so a
// dashboard query broken either way fails the test.
func (e *demoEnv) checkBrokenQueries(t *testing.T) {
	ctx := t.Context()
	if n, _, err := e.instant(ctx, `fibremon_site_upp{site_id=~".*"}`); err != nil || n != 0 {
		t.Errorf("a misspelt metric: %d series, %v; want 0 and no error", n, err)
	}
	if _, _, err := e.instant(ctx, `sum(rate(fibremon_ingest_results_total[1m])`); err == nil {
		t.Error("an unbalanced expression ran without error")
	}
	if _, _, err := e.instant(ctx, `rate(fibremon_site_up{site_id=~"$site"}[$__rate_interval])`); err == nil {
		t.Error("an expression with uninterpolated variables ran without error")
	}
	if _, err := interpolate(`fibremon_site_up{site_id=~"$region"}`, map[string]string{"site": ".*"}); err == nil {
		t.Error("interpolate accepted an undefined variable")
	}
	if n, _, err := e.instant(ctx, `fibremon_site_up`); err != nil || n != len(e.sites) {
		t.Errorf("fibremon_site_up: %d series, %v; want one per site (%d)", n, err, len(e.sites))
	}
}
