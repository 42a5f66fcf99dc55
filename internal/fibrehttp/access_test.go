package fibrehttp_test

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"

	"fibremon"
	"fibremon/data"
	"fibremon/geo"
	"fibremon/internal/auth"
	"fibremon/internal/contract"
	"fibremon/internal/fibrehttp"
	"fibremon/internal/status"
	"fibremon/internal/testing/storetest"
	"fibremon/internal/web"
	"fibremon/internal/wire"
	"fibremon/probes/ndt7"
)

// Callers of the access table, in the order of its status columns.
const (
	anon = iota
	probe
	reader
	admin
	nCallers
)

var callerNames = [nCallers]string{"no token", "probe token", "reader token", "admin token"}

// accessFixture is the real handler with every optional part wired (web
// page, ndt7, admin API, contract checks) over the Ripalta Cremasca data
// set, and results stored for the municipio: a download that passed and a
// latency check that failed with an error text and a target.
type accessFixture struct {
	*fixture
	tracker *status.Tracker
	tokens  [nCallers]string
}

func newAccessFixture(t *testing.T, access fibrehttp.Access) *accessFixture {
	t.Helper()
	comune, err := geo.Load(data.FS, "ripalta-cremasca")
	if err != nil {
		t.Fatal(err)
	}
	var tracker *status.Tracker
	f := newFixture(t, func(d *fibrehttp.Deps, ts *auth.Tokens) {
		logger := slog.New(slog.DiscardHandler)
		tracker = status.New(logger, prometheus.NewRegistry(), comune.Sites, d.Store.(status.Reader), status.Options{Stale: time.Hour})
		d.Status = tracker
		d.Contract = contract.NewChecker(logger, prometheus.NewRegistry(), comune.Sites, d.Store.(contract.Reader), nil)
		d.Admin = &fileAdmin{tokens: ts, path: filepath.Join(t.TempDir(), "tokens.json")}
		d.Web = web.Handler(web.Options{})
		ndt := ndt7.NewHandler(logger, ndt7.ServerOptions{})
		d.NDTDownload, d.NDTUpload = ndt.Download, ndt.Upload
		d.Access = access
	})
	now := time.Now()
	down := storetest.Result("municipio", fibremon.KindDownload, now.Add(-2*time.Minute), true)
	down.Values[fibremon.DownloadBytesPerSecond] = fibremon.MbitPerSecond(940)
	lat := storetest.Result("municipio", fibremon.KindLatency, now.Add(-time.Minute), false)
	lat.Target, lat.Error = "10.9.8.7:443", "dial tcp 10.9.8.7:443: connect: no route to host"
	for _, r := range []*fibremon.Result{&down, &lat} {
		r.Probe = "p-municipio"
	}
	if code, er := f.post(t, f.token, batchJSON(t, down, lat)); code != http.StatusOK {
		t.Fatalf("post = %d %+v", code, er)
	}
	if err := tracker.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	return &accessFixture{fixture: f, tracker: tracker, tokens: [nCallers]string{"", f.token, f.reader, f.admin}}
}

// do sends one request as caller and returns the status and body; every
// 4xx must carry a JSON error, and every 401 a WWW-Authenticate challenge.
func (f *accessFixture) do(t *testing.T, caller int, method, path string) (int, []byte) {
	t.Helper()
	body := ""
	if method == http.MethodPost {
		r := good(time.Now())
		body = batchJSON(t, r)
	}
	code, hdr, raw := request(t, method, f.srv.URL+path, f.tokens[caller], body)
	if code >= 400 && code < 500 && !strings.HasPrefix(path, "/ndt/") && !strings.HasPrefix(path, "/static/") {
		var er fibrehttp.ErrorResponse
		if err := json.Unmarshal(raw, &er); err != nil || er.Error == "" {
			t.Errorf("%s %s as %s = %d with a body that is not a JSON error: %.200q", method, path, callerNames[caller], code, raw)
		}
	}
	if code == http.StatusUnauthorized && hdr.Get("WWW-Authenticate") == "" {
		t.Errorf("%s %s as %s = 401 without WWW-Authenticate", method, path, callerNames[caller])
	}
	return code, raw
}

// accessCase is one route and the status each caller gets.
type accessCase struct {
	method, pattern, path string
	want                  [nCallers]int
}

