package dashboards

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"fibremon"
	"fibremon/internal/fibrehttp"
	"fibremon/internal/testing/influxtest"
	"fibremon/internal/wire"
)

// The proof that the InfluxDB dashboards work: a real influxd 1.8 with
// authentication (internal/testing/influxtest), `fibremon demo` (built from this
// module) storing its eleven sites' results in it, a failed check per site
// posted through the API of a `fibremon serve` on the same bucket, and then
// every Flux query of every InfluxDB dashboard — its query variables first,
// resolved as Grafana resolves them — sent to influxd's /api/v2/query as
// Grafana's backend sends it. Each must run without error and return data.

// fluxMayBeEmpty are the Flux queries allowed to return no rows, keyed
// "<file>/<panel title>/<refId>", with the reason. None today: the test
// posts a failed result for every site, so even the failure panels have
// rows. A query named here must still run without error.
var fluxMayBeEmpty = map[string]string{}

const (
	// fluxTimeRange and fluxInterval are the dashboard's time range and a
	// panel's interval as the test sets them: v.timeRangeStart is an hour
	// ago, v.timeRangeStop now, v.windowPeriod 10 s.
	fluxTimeRange = time.Hour
	fluxInterval  = 10 * time.Second
	// postedError is the error of the failed results the test posts.
	postedError = "dashboards test: GET /healthz: connection refused"
	testProbe   = "probe-dashboards-test"
)

// influxEnv is a running influxd fed by a running fibremon demo.
type influxEnv struct {
	srv      *influxtest.Server
	fibremon string   // the demo service's base URL
	sites    []string // site ids, from /api/v1/sites
}

func TestInflux(t *testing.T) {
	if testing.Short() {
		t.Skip("runs influxd, fibremon demo and fibremon serve for about half a minute")
	}
	t.Parallel() // its own influxd, demo, ports and files
	env := startInfluxEnv(t)

	t.Run("datasources provisioned", checkDatasources)
	t.Run("query checker catches breakage", func(t *testing.T) { env.checkBrokenFlux(t) })

	files, err := filepath.Glob(dashboardsGlob)
	if err != nil {
		t.Fatal(err)
	}
	used := map[string]bool{}
	n := 0
	for _, file := range files {
		d, err := readDashboard(file)
		if err != nil {
			t.Fatal(err)
		}
		if datasourceType(d) != "influxdb" {
			continue
		}
		n++
		base := filepath.Base(file)
		t.Run(base, func(t *testing.T) { env.checkFluxDashboard(t, base, d, used) })
	}
	if n == 0 {
		t.Error("no InfluxDB dashboard: the test proves nothing")
	}
	for key := range fluxMayBeEmpty {
		if !used[key] {
			t.Errorf("fluxMayBeEmpty names %s, which is no Flux query of any dashboard", key)
		}
	}
}

// startInfluxEnv starts influxd with authentication, builds fibremon and
// runs its demo on that influxd — on the demo's default bucket, which must
// be the provisioned datasource's — posts one failed result per site
// through `fibremon serve`, and waits until every site has a successful
// download, upload and latency result. Everything stops in t.Cleanup.
func startInfluxEnv(t *testing.T) *influxEnv {
	t.Helper()
	srv := influxtest.StartWithOptions(t, influxtest.Options{Auth: true})
	if srv.Bucket != influxDefaultBucket {
		t.Fatalf("influxtest's bucket is %q, not fibremon's default %q: the test would not prove the defaults agree", srv.Bucket, influxDefaultBucket)
	}
	dir := t.TempDir()
	bin := buildFibremon(t)
	env := &influxEnv{srv: srv}

	// No --storage.influx.bucket: the demo writes to fibremon's default,
	// which the datasource and the dashboards' bucket variable must name.
	demo := exec.Command(bin, "demo",
		"--web.listen-address", "127.0.0.1:0", "--demo.probes-listen-address", "127.0.0.1:0",
		"--demo.splay", "5s", "--demo.throughput-duration", "2s", "--demo.check-interval", "3s",
		"--demo.status-every", "0", "--storage.influx.url", srv.URL)
	demo.Env = append(os.Environ(), "FIBREMON_STORAGE_INFLUX_TOKEN="+srv.Token)
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
	env.fibremon, _ = demoURLs(t, stdout, &demoErr)
	env.sites, _, err = demoSitesMeasured(env.fibremon)
	if err != nil {
		t.Fatal(err)
	}
	if len(env.sites) != demoSites {
		t.Fatalf("/api/v1/sites lists %d sites, want %d: %q", len(env.sites), demoSites, env.sites)
	}

	env.postFailures(t, bin, dir)

	deadline := time.Now().Add(startWait)
	for {
		_, missing, err := demoSitesMeasured(env.fibremon)
		if err == nil && len(missing) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v, no successful result yet for %q (%v)\nfibremon stderr:\n%s", startWait, missing, err, demoErr.String())
		}
		time.Sleep(time.Second)
	}
	t.Logf("fibremon demo at %s storing in influxd %s bucket %s, %d sites", env.fibremon, srv.URL, srv.Bucket, len(env.sites))
	return env
}

