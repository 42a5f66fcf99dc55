package fibrehttp_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"fibremon"
	"fibremon/data"
	"fibremon/geo"
	"fibremon/internal/auth"
	"fibremon/internal/fibrehttp"
	"fibremon/internal/metrics"
	"fibremon/internal/sqlite"
	"fibremon/internal/status"
	"fibremon/internal/testing/storetest"
	"fibremon/internal/wire"

	"github.com/paulmach/orb/encoding/mvt"
)

type fixture struct {
	srv    *httptest.Server
	store  *sqlite.Store
	tokens *auth.Tokens
	token  string // probe "p-municipio", site "municipio"
	token2 string // probe "p-valserio", site "valserio"
	admin  string // admin "ufficio-tecnico"
	reader string // reader "grafana"
}

// newFixture serves a handler on a real SQLite store; opts adjust its Deps.
func newFixture(t testing.TB, opts ...func(*fibrehttp.Deps, *auth.Tokens)) *fixture {
	t.Helper()
	store, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "fibremon.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	tokens := auth.NewTokens()
	tok, _, err := tokens.Issue("p-municipio", []string{"municipio"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	tok2, _, err := tokens.Issue("p-valserio", []string{"valserio"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	admin, _, err := tokens.IssueAdmin("ufficio-tecnico", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	reader, _, err := tokens.IssueReader("grafana", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.DiscardHandler)
	reg := metrics.NewRegistry("fibremon", "test")
	sites := []fibremon.Site{{ID: "municipio", Name: "Municipio", Kind: fibremon.SiteTownHall, Technology: fibremon.FTTH}}
	tr := status.New(logger, reg, sites, store, status.Options{})
	deps := fibrehttp.Deps{
		Logger: logger, Registry: reg, Metrics: metrics.Handler(reg), Store: store, Auth: tokens, Status: tr,
		Geo:        mustGeo(t),
		Middleware: fibrehttp.NewHTTPMetrics(reg, "fibremon").Middleware,
	}
	for _, o := range opts {
		o(&deps, tokens)
	}
	srv := httptest.NewServer(fibrehttp.NewHandler(deps))
	t.Cleanup(srv.Close)
	return &fixture{srv: srv, store: store, tokens: tokens, token: tok, token2: tok2, admin: admin, reader: reader}
}

func (f *fixture) post(t testing.TB, token, body string) (int, fibrehttp.ErrorResponse) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, f.srv.URL+fibrehttp.PathResults, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var er fibrehttp.ErrorResponse
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 400 {
		if err := json.Unmarshal(raw, &er); err != nil || er.Error == "" {
			t.Fatalf("status %d with a body that is not a JSON error: %q", resp.StatusCode, raw)
		}
	}
	return resp.StatusCode, er
}

func (f *fixture) count(t *testing.T) int {
	t.Helper()
	n, err := f.store.Count(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func batchJSON(t testing.TB, rs ...fibremon.Result) string {
	t.Helper()
	b, err := json.Marshal(fibrehttp.ResultsRequest{Results: rs})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func good(now time.Time) fibremon.Result {
	r := storetest.Result("municipio", fibremon.KindLatency, now.Add(-time.Minute), true)
	r.Probe = "p-municipio"
	return r
}

func TestPostResultsBadInput(t *testing.T) {
	f := newFixture(t)
	now := time.Now()
	valid := batchJSON(t, good(now))
	// a valid result followed by a bad one: nothing of the batch may be stored
	withBad := func(edit func(m map[string]any)) string {
		var r map[string]any
		b, _ := json.Marshal(good(now))
		json.Unmarshal(b, &r)
		edit(r)
		first, _ := json.Marshal(good(now))
		bad, _ := json.Marshal(r)
		return fmt.Sprintf(`{"results":[%s,%s]}`, first, bad)
	}
	other := good(now)
	other.SiteID = "valserio"
	otherProbe := good(now)
	otherProbe.Probe = "p-valserio"
	tests := []struct {
		name      string
		token     string
		body      string
		wantCode  int
		wantField string
	}{
		{"no token", "", valid, 401, ""},
		{"unknown token", "fmp_nope", valid, 401, ""},
		{"other site", "TOKEN", batchJSON(t, good(now), other), 403, "results[1].site_id"},
		{"other probe name", "TOKEN", batchJSON(t, otherProbe), 403, "results[0].probe"},
		{"malformed json", "TOKEN", `{"results":[{"id":`, 400, ""},
		{"not json", "TOKEN", `hello`, 400, ""},
		{"trailing data", "TOKEN", valid + `{}`, 400, ""},
		{"empty batch", "TOKEN", `{"results":[]}`, 400, "results"},
		{"no results field", "TOKEN", `{}`, 400, "results"},
		{"unknown top field", "TOKEN", `{"results":[],"x":1}`, 400, "x"},
		{"null result", "TOKEN", `{"results":[null]}`, 400, "results[0]"},
		{"missing uuid", "TOKEN", withBad(func(m map[string]any) { delete(m, "id") }), 400, "results[1].id"},
		{"bad uuid", "TOKEN", withBad(func(m map[string]any) { m["id"] = "123" }), 400, "results[1].id"},
		{"wrong type duration", "TOKEN", withBad(func(m map[string]any) { m["duration_seconds"] = "fast" }), 400, "results[1].duration_seconds"},
		{"wrong type up", "TOKEN", withBad(func(m map[string]any) { m["up"] = 1 }), 400, "results[1].up"},
		{"negative value", "TOKEN", withBad(func(m map[string]any) { m["values"] = map[string]any{"rtt_min_seconds": -1} }), 400, "results[1].values.rtt_min_seconds"},
		{"NaN value", "TOKEN", strings.Replace(withBad(func(m map[string]any) { m["values"] = map[string]any{"loss_ratio": "XX"} }), `"XX"`, `NaN`, 1), 400, ""},
		{"NaN as string", "TOKEN", withBad(func(m map[string]any) { m["values"] = map[string]any{"loss_ratio": "NaN"} }), 400, "results[1].values"},
		{"huge number", "TOKEN", strings.Replace(withBad(func(m map[string]any) { m["duration_seconds"] = "XX" }), `"XX"`, `1e999`, 1), 400, "results[1].duration_seconds"},
		{"loss above one", "TOKEN", withBad(func(m map[string]any) { m["values"] = map[string]any{"loss_ratio": 1.5} }), 400, "results[1].values.loss_ratio"},
		{"unknown value", "TOKEN", withBad(func(m map[string]any) { m["values"] = map[string]any{"speed": 1} }), 400, "results[1].values.speed"},
		{"unknown result field", "TOKEN", withBad(func(m map[string]any) { m["extra"] = true }), 400, "results[1].extra"},
		{"unknown kind", "TOKEN", withBad(func(m map[string]any) { m["kind"] = "teleport" }), 400, "results[1].kind"},
		{"future start", "TOKEN", withBad(func(m map[string]any) { m["start"] = now.Add(24 * time.Hour).Format(time.RFC3339) }), 400, "results[1].start"},
		{"far past start", "TOKEN", withBad(func(m map[string]any) { m["start"] = now.AddDate(-2, 0, 0).Format(time.RFC3339) }), 400, "results[1].start"},
		{"year 0 start", "TOKEN", withBad(func(m map[string]any) { m["start"] = "0000-01-01T00:00:00Z" }), 400, "results[1].start"},
		{"negative duration", "TOKEN", withBad(func(m map[string]any) { m["duration_seconds"] = -1 }), 400, "results[1].duration_seconds"},
		{"value above its bound", "TOKEN", withBad(func(m map[string]any) { m["values"] = map[string]any{"download_bytes_per_second": 1e300} }), 400, "results[1].values.download_bytes_per_second"},
		{"infinite value", "TOKEN", strings.Replace(withBad(func(m map[string]any) { m["values"] = map[string]any{"jitter_seconds": "XX"} }), `"XX"`, `-1e999`, 1), 400, "results[1].values"},
		{"oversized target", "TOKEN", withBad(func(m map[string]any) { m["target"] = strings.Repeat("x", 4096) }), 400, "results[1].target"},
		{"oversized error", "TOKEN", withBad(func(m map[string]any) { m["up"] = false; m["error"] = strings.Repeat("e", 1<<20) }), 400, "results[1].error"},
		{"oversized site id", "TOKEN", withBad(func(m map[string]any) { m["site_id"] = strings.Repeat("a", 65) }), 400, "results[1].site_id"},
		{"object for string", "TOKEN", withBad(func(m map[string]any) { m["kind"] = map[string]any{"$ne": 1} }), 400, "results[1].kind"},
		{"array for object", "TOKEN", `{"results":{"0":{}}}`, 400, "results"},
		{"deep nesting", "TOKEN", `{"results":[` + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + `]}`, 400, ""},
		{"bad time", "TOKEN", withBad(func(m map[string]any) { m["start"] = "yesterday" }), 400, "results[1].start"},
		{"failure without reason", "TOKEN", withBad(func(m map[string]any) { m["up"] = false; m["error"] = "" }), 400, "results[1].error"},
		{"duplicate id in batch", "TOKEN", batchJSON(t, good(now), good(now), good(now)), 0, ""}, // fixed below
		{"invalid utf8", "TOKEN", strings.Replace(valid, "test", "te\xffst", 1), 400, ""},
	}
	dup := good(now)
	tests[len(tests)-2].body = batchJSON(t, dup, good(now), dup)
	tests[len(tests)-2].wantCode, tests[len(tests)-2].wantField = 400, "results[2].id"
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tok := tc.token
			if tok == "TOKEN" {
				tok = f.token
			}
			code, er := f.post(t, tok, tc.body)
			if code != tc.wantCode {
				t.Fatalf("POST = %d %+v; want %d", code, er, tc.wantCode)
			}
			if tc.wantField != "" && !strings.HasPrefix(er.Field, tc.wantField) {
				t.Errorf("field %q; want %q (error %q)", er.Field, tc.wantField, er.Error)
			}
			if n := f.count(t); n != 0 {
				t.Fatalf("%d results stored after a refused batch; want 0", n)
			}
		})
	}
}

// TestPostResultsTooManyResults: a batch over the per-batch bound is
// refused whole, naming the bound.
func TestPostResultsTooManyResults(t *testing.T) {
	f := newFixture(t)
	now := time.Now()
	rs := make([]fibremon.Result, fibrehttp.MaxBatchResults+1)
	for i := range rs {
		rs[i] = good(now)
	}
	code, er := f.post(t, f.token, batchJSON(t, rs...))
	if code != http.StatusBadRequest && code != http.StatusRequestEntityTooLarge {
		t.Fatalf("POST of %d results = %d %+v; want 400 or 413", len(rs), code, er)
	}
	if !strings.Contains(er.Error, strconv.Itoa(fibrehttp.MaxBatchResults)) {
		t.Errorf("error %q does not name the bound %d", er.Error, fibrehttp.MaxBatchResults)
	}
	if n := f.count(t); n != 0 {
		t.Fatalf("%d stored from a refused batch", n)
	}
}

func TestPostResultsTooLarge(t *testing.T) {
	f := newFixture(t)
	body := `{"results":[` + strings.Repeat(" ", fibrehttp.MaxBodyBytes) + `]}`
	code, er := f.post(t, f.token, body)
	if code != http.StatusRequestEntityTooLarge {
		t.Fatalf("POST of %d bytes = %d %+v; want 413", len(body), code, er)
	}
}

func TestClientRoundTripIdempotent(t *testing.T) {
	f := newFixture(t)
	now := time.Now()
	batch := []fibremon.Result{good(now), good(now), good(now)}
	c := &wire.Client{BaseURL: f.srv.URL, Token: f.token}
	got, err := c.PostResults(t.Context(), batch)
	if err != nil || got.Stored != 3 || got.Duplicates != 0 {
		t.Fatalf("first post = %+v, %v; want 3 stored", got, err)
	}
	got, err = c.PostResults(t.Context(), batch)
	if err != nil || got.Stored != 0 || got.Duplicates != 3 {
		t.Fatalf("repeated post = %+v, %v; want 3 duplicates", got, err)
	}
	if n := f.count(t); n != 3 {
		t.Fatalf("%d rows after a duplicate batch; want 3", n)
	}
	// an invalid batch is permanent; a refused token is retried
	invalid := good(now)
	invalid.Values = map[string]float64{fibremon.LossRatio: 1.5}
	_, err = c.PostResults(t.Context(), []fibremon.Result{invalid})
	if !wire.Permanent(err) || wire.Refused(err) || wire.Misdirected(err) {
		t.Fatalf("invalid batch: err %v; want permanent", err)
	}
	bad := &wire.Client{BaseURL: f.srv.URL, Token: "fmp_unknown"}
	_, err = bad.PostResults(t.Context(), batch)
	if wire.Permanent(err) || !wire.Refused(err) {
		t.Fatalf("unknown token: err %v; want refused, not permanent", err)
	}
	down := &wire.Client{BaseURL: "http://127.0.0.1:1", Token: f.token}
	_, err = down.PostResults(t.Context(), batch)
	if err == nil || wire.Permanent(err) {
		t.Fatalf("service down: err %v; want transient", err)
	}
}

func TestSitesAndMetricsAfterIngest(t *testing.T) {
	f := newFixture(t)
	c := &wire.Client{BaseURL: f.srv.URL, Token: f.token}
	if _, err := c.PostResults(t.Context(), []fibremon.Result{good(time.Now())}); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(f.srv.URL + fibrehttp.PathMetrics)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`fibremon_ingest_results_total{outcome="stored"} 1`, `fibremon_ingest_batches_total{code="200"} 1`,
		`fibremon_http_requests_total{code="200",method="POST",route="/api/v1/results"} 1`} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	code, _, body := request(t, http.MethodGet, f.srv.URL+"/api/v1/results?site_id=municipio", f.reader, "")
	var rr struct{ Results []fibremon.Result }
	json.Unmarshal(body, &rr)
	if code != http.StatusOK || len(rr.Results) != 1 {
		t.Fatalf("GET results: %d, %d results; want 200, 1", code, len(rr.Results))
	}
	for _, tc := range []struct {
		path string
		code int
	}{{"/api/v1/results?kind=bogus", 400}, {"/api/v1/results?since=yesterday", 400}, {"/api/v1/results?limit=0", 400},
		{"/api/v1/sites/nope", 404}, {"/api/v1/sites/municipio", 200}, {"/nope", 404}, {"/readyz", 200}, {"/healthz", 200}} {
		if code, _, _ := request(t, http.MethodGet, f.srv.URL+tc.path, f.reader, ""); code != tc.code {
			t.Errorf("GET %s = %d; want %d", tc.path, code, tc.code)
		}
	}
}

// mustGeo loads the embedded Ripalta Cremasca data set.
func mustGeo(t testing.TB) *geo.Live {
	t.Helper()
	c, err := geo.Load(data.FS, "ripalta-cremasca")
	if err != nil {
		t.Fatal(err)
	}
	live := new(geo.Live)
	live.Store(geo.MustSetOf(c))
	return live
}

// FuzzTilePath: any tile path gets an answer below 500 — a 4xx with a
// JSON error naming the parameter when it is bad, a decodable tile
// otherwise — and never a crash.
func FuzzTilePath(f *testing.F) {
	fx := newFixture(f)
	h := fx.srv.Config.Handler
	for _, seed := range [][4]string{
		{"addresses", "14", "8629", "5866.mvt"}, {"comune,hamlets,hamlet-zones,addresses,white-areas,sites", "0", "0", "0.mvt"},
		{"addresses", "22", "4194303", "4194303.mvt"}, {"addresses", "23", "0", "0.mvt"}, {"addresses", "1", "2", "0.mvt"},
		{"addresses", "1", "0", "2.mvt"}, {"addresses", "01", "00", "00.mvt"}, {"addresses", "14", "0", "0.png"},
		{"", "0", "0", "0.mvt"}, {"addresses,addresses", "0", "0", "0.mvt"}, {"x", "-1", "+1", ".mvt"},
		{"sites", "99999999999999999999", "0", "0.mvt"}, {"sites", "4", "4294967296", "1.mvt"},
	} {
		f.Add(seed[0], seed[1], seed[2], seed[3])
	}
	f.Fuzz(func(t *testing.T, layers, z, x, y string) {
		names, tile, err := fibrehttp.ParseTilePath(layers, z, x, y)
		if err == nil && (len(names) == 0 || !tile.Valid() || int(tile.Z) > geo.MaxZoom) {
			t.Fatalf("ParseTilePath(%q, %q, %q, %q) = %v, %v", layers, z, x, y, names, tile)
		}
		if err != nil && (fibremon.KindOf(err) != fibremon.Invalid || fibremon.FieldOf(err) == "") {
			t.Fatalf("ParseTilePath(%q, %q, %q, %q): %v is not an Invalid error naming a parameter", layers, z, x, y, err)
		}
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.URL.Path = fibrehttp.PathTiles + "/" + layers + "/" + z + "/" + x + "/" + y
		req.URL.RawPath = ""
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch {
		case rec.Code >= 500:
			t.Fatalf("GET %s = %d %s", req.URL.Path, rec.Code, rec.Body.Bytes())
		case rec.Code >= 400:
			var er fibrehttp.ErrorResponse
			if err := json.Unmarshal(rec.Body.Bytes(), &er); err != nil || er.Error == "" {
				t.Fatalf("GET %s = %d with a body that is not a JSON error: %.200q", req.URL.Path, rec.Code, rec.Body.Bytes())
			}
		default:
			if err != nil {
				t.Fatalf("GET %s = %d; ParseTilePath refused it: %v", req.URL.Path, rec.Code, err)
			}
			if _, err := mvt.Unmarshal(rec.Body.Bytes()); err != nil {
				t.Fatalf("GET %s: tile does not decode: %v", req.URL.Path, err)
			}
		}
	})
}

// FuzzGetQueries: any query string on any read endpoint gets an answer
// below 500 — a 4xx with a JSON error when the input is bad — and never a
// crash. Seeds: below and in testdata/fuzz/FuzzGetQueries.
func FuzzGetQueries(f *testing.F) {
	fx := newFixture(f)
	now := time.Now()
	if code, er := fx.post(f, fx.token, batchJSON(f, good(now), good(now.Add(-time.Hour)))); code != http.StatusOK {
		f.Fatalf("seed results: %d %+v", code, er)
	}
	h := fx.srv.Config.Handler
	paths := []string{
		fibrehttp.PathResults, fibrehttp.PathSites, fibrehttp.PathSites + "/municipio", fibrehttp.PathCoverage,
		fibrehttp.PathCoverageLookup, fibrehttp.PathRollout, fibrehttp.PathGaps, fibrehttp.PathContracts,
		fibrehttp.PathComuni, fibrehttp.PathTiles + "/addresses/14/8629/5866.mvt", fibrehttp.PathTiles + "/comune,white-areas,sites/9/283/183.mvt",
	}
	for _, seed := range []string{
		"site_id=municipio&kind=latency&since=2026-01-01T00:00:00Z&limit=5",
		"limit=-1", "limit=99999999999999999999", "since=yesterday", "until=2026-13-01T00:00:00Z",
		"address=Via+Roma+5", "address=v.+roma", "address=" + strings.Repeat("x", 5000), "address=%ff%fe",
		"lat=45.33&lon=9.69", "lat=NaN&lon=9.69", "lat=1e999&lon=-1e999", "lat=91&lon=0",
		"layer=addresses&hamlet=Bolzone&technology=FTTH&class=VHCN&state=active", "layer=nope", "format=csv", "format=xml",
		"hamlet=%00", "kind=teleport", ";;&&==", "",
		"layer=addresses&bbox=9.6,45.3,9.7,45.4&zoom=16", "layer=white-areas&bbox=-180,-90,180,90&zoom=0", "bbox=9.7,45.3,9.6,45.4",
		"bbox=1,2,3", "bbox=NaN,0,1,1", "bbox=0x1p-2,0,1,1", "bbox=1e308,0,1e309,1", "zoom=22", "zoom=23", "zoom=-0", "zoom=+5",
		"comune=crema&layer=addresses", "comune=atlantide", "comune=019081&class=vhcn&state=active&technology=FWA",
	} {
		f.Add(uint8(0), seed)
	}
	f.Fuzz(func(t *testing.T, which uint8, query string) {
		path := paths[int(which)%len(paths)]
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.URL.Path = path
		req.URL.RawQuery = query
		req.Header.Set("Authorization", "Bearer "+fx.reader) // past access control, into the parsers
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("GET %s?%s = %d %s", path, query, rec.Code, rec.Body.Bytes())
		}
		if rec.Code >= 400 {
			var er fibrehttp.ErrorResponse
			if err := json.Unmarshal(rec.Body.Bytes(), &er); err != nil || er.Error == "" {
				t.Fatalf("GET %s?%s = %d with a body that is not a JSON error: %.200q", path, query, rec.Code, rec.Body.Bytes())
			}
		}
	})
}