// defaultAccess is the table of the default configuration: every route of
// the service against every kind of caller.
var defaultAccess = []accessCase{
	{"GET", "/healthz", "/healthz", [nCallers]int{200, 200, 200, 200}},
	{"GET", "/readyz", "/readyz", [nCallers]int{200, 200, 200, 200}},
	{"GET", "/metrics", "/metrics", [nCallers]int{200, 200, 200, 200}},
	{"GET", "/", "/", [nCallers]int{200, 200, 200, 200}},
	{"GET", "/static/*", "/static/app.js", [nCallers]int{200, 200, 200, 200}},
	// A plain GET is no WebSocket upgrade: the same 400 for everyone.
	{"GET", "/ndt/v7/download", "/ndt/v7/download", [nCallers]int{400, 400, 400, 400}},
	{"GET", "/ndt/v7/upload", "/ndt/v7/upload", [nCallers]int{400, 400, 400, 400}},
	{"GET", "/api/v1/coverage.geojson", "/api/v1/coverage.geojson", [nCallers]int{200, 200, 200, 200}},
	{"GET", "/api/v1/tiles/{layers}/{z}/{x}/{y}", "/api/v1/tiles/sites/14/8631/5872.mvt", [nCallers]int{200, 200, 200, 200}},
	{"GET", "/api/v1/coverage", "/api/v1/coverage?address=Via+Roma+5", [nCallers]int{200, 200, 200, 200}},
	{"GET", "/api/v1/rollout", "/api/v1/rollout", [nCallers]int{200, 200, 200, 200}},
	{"GET", "/api/v1/gaps", "/api/v1/gaps", [nCallers]int{200, 200, 200, 200}},
	{"GET", "/api/v1/sites", "/api/v1/sites", [nCallers]int{200, 200, 200, 200}},
	{"GET", "/api/v1/comuni", "/api/v1/comuni", [nCallers]int{200, 200, 200, 200}},
	{"GET", "/api/v1/sites/{id}", "/api/v1/sites/municipio", [nCallers]int{200, 200, 200, 200}},
	{"POST", "/api/v1/results", "/api/v1/results", [nCallers]int{401, 200, 403, 403}},
	{"GET", "/api/v1/results", "/api/v1/results?site_id=municipio", [nCallers]int{401, 200, 200, 200}},
	{"GET", "/api/v1/results", "/api/v1/results?site_id=valserio", [nCallers]int{401, 403, 200, 200}},
	{"GET", "/api/v1/results", "/api/v1/results", [nCallers]int{401, 403, 200, 200}},
	{"GET", "/api/v1/contracts", "/api/v1/contracts", [nCallers]int{401, 403, 200, 200}},
	{"GET", "/api/v1/sites/{id}/contract", "/api/v1/sites/municipio/contract", [nCallers]int{401, 403, 200, 200}},
	{"GET", "/api/v1/admin/tokens", "/api/v1/admin/tokens", [nCallers]int{401, 403, 403, 200}},
	// No probe of that name: the admin gets as far as 404.
	{"DELETE", "/api/v1/admin/tokens/{probe}", "/api/v1/admin/tokens/nobody", [nCallers]int{401, 403, 403, 404}},
	{"POST", "/api/v1/admin/reload", "/api/v1/admin/reload", [nCallers]int{401, 403, 403, 200}},
}

// TestAccessTable: every route of the service × {no token, probe token,
// reader token, admin token} in the default configuration, through the
// real handler; and the table names every route the router has, so a new
// route cannot escape it.
func TestAccessTable(t *testing.T) {
	f := newAccessFixture(t, fibrehttp.Access{})
	checkCoversRoutes(t, f, defaultAccess)
	for _, tc := range defaultAccess {
		for caller := range nCallers {
			if code, body := f.do(t, caller, tc.method, tc.path); code != tc.want[caller] {
				t.Errorf("%s %s as %s = %d %.200s; want %d", tc.method, tc.path, callerNames[caller], code, body, tc.want[caller])
			}
		}
	}
}