// postFailures posts one failed http check for every site, as a probe
// reports one, through the API of a `fibremon serve` on the demo's bucket
// (the demo issues its probes' tokens in memory; serve reads a tokens file
// written by `fibremon token add`). The demo's own scripted outages begin
// after 40 s, too late for a short test.
func (e *influxEnv) postFailures(t *testing.T, bin, dir string) {
	t.Helper()
	tokens := filepath.Join(dir, "tokens.json")
	args := []string{"token", "add", "--auth.tokens-file", tokens, "--probe", testProbe}
	for _, s := range e.sites {
		args = append(args, "--site", s)
	}
	out, err := exec.Command(bin, args...).Output()
	if err != nil {
		t.Fatalf("fibremon token add: %v", err)
	}
	addr := freeAddr(t)
	serve := exec.Command(bin, "serve", "--web.listen-address", addr, "--auth.tokens-file", tokens,
		"--storage.influx.url", e.srv.URL, "--status.refresh-interval", "1h")
	serve.Env = append(os.Environ(), "FIBREMON_STORAGE_INFLUX_TOKEN="+e.srv.Token)
	var serveErr lockedBuffer
	serve.Stdout, serve.Stderr = io.Discard, &serveErr
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	defer stop(t, "fibremon serve", serve, &serveErr)
	base := "http://" + addr
	deadline := time.Now().Add(startWait)
	for {
		resp, err := httpClient.Get(base + fibrehttp.PathReadyz)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("fibremon serve not ready in %v: %v\n%s", startWait, err, serveErr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}

	var rs []fibremon.Result
	start := time.Now().Add(-30 * time.Second).UTC()
	for _, s := range e.sites {
		rs = append(rs, fibremon.Result{
			ID: uuid.NewString(), SiteID: s, Probe: testProbe, Kind: fibremon.KindHTTP,
			Method: "http-get", Target: e.fibremon + "/healthz",
			Start: start, DurationSeconds: 0.002, Up: false, Error: postedError,
		})
	}
	probe := &wire.Client{BaseURL: base, Token: strings.TrimSpace(string(out))}
	resp, err := probe.PostResults(t.Context(), rs)
	if err != nil || resp.Stored != len(rs) {
		t.Fatalf("POST %d failed results: %+v, %v", len(rs), resp, err)
	}
}

// fluxTable is one table of a Flux answer: its columns, their types
// (#datatype) and its rows.
type fluxTable struct {
	cols, types []string
	rows        [][]string
}

func (ft fluxTable) col(name string) int { return slices.Index(ft.cols, name) }

// flux runs a Flux query on influxd as Grafana's InfluxDB datasource does
// on InfluxDB 1.8 (POST /api/v2/query, the token "user:password") and
// returns its tables. An error answer (HTTP 500 with an error table) or an
// error table within the answer is an error.
func (e *influxEnv) flux(ctx context.Context, q string) ([]fluxTable, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.srv.URL+"/api/v2/query", strings.NewReader(q))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/vnd.flux")
	req.Header.Set("Accept", "application/csv")
	req.Header.Set("Authorization", "Token "+e.srv.Token)
	resp, err := httpClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		// A query influxd refuses comes back as "error\n<message>".
		msg := string(bytes.TrimSpace(body))
		if recs, err := csv.NewReader(bytes.NewReader(body)).ReadAll(); err == nil && len(recs) == 2 && len(recs[1]) == 1 {
			msg = recs[1][0]
		}
		return nil, fmt.Errorf("%s: %s", resp.Status, msg)
	}
	return parseFluxCSV(body)
}

// parseFluxCSV reads Flux's annotated CSV: blocks of #annotations, a header
// row and data rows, separated by empty lines; the "table" column numbers
// the tables of a block.
func parseFluxCSV(body []byte) ([]fluxTable, error) {
	r := csv.NewReader(bytes.NewReader(body))
	r.FieldsPerRecord = -1
	var tables []fluxTable
	var types, header []string
	current := map[string]int{} // "<result>/<table>" → index in tables, for this block
	for {
		rec, err := r.Read()
		if err == io.EOF {
			return tables, nil
		}
		if err != nil {
			return nil, fmt.Errorf("flux answer: %v\n%s", err, body)
		}
		switch {
		case len(rec) == 0 || len(rec) == 1 && rec[0] == "":
			types, header, current = nil, nil, map[string]int{}
		case strings.HasPrefix(rec[0], "#"):
			if rec[0] == "#datatype" {
				types, header, current = rec, nil, map[string]int{}
			}
		case header == nil:
			header = rec
			// An error table's header is ",error,reference"; a data
			// table's begins ",result,table" (and may have an error column).
			if len(rec) > 1 && rec[1] == "error" {
				next, _ := r.Read()
				return nil, fmt.Errorf("flux error: %q", next)
			}
		default:
			ri, ti := slices.Index(header, "result"), slices.Index(header, "table")
			key := ""
			if ri >= 0 && ti >= 0 && ri < len(rec) && ti < len(rec) {
				key = rec[ri] + "/" + rec[ti]
			}
			i, ok := current[key]
			if !ok {
				i = len(tables)
				current[key] = i
				tables = append(tables, fluxTable{cols: header, types: types})
			}
			tables[i].rows = append(tables[i].rows, rec)
		}
	}
}

// grafanaMacro is the pattern Grafana's backend replaces in a Flux query
// (pkg/tsdb/influxdb/flux/macros.go): <identifier>.<name>.
var grafanaMacro = regexp.MustCompile(`([a-zA-Z]+)\.([a-zA-Z]+)`)

// grafanaFlux prepares a Flux query as Grafana does: the frontend replaces
// the dashboard variables as text, then the backend replaces
// v.timeRangeStart and v.timeRangeStop with the time range's ends (RFC 3339,
// UTC, a Flux time literal) and v.windowPeriod with the panel's interval
// as Go prints a duration. An undefined variable is an error, and stays
// in the query as Grafana leaves it.
func grafanaFlux(q string, vals map[string]string, from, to time.Time, interval time.Duration) (string, error) {
	q, err := interpolate(q, vals)
	for _, m := range grafanaMacro.FindAllStringSubmatch(q, -1) {
		switch m[2] {
		case "timeRangeStart":
			q = strings.ReplaceAll(q, m[0], from.UTC().Format(time.RFC3339Nano))
		case "timeRangeStop":
			q = strings.ReplaceAll(q, m[0], to.UTC().Format(time.RFC3339Nano))
		case "windowPeriod":
			q = strings.ReplaceAll(q, m[0], interval.String())
		}
	}
	return q, err
}

// run prepares q with the variables vals over the last fluxTimeRange and
// runs it.
func (e *influxEnv) run(ctx context.Context, q string, vals map[string]string) (string, []fluxTable, error) {
	now := time.Now()
	q, err := grafanaFlux(q, vals, now.Add(-fluxTimeRange), now, fluxInterval)
	if err != nil {
		return q, nil, err
	}
	tables, err := e.flux(ctx, q)
	return q, tables, err
}

func rowCount(tables []fluxTable) int {
	n := 0
	for _, ft := range tables {
		n += len(ft.rows)
	}
	return n
}