func checkCoversRoutes(t *testing.T, f *accessFixture, table []accessCase) {
	t.Helper()
	routes, ok := f.srv.Config.Handler.(*fibrehttp.Server).Handler.(chi.Routes)
	if !ok {
		t.Fatal("the handler is not a chi router; cannot list its routes")
	}
	var missing []string
	err := chi.Walk(routes, func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		if !slices.ContainsFunc(table, func(c accessCase) bool { return c.method == method && c.pattern == route }) {
			missing = append(missing, method+" "+route)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("routes missing from the access table: %q", missing)
	}
}

// TestAccessViews: anyone sees sites in coarse form; a read token sees
// them in full. The public view carries no raw results (targets, error
// texts) and no contract figures, and its last_seen is truncated.
func TestAccessViews(t *testing.T) {
	f := newAccessFixture(t, fibrehttp.Access{})
	secrets := []string{"10.9.8.7", "no route to host", `"latest"`, "contract_", "min_download", "max_rtt"}
	for _, path := range []string{"/api/v1/sites", "/api/v1/sites/municipio", "/api/v1/coverage.geojson", "/api/v1/coverage.geojson?layer=sites", "/api/v1/coverage?address=Via+Roma+5", "/api/v1/tiles/sites/0/0/0.mvt"} {
		for _, caller := range []int{anon, probe} {
			_, body := f.do(t, caller, "GET", path)
			for _, s := range secrets {
				if strings.Contains(string(body), s) {
					t.Errorf("GET %s as %s shows %q: %.300s", path, callerNames[caller], s, body)
				}
			}
		}
	}
	for _, caller := range []int{reader, admin} {
		_, body := f.do(t, caller, "GET", "/api/v1/sites/municipio")
		if !strings.Contains(string(body), "no route to host") || !strings.Contains(string(body), "contract_download_bytes_per_second") {
			t.Errorf("GET /api/v1/sites/municipio as %s lacks the raw result or the contract: %.300s", callerNames[caller], body)
		}
		_, body = f.do(t, caller, "GET", "/api/v1/coverage.geojson?layer=sites")
		if !strings.Contains(string(body), "contract_download_mbps") {
			t.Errorf("coverage.geojson as %s lacks contract_download_mbps", callerNames[caller])
		}
		if _, body = f.do(t, caller, "GET", "/api/v1/tiles/sites/0/0/0.mvt"); !strings.Contains(string(body), "contract_download_mbps") {
			t.Errorf("the sites tile as %s lacks contract_download_mbps", callerNames[caller])
		}
	}

	var pub fibrehttp.PublicSitesResponse
	_, body := f.do(t, anon, "GET", "/api/v1/sites")
	if err := json.Unmarshal(body, &pub); err != nil || pub.View != fibrehttp.ViewPublic {
		t.Fatalf("public sites: view %q, %v", pub.View, err)
	}
	var full fibrehttp.SitesResponse
	_, body = f.do(t, reader, "GET", "/api/v1/sites")
	if err := json.Unmarshal(body, &full); err != nil || full.View != fibrehttp.ViewFull || len(full.Sites) != len(pub.Sites) {
		t.Fatalf("full sites: view %q, %d sites (public %d), %v", full.View, len(full.Sites), len(pub.Sites), err)
	}
	i := slices.IndexFunc(pub.Sites, func(s fibrehttp.PublicSiteStatus) bool { return s.ID == "municipio" })
	j := slices.IndexFunc(full.Sites, func(s fibremon.SiteStatus) bool { return s.ID == "municipio" })
	if i < 0 || j < 0 {
		t.Fatal("municipio missing from a view")
	}
	p, s := pub.Sites[i], full.Sites[j]
	if p.State != fibremon.StateDown || p.State != s.State || p.Technology != s.Technology || p.Name != s.Name {
		t.Errorf("public municipio %+v does not agree with the full one (state %s)", p, s.State)
	}
	if p.LastSeen.IsZero() || !p.LastSeen.Equal(s.LastSeen.Truncate(fibrehttp.PublicTimeStep)) {
		t.Errorf("public last_seen %v; want %v truncated to %v", p.LastSeen, s.LastSeen, fibrehttp.PublicTimeStep)
	}
	// The geojson's public last_seen is truncated the same way.
	_, body = f.do(t, anon, "GET", "/api/v1/coverage.geojson?layer=sites")
	var fc struct {
		Features []struct {
			Properties map[string]any `json:"properties"`
		} `json:"features"`
	}
	if err := json.Unmarshal(body, &fc); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, ft := range fc.Features {
		if ft.Properties["site_id"] != "municipio" {
			continue
		}
		found = true
		if ft.Properties["last_seen"] != s.LastSeen.UTC().Truncate(fibrehttp.PublicTimeStep).Format(time.RFC3339) ||
			ft.Properties["state"] != "down" || ft.Properties["download_mbps"] != 940.0 {
			t.Errorf("public municipio feature %v; want state down, 940 Mbit/s measured, last_seen truncated", ft.Properties)
		}
	}
	if !found {
		t.Error("no municipio feature in the public sites layer")
	}
}

// TestAccessPublicRead: --web.public-read serves everything a read token
// reads to anyone, and changes nothing for writes and the admin API.
func TestAccessPublicRead(t *testing.T) {
	f := newAccessFixture(t, fibrehttp.Access{PublicRead: true})
	for _, tc := range []accessCase{
		{"GET", "", "/api/v1/results?site_id=valserio", [nCallers]int{200, 200, 200, 200}},
		{"GET", "", "/api/v1/results", [nCallers]int{200, 200, 200, 200}},
		{"GET", "", "/api/v1/contracts", [nCallers]int{200, 200, 200, 200}},
		{"GET", "", "/api/v1/sites/municipio/contract", [nCallers]int{200, 200, 200, 200}},
		{"GET", "", "/metrics", [nCallers]int{200, 200, 200, 200}},
		{"POST", "", "/api/v1/results", [nCallers]int{401, 200, 403, 403}},
		{"GET", "", "/api/v1/admin/tokens", [nCallers]int{401, 403, 403, 200}},
	} {
		for caller := range nCallers {
			if code, body := f.do(t, caller, tc.method, tc.path); code != tc.want[caller] {
				t.Errorf("public read: %s %s as %s = %d %.200s; want %d", tc.method, tc.path, callerNames[caller], code, body, tc.want[caller])
			}
		}
	}
	var full fibrehttp.SitesResponse
	if _, body := f.do(t, anon, "GET", "/api/v1/sites"); json.Unmarshal(body, &full) != nil || full.View != fibrehttp.ViewFull {
		t.Errorf("public read: anonymous sites view %q; want full", full.View)
	}
}

// TestAccessMetricsReadToken: --web.metrics-auth=read-token guards
// /metrics, even with --web.public-read.
func TestAccessMetricsReadToken(t *testing.T) {
	for _, publicRead := range []bool{false, true} {
		f := newAccessFixture(t, fibrehttp.Access{MetricsAuth: fibrehttp.MetricsAuthReadToken, PublicRead: publicRead})
		want := [nCallers]int{401, 403, 200, 200}
		for caller := range nCallers {
			code, body := f.do(t, caller, "GET", "/metrics")
			if code != want[caller] {
				t.Errorf("public-read %v: GET /metrics as %s = %d %.200s; want %d", publicRead, callerNames[caller], code, body, want[caller])
			}
			if code == 200 && !strings.Contains(string(body), "fibremon_ingest_results_total") {
				t.Errorf("GET /metrics as %s: no metrics in %.200s", callerNames[caller], body)
			}
		}
	}
	// A value Validate refuses leaves /metrics closed, not open.
	f := newAccessFixture(t, fibrehttp.Access{MetricsAuth: "read_token"})
	if code, _ := f.do(t, anon, "GET", "/metrics"); code != http.StatusUnauthorized {
		t.Errorf("metrics-auth %q: anonymous /metrics = %d; want 401", "read_token", code)
	}
	if err := (fibrehttp.Access{MetricsAuth: "read_token"}).Validate(); err == nil {
		t.Error(`Validate(MetricsAuth "read_token") = nil; want an error`)
	}
	for _, ok := range []string{"", "none", "read-token"} {
		if err := (fibrehttp.Access{MetricsAuth: ok}).Validate(); err != nil {
			t.Errorf("Validate(MetricsAuth %q) = %v", ok, err)
		}
	}
}

// TestAccessTokenChecks: a bearer token the service does not know is
// refused even where anyone may read (never quietly downgraded); another
// scheme, such as a proxy's Basic credentials, is not a token at all.
func TestAccessTokenChecks(t *testing.T) {
	f := newAccessFixture(t, fibrehttp.Access{})
	unknown, _ := auth.Generate()
	for _, tc := range []struct {
		path, authz string
		want        int
	}{
		{"/api/v1/sites", "Bearer " + unknown, 401},
		{"/api/v1/coverage.geojson", "Bearer " + unknown, 401},
		{"/api/v1/results?site_id=municipio", "Bearer " + unknown, 401},
		{"/api/v1/sites", "Basic dXNlcjpwYXNz", 200},
		{"/api/v1/results?site_id=municipio", "Basic dXNlcjpwYXNz", 401},
		{"/api/v1/sites", "bearer " + f.reader, 200}, // the scheme is case-insensitive
		// Routes anyone may read do not look at the header.
		{"/api/v1/rollout", "Bearer " + unknown, 200},
		{"/api/v1/coverage?address=Via+Roma+5", "Bearer " + unknown, 200},
		{"/metrics", "Basic dXNlcjpwYXNz", 200},
	} {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, f.srv.URL+tc.path, nil)
		req.Header.Set("Authorization", tc.authz)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("GET %s with %.12q… = %d; want %d", tc.path, tc.authz, resp.StatusCode, tc.want)
		}
	}
	// Answers that depend on the caller say so to caches.
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, f.srv.URL+"/api/v1/sites", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if !slices.Contains(resp.Header.Values("Vary"), "Authorization") {
		t.Errorf("GET /api/v1/sites: Vary %q; want Authorization", resp.Header.Values("Vary"))
	}
}