// metricFindValues returns a query variable's values as Grafana takes them
// from a Flux answer (frameToMetricFindValue): the first string column of
// the first table — its other tables are ignored.
func metricFindValues(tables []fluxTable) []string {
	if len(tables) == 0 {
		return nil
	}
	ft := tables[0]
	for i, typ := range ft.types {
		if typ != "string" || i >= len(ft.cols) || ft.cols[i] == "result" {
			continue
		}
		var vs []string
		for _, r := range ft.rows {
			vs = append(vs, r[i])
		}
		return vs
	}
	return nil
}

// checkFluxDashboard resolves the variables of an InfluxDB dashboard as
// Grafana does — the bucket its default, each query variable by running
// its Flux — and runs every panel query once for every value of the site
// variable (once if it has none). Every query must run without error and,
// unless fluxMayBeEmpty excuses it, return rows; every table of a time
// series panel must have _time and _value columns, a table panel's query
// one table (Grafana shows one frame at a time); and the failures the test
// posted must show in a query with an error column.
func (e *influxEnv) checkFluxDashboard(t *testing.T, file string, d dashboard, used map[string]bool) {
	ctx := t.Context()
	vals := map[string]string{}
	var sites []string
	for _, v := range d.Templating.List {
		switch v.Type {
		case "datasource":
			vals[v.Name] = v.currentValue()
		case "textbox", "constant":
			vals[v.Name] = v.text()
		case "query":
			q, tables, err := e.run(ctx, v.text(), vals)
			if err != nil {
				t.Fatalf("variable %s: %v\n%s", v.Name, err, q)
			}
			values := metricFindValues(tables)
			if len(tables) != 1 || len(values) == 0 {
				t.Fatalf("variable %s: %d tables, values %q; want one table with values (Grafana reads only the first)\n%s", v.Name, len(tables), values, q)
			}
			t.Logf("variable %s: %d values: %q", v.Name, len(values), values)
			vals[v.Name] = values[0] // Grafana's default: the first
			if v.Name == "site" {
				sites = values
			}
		default:
			t.Fatalf("variable %s: type %q, which this test cannot set", v.Name, v.Type)
		}
	}
	if b := vals["bucket"]; b != e.srv.Bucket {
		t.Errorf("variable bucket defaults to %q; fibremon wrote to %q", b, e.srv.Bucket)
	}
	if sites != nil && !slices.Equal(sites, slices.Sorted(slices.Values(e.sites))) {
		t.Errorf("variable site lists %q; the service's sites are %q", sites, e.sites)
	}
	if sites == nil {
		sites = []string{""}
	}

	type query struct {
		key, panelType, q string
	}
	var qs []query
	walkPanels(d.Panels, func(p panel) {
		for _, tg := range p.Targets {
			qs = append(qs, query{key: file + "/" + p.Title + "/" + tg.RefID, panelType: p.Type, q: tg.Query})
		}
	})
	if len(qs) == 0 {
		t.Fatalf("%s has no queries", file)
	}
	for _, q := range qs {
		used[q.key] = true
		reason, excused := fluxMayBeEmpty[q.key]
		var counts []int
		postedShown := 0
		for _, site := range sites {
			vals["site"] = site
			flux, tables, err := e.run(ctx, q.q, vals)
			if err != nil {
				t.Errorf("%s (site %s): %v\n%s", q.key, site, err, flux)
				break // the same for every site
			}
			n := rowCount(tables)
			counts = append(counts, n)
			if n == 0 && !excused {
				t.Errorf("%s (site %s): no rows\n%s", q.key, site, flux)
				continue
			}
			for _, ft := range tables {
				if q.panelType == "timeseries" && (ft.col("_time") < 0 || ft.col("_value") < 0) {
					t.Errorf("%s (site %s): a table of columns %q: a time series needs _time and _value", q.key, site, ft.cols)
				}
				if i := ft.col("error"); i >= 0 {
					for _, r := range ft.rows {
						if r[i] == postedError {
							postedShown++
							break
						}
					}
				}
			}
			if q.panelType == "table" && len(tables) > 1 {
				t.Errorf("%s (site %s): %d tables; a table panel shows one frame at a time: group() them", q.key, site, len(tables))
			}
			if site == sites[0] {
				t.Logf("%s (site %s): %d tables, %d rows", q.key, site, len(tables), n)
			}
		}
		if len(counts) == len(sites) {
			t.Logf("%s: rows per site %v", q.key, counts)
		}
		if slices.Contains(counts, 0) && excused {
			t.Logf("%s: empty for some site, as allowed (%s)", q.key, reason)
		}
		if strings.Contains(q.q, `"error"`) && postedShown != len(sites) {
			t.Errorf("%s: the failed result posted for each site shows for %d of %d sites", q.key, postedShown, len(sites))
		}
	}
}