// TestZeroTokens: a service whose tokens file is emptied holds 0 tokens.
// /readyz fails with a body that says why, an upload gets 503 with
// Retry-After (so the probe keeps its results) instead of a 401 that would
// make it set them aside, and restoring the file recovers both.
func TestZeroTokens(t *testing.T) {
	f := newFixture(t)
	path := filepath.Join(t.TempDir(), "tokens.json")
	if err := f.tokens.Save(path); err != nil {
		t.Fatal(err)
	}
	saved, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ready := func() (int, string) {
		code, _, body := request(t, http.MethodGet, f.srv.URL+fibrehttp.PathReadyz, "", "")
		return code, string(body)
	}
	if code, body := ready(); code != http.StatusOK {
		t.Fatalf("readyz with tokens = %d %s", code, body)
	}

	if err := os.WriteFile(path, []byte("[]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := f.tokens.Reload(path); err != nil {
		t.Fatal(err)
	}
	code, body := ready()
	var er fibrehttp.ErrorResponse
	if code != http.StatusServiceUnavailable || json.Unmarshal([]byte(body), &er) != nil || !strings.Contains(er.Error, "0 probe tokens loaded") {
		t.Errorf("readyz with 0 tokens = %d %s; want 503 saying 0 probe tokens loaded", code, body)
	}
	before := f.count(t)
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, f.srv.URL+fibrehttp.PathResults, strings.NewReader(batchJSON(t, good(time.Now()))))
	req.Header.Set("Authorization", "Bearer "+f.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Errorf("upload with 0 tokens = %d (Retry-After %q); want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	c := &wire.Client{BaseURL: f.srv.URL, Token: f.token}
	if _, err := c.PostResults(t.Context(), []fibremon.Result{good(time.Now())}); err == nil || wire.Permanent(err) {
		t.Errorf("the agent's client sees %v; want a transient error, so it keeps the batch", err)
	}
	if n := f.count(t); n != before {
		t.Errorf("%d results stored with 0 tokens", n-before)
	}

	// Only an admin token: still no probe can upload, still not ready.
	adminOnly := auth.NewTokens()
	adminOnly.IssueAdmin("ufficio-tecnico", time.Now())
	if err := adminOnly.Save(path); err != nil {
		t.Fatal(err)
	}
	if _, err := f.tokens.Reload(path); err != nil {
		t.Fatal(err)
	}
	if code, body := ready(); code != http.StatusServiceUnavailable || !strings.Contains(body, "1 admin") {
		t.Errorf("readyz with only an admin token = %d %s; want 503 naming the admin token", code, body)
	}

	if err := os.WriteFile(path, saved, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := f.tokens.Reload(path); err != nil {
		t.Fatal(err)
	}
	if code, body := ready(); code != http.StatusOK {
		t.Errorf("readyz after restoring the file = %d %s; want 200", code, body)
	}
	if code, er := f.post(t, f.token, batchJSON(t, good(time.Now()))); code != http.StatusOK {
		t.Errorf("upload after restoring the file = %d %+v; want 200", code, er)
	}
}