// checkBrokenFlux: the checks above fail on a query that names a misspelt
// field (no rows), on one influxd cannot compile, on one whose variables or
// Grafana macros were left unreplaced, and on InfluxDB 1.8's missing
// schema package — so a dashboard query broken any of these ways fails
// the test.
func (e *influxEnv) checkBrokenFlux(t *testing.T) {
	ctx := t.Context()
	vals := map[string]string{"bucket": e.srv.Bucket, "site": e.sites[0]}
	const good = `from(bucket: "${bucket}")
  |> range(start: v.timeRangeStart, stop: v.timeRangeStop)
  |> filter(fn: (r) => r._measurement == "probe_result" and r.site_id == "${site}" and r._field == "up")
  |> count()`
	if _, tables, err := e.run(ctx, good, vals); err != nil || rowCount(tables) == 0 {
		t.Fatalf("the good query: %d rows, %v", rowCount(tables), err)
	}
	if _, tables, err := e.run(ctx, strings.Replace(good, `"up"`, `"upp"`, 1), vals); err != nil || rowCount(tables) != 0 {
		t.Errorf("a misspelt field: %d rows, %v; want none and no error", rowCount(tables), err)
	}
	for name, q := range map[string]string{
		"unbalanced":          strings.TrimSuffix(good, ")"),
		"type error":          good + "\n  |> map(fn: (r) => ({r with _value: r._value * 2.0}))",
		"unknown bucket":      strings.Replace(good, "${bucket}", "nosuch/autogen", 1),
		"schema import":       "import \"influxdata/influxdb/schema\"\nschema.tagValues(bucket: \"${bucket}\", tag: \"site_id\")",
		"variable left as is": strings.Replace(good, "${site}", "${site_id}", 1),
	} {
		// ${site_id} is no dashboard variable: interpolate refuses it, so
		// send it as Grafana would leave it, and influxd must refuse it.
		prepared, err := grafanaFlux(q, vals, time.Now().Add(-time.Hour), time.Now(), fluxInterval)
		if err != nil && name != "variable left as is" {
			t.Fatalf("%s: %v", name, err)
		}
		if _, err := e.flux(ctx, prepared); err == nil {
			t.Errorf("%s: influxd ran it without error:\n%s", name, prepared)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
	if _, err := e.flux(ctx, good); err == nil || !strings.Contains(err.Error(), "undefined identifier") {
		t.Errorf("with the dashboard variables and v unreplaced: %v; want an undefined identifier", err)
	}
	if _, err := interpolate(good, map[string]string{"bucket": e.srv.Bucket}); err == nil {
		t.Error("interpolate accepted an undefined variable")
	}
	withErrorColumn := "#datatype,string,long,string\n#group,false,false,false\n#default,_result,,\n,result,table,error\n,,0,timeout\n"
	if tables, err := parseFluxCSV([]byte(withErrorColumn)); err != nil || rowCount(tables) != 1 {
		t.Errorf("parseFluxCSV on a table with an error column: %d rows, %v; want 1 and no error", rowCount(tables), err)
	}
	midStream := "#datatype,string,long,string\n#group,false,false,false\n#default,_result,,\n,result,table,_value\n,,0,x\n\n" +
		"#datatype,string,string\n#group,true,true\n#default,,\n,error,reference\n,boom,\n"
	if _, err := parseFluxCSV([]byte(midStream)); err == nil || !strings.Contains(err.Error(), "boom") {
		t.Errorf("parseFluxCSV on an error table after data: %v; want the error", err)
	}
}
