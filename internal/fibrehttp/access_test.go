package fibrehttp_test

import (
	"encoding/json"
	"io/fs"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"testing/fstest"
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

// Callers of the access table, in the order of its status columns: no
// token, a probe of Ripalta Cremasca, the consortium's reader and admin, a
// reader of Crema, and the admins of Ripalta Cremasca and of Crema.
const (
	anon = iota
	probe
	reader
	admin
	readerCrema
	adminRipalta
	adminCrema
	nCallers
)

var callerNames = [nCallers]string{"no token", "probe token", "reader token", "admin token",
	"Crema's reader token", "Ripalta Cremasca's admin token", "Crema's admin token"}

// cremaSite is the one site of the fixture's Crema, added to its data for
// the tests (the embedded Crema has none), so that each comune has a probe
// of its own.
const cremaSite = "municipio-crema"

// twoComuni returns the data set of the access tests: Ripalta Cremasca as
// embedded, and Crema with one site.
func twoComuni(t testing.TB) *geo.Live {
	t.Helper()
	ripalta, err := geo.Load(data.FS, "ripalta-cremasca")
	if err != nil {
		t.Fatal(err)
	}
	fsys := fstest.MapFS{}
	files, _ := fs.Glob(data.FS, "crema/*")
	for _, f := range files {
		b, err := fs.ReadFile(data.FS, f)
		if err != nil {
			t.Fatal(err)
		}
		fsys[f] = &fstest.MapFile{Data: b}
	}
	header, _, _ := strings.Cut(string(mustRead(t, "ripalta-cremasca/sites.csv")), "\n")
	fsys["crema/sites.csv"] = &fstest.MapFile{Data: []byte(header + "\n" +
		cremaSite + ",Municipio di Crema (test),town_hall,,Piazza Duomo 25,9.6858,45.3641,approximate,100,FTTH,1000,300,500,150,20,true,true,none: test site,\n")}
	crema, err := geo.Load(fsys, "crema")
	if err != nil {
		t.Fatal(err)
	}
	live := new(geo.Live)
	live.Store(geo.MustSetOf(ripalta, crema))
	return live
}

func mustRead(t testing.TB, name string) []byte {
	t.Helper()
	b, err := fs.ReadFile(data.FS, name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// accessFixture is the real handler with every optional part wired (web
// page, ndt7, admin API, contract checks) over two comuni, Ripalta
// Cremasca and Crema, and results stored for the municipio of Ripalta
// Cremasca: a download that passed and a latency check that failed with an
// error text and a target.
type accessFixture struct {
	*fixture
	tracker    *status.Tracker
	checker    *contract.Checker
	tokens     [nCallers]string
	admin      *fileAdmin
	cremaProbe string // probe "p-crema", site cremaSite
}

func newAccessFixture(t *testing.T, access fibrehttp.Access) *accessFixture {
	t.Helper()
	live := twoComuni(t)
	sites := live.Load().Sites()
	var tracker *status.Tracker
	var checker *contract.Checker
	var adminOps *fileAdmin
	f := newFixture(t, func(d *fibrehttp.Deps, ts *auth.Tokens) {
		logger := slog.New(slog.DiscardHandler)
		d.Geo = live
		tracker = status.New(logger, prometheus.NewRegistry(), sites, d.Store.(status.Reader), status.Options{Stale: time.Hour})
		d.Status = tracker
		checker = contract.NewChecker(logger, prometheus.NewRegistry(), sites, d.Store.(contract.Reader), nil)
		d.Contract = checker
		adminOps = &fileAdmin{tokens: ts, path: filepath.Join(t.TempDir(), "tokens.json")}
		d.Admin = adminOps
		d.Web = web.Handler(web.Options{})
		ndt := ndt7.NewHandler(logger, ndt7.ServerOptions{})
		d.NDTDownload, d.NDTUpload = ndt.Download, ndt.Upload
		d.Access = access
	})
	now := time.Now()
	scoped := func(role, name, comune string) string {
		tok, _, err := f.tokens.IssueScoped(role, name, comune, now)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	cremaProbe, _, err := f.tokens.Issue("p-crema", []string{cremaSite}, now)
	if err != nil {
		t.Fatal(err)
	}
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
	cr := storetest.Result(cremaSite, fibremon.KindLatency, now.Add(-time.Minute), true)
	cr.Probe = "p-crema"
	if code, er := f.post(t, cremaProbe, batchJSON(t, cr)); code != http.StatusOK {
		t.Fatalf("post for Crema = %d %+v", code, er)
	}
	if err := tracker.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := checker.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	return &accessFixture{fixture: f, tracker: tracker, checker: checker, admin: adminOps, cremaProbe: cremaProbe, tokens: [nCallers]string{
		"", f.token, f.reader, f.admin,
		scoped(auth.RoleReader, "grafana-crema", "crema"),
		scoped(auth.RoleAdmin, "ufficio-tecnico-ripalta", "ripalta-cremasca"),
		scoped(auth.RoleAdmin, "ufficio-tecnico-crema", "crema"),
	}}
}

// do sends one request as caller and returns the status and body; every
// 4xx must carry a JSON error, and every 401 a WWW-Authenticate challenge.
// A POST carries a batch of results, or to the admin API's tokens a
// request for a token of the municipio of Ripalta Cremasca.
func (f *accessFixture) do(t *testing.T, caller int, method, path string) (int, []byte) {
	t.Helper()
	return f.doToken(t, f.tokens[caller], callerNames[caller], method, path)
}

func (f *accessFixture) doToken(t *testing.T, token, name, method, path string) (int, []byte) {
	t.Helper()
	body := ""
	switch {
	case method == http.MethodPost && strings.HasPrefix(path, fibrehttp.PathAdminTokens):
		body = `{"probe": "p-municipio-2", "sites": ["municipio"]}`
	case method == http.MethodPost && path == fibrehttp.PathResults:
		r := good(time.Now())
		body = batchJSON(t, r)
	}
	code, hdr, raw := request(t, method, f.srv.URL+path, token, body)
	if code >= 400 && code < 500 && !strings.HasPrefix(path, "/ndt/") && !strings.HasPrefix(path, "/static/") {
		var er fibrehttp.ErrorResponse
		if err := json.Unmarshal(raw, &er); err != nil || er.Error == "" {
			t.Errorf("%s %s as %s = %d with a body that is not a JSON error: %.200q", method, path, name, code, raw)
		}
	}
	if code == http.StatusUnauthorized && hdr.Get("WWW-Authenticate") == "" {
		t.Errorf("%s %s as %s = 401 without WWW-Authenticate", method, path, name)
	}
	return code, raw
}

// accessCase is one route and the status each caller gets.
type accessCase struct {
	method, pattern, path string
	want                  [nCallers]int
}

// defaultAccess is the table of the default configuration: every route of
// the service against every kind of caller. Columns: no token, probe
// (Ripalta Cremasca's municipio), reader, admin (the consortium's),
// Crema's reader, Ripalta Cremasca's admin, Crema's admin.
var defaultAccess = []accessCase{
	{"GET", "/healthz", "/healthz", [nCallers]int{200, 200, 200, 200, 200, 200, 200}},
	{"GET", "/readyz", "/readyz", [nCallers]int{200, 200, 200, 200, 200, 200, 200}},
	{"GET", "/metrics", "/metrics", [nCallers]int{200, 200, 200, 200, 200, 200, 200}},
	{"GET", "/", "/", [nCallers]int{200, 200, 200, 200, 200, 200, 200}},
	{"GET", "/static/*", "/static/app.js", [nCallers]int{200, 200, 200, 200, 200, 200, 200}},
	// A plain GET is no WebSocket upgrade: the same 400 for everyone.
	{"GET", "/ndt/v7/download", "/ndt/v7/download", [nCallers]int{400, 400, 400, 400, 400, 400, 400}},
	{"GET", "/ndt/v7/upload", "/ndt/v7/upload", [nCallers]int{400, 400, 400, 400, 400, 400, 400}},
	{"GET", "/api/v1/coverage.geojson", "/api/v1/coverage.geojson", [nCallers]int{200, 200, 200, 200, 200, 200, 200}},
	{"GET", "/api/v1/tiles/{layers}/{z}/{x}/{y}", "/api/v1/tiles/sites/14/8631/5872.mvt", [nCallers]int{200, 200, 200, 200, 200, 200, 200}},
	{"GET", "/api/v1/coverage", "/api/v1/coverage?address=Via+Roma+5&comune=ripalta-cremasca", [nCallers]int{200, 200, 200, 200, 200, 200, 200}},
	{"GET", "/api/v1/rollout", "/api/v1/rollout", [nCallers]int{200, 200, 200, 200, 200, 200, 200}},
	{"GET", "/api/v1/gaps", "/api/v1/gaps", [nCallers]int{200, 200, 200, 200, 200, 200, 200}},
	{"GET", "/api/v1/sites", "/api/v1/sites", [nCallers]int{200, 200, 200, 200, 200, 200, 200}},
	{"GET", "/api/v1/comuni", "/api/v1/comuni", [nCallers]int{200, 200, 200, 200, 200, 200, 200}},
	{"GET", "/api/v1/sites/{id}", "/api/v1/sites/municipio", [nCallers]int{200, 200, 200, 200, 200, 200, 200}},
	{"POST", "/api/v1/results", "/api/v1/results", [nCallers]int{401, 200, 403, 403, 403, 403, 403}},
	{"GET", "/api/v1/results", "/api/v1/results?site_id=municipio", [nCallers]int{401, 200, 200, 200, 403, 200, 403}},
	{"GET", "/api/v1/results", "/api/v1/results?site_id=valserio", [nCallers]int{401, 403, 200, 200, 403, 200, 403}},
	{"GET", "/api/v1/results", "/api/v1/results?site_id=" + cremaSite, [nCallers]int{401, 403, 200, 200, 200, 403, 200}},
	// Without site_id or comune, a comune's token reads its own comune's.
	{"GET", "/api/v1/results", "/api/v1/results", [nCallers]int{401, 403, 200, 200, 200, 200, 200}},
	{"GET", "/api/v1/results", "/api/v1/results?comune=crema", [nCallers]int{401, 403, 200, 200, 200, 403, 200}},
	{"GET", "/api/v1/results", "/api/v1/results?comune=ripalta-cremasca", [nCallers]int{401, 403, 200, 200, 403, 200, 403}},
	{"GET", "/api/v1/contracts", "/api/v1/contracts", [nCallers]int{401, 403, 200, 200, 200, 200, 200}},
	{"GET", "/api/v1/contracts", "/api/v1/contracts?comune=ripalta-cremasca", [nCallers]int{401, 403, 200, 200, 403, 200, 403}},
	{"GET", "/api/v1/sites/{id}/contract", "/api/v1/sites/municipio/contract", [nCallers]int{401, 403, 200, 200, 403, 200, 403}},
	{"GET", "/api/v1/sites/{id}/contract", "/api/v1/sites/" + cremaSite + "/contract", [nCallers]int{401, 403, 200, 200, 200, 403, 200}},
	{"GET", "/api/v1/admin/tokens", "/api/v1/admin/tokens", [nCallers]int{401, 403, 403, 200, 403, 200, 200}},
	// A token for the municipio of Ripalta Cremasca: its admins may issue it.
	{"POST", "/api/v1/admin/tokens", "/api/v1/admin/tokens", [nCallers]int{401, 403, 403, 201, 403, 201, 403}},
	// No probe of that name: an admin gets as far as 404.
	{"DELETE", "/api/v1/admin/tokens/{probe}", "/api/v1/admin/tokens/nobody", [nCallers]int{401, 403, 403, 404, 403, 404, 404}},
	// Another comune's probe: 403 (revocation within scope is in
	// TestAccessComuneAdmin; a ?sha256= that matches no token keeps the
	// table from revoking anything).
	{"DELETE", "/api/v1/admin/tokens/{probe}", "/api/v1/admin/tokens/p-crema?sha256=00000000", [nCallers]int{401, 403, 403, 404, 403, 404, 404}},
	{"POST", "/api/v1/admin/reload", "/api/v1/admin/reload", [nCallers]int{401, 403, 403, 200, 403, 200, 200}},
	{"POST", "/api/v1/admin/reload", "/api/v1/admin/reload?comune=crema", [nCallers]int{401, 403, 403, 200, 403, 403, 200}},
	{"POST", "/api/v1/admin/reload", "/api/v1/admin/reload?comune=ripalta-cremasca", [nCallers]int{401, 403, 403, 200, 403, 200, 403}},
	{"POST", "/api/v1/admin/reload", "/api/v1/admin/reload?comune=nowhere", [nCallers]int{401, 403, 403, 404, 403, 404, 404}},
}

// TestAccessTable: every route of the service × {no token, probe token,
// reader token, admin token, each of the consortium or of one comune} in
// the default configuration, through the real handler; and the table
// names every route the router has, so a new route cannot escape it.
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

	// A comune's token sees its own comune's sites in full, another's in
	// the public view, and an answer spanning both in the public view.
	for _, tc := range []struct {
		caller int
		path   string
		full   bool
	}{
		{adminRipalta, "/api/v1/sites/municipio", true},
		{adminCrema, "/api/v1/sites/municipio", false},
		{readerCrema, "/api/v1/sites/municipio", false},
		{readerCrema, "/api/v1/sites/" + cremaSite, true},
		{adminRipalta, "/api/v1/sites?comune=ripalta-cremasca", true},
		{adminRipalta, "/api/v1/sites", false},
		{admin, "/api/v1/sites", true},
		{adminRipalta, "/api/v1/coverage.geojson?layer=sites&comune=ripalta-cremasca", true},
		{adminRipalta, "/api/v1/coverage.geojson?layer=sites", false},
		{adminCrema, "/api/v1/coverage.geojson?layer=sites&comune=ripalta-cremasca", false},
	} {
		code, body := f.do(t, tc.caller, "GET", tc.path)
		full := strings.Contains(string(body), "contract_download")
		if code != http.StatusOK || full != tc.full {
			t.Errorf("GET %s as %s = %d, full view %v; want 200, full view %v: %.300s", tc.path, callerNames[tc.caller], code, full, tc.full, body)
		}
		if !tc.full && strings.Contains(string(body), "no route to host") {
			t.Errorf("GET %s as %s shows a raw result: %.300s", tc.path, callerNames[tc.caller], body)
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
		{"GET", "", "/api/v1/results?site_id=valserio", [nCallers]int{200, 200, 200, 200, 200, 200, 200}},
		{"GET", "", "/api/v1/results", [nCallers]int{200, 200, 200, 200, 200, 200, 200}},
		{"GET", "", "/api/v1/contracts", [nCallers]int{200, 200, 200, 200, 200, 200, 200}},
		{"GET", "", "/api/v1/contracts?comune=ripalta-cremasca", [nCallers]int{200, 200, 200, 200, 200, 200, 200}},
		{"GET", "", "/api/v1/sites/municipio/contract", [nCallers]int{200, 200, 200, 200, 200, 200, 200}},
		{"GET", "", "/metrics", [nCallers]int{200, 200, 200, 200, 200, 200, 200}},
		{"POST", "", "/api/v1/results", [nCallers]int{401, 200, 403, 403, 403, 403, 403}},
		{"GET", "", "/api/v1/admin/tokens", [nCallers]int{401, 403, 403, 200, 403, 200, 200}},
		{"POST", "", "/api/v1/admin/reload?comune=crema", [nCallers]int{401, 403, 403, 200, 403, 403, 200}},
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
		// A comune's token is refused too: the exposition carries every
		// comune's sites.
		want := [nCallers]int{401, 403, 200, 200, 403, 403, 403}
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

// TestAccessComuneAdmin: one comune's admin cannot touch another's. It
// lists only its comune's tokens, revokes only them (another comune's
// probe is a 403 and its token keeps working), issues tokens only for its
// comune's sites and under no other comune's probe names, reloads only its
// comune, and reads only its comune's results and contracts.
func TestAccessComuneAdmin(t *testing.T) {
	f := newAccessFixture(t, fibrehttp.Access{})
	listed := func(caller int) map[string]string {
		t.Helper()
		code, body := f.do(t, caller, "GET", fibrehttp.PathAdminTokens)
		var list fibrehttp.TokensResponse
		if err := json.Unmarshal(body, &list); code != http.StatusOK || err != nil {
			t.Fatalf("list as %s = %d %s", callerNames[caller], code, body)
		}
		out := map[string]string{}
		for _, ti := range list.Tokens {
			out[ti.Probe] = ti.Comune
		}
		return out
	}
	want := map[int]map[string]string{
		adminCrema: {"p-crema": "crema", "grafana-crema": "crema", "ufficio-tecnico-crema": "crema"},
		adminRipalta: {"p-municipio": "ripalta-cremasca", "p-valserio": "ripalta-cremasca",
			"ufficio-tecnico-ripalta": "ripalta-cremasca"},
		admin: {"p-crema": "crema", "grafana-crema": "crema", "ufficio-tecnico-crema": "crema",
			"p-municipio": "ripalta-cremasca", "p-valserio": "ripalta-cremasca", "ufficio-tecnico-ripalta": "ripalta-cremasca",
			"grafana": "", "ufficio-tecnico": ""},
	}
	for caller, w := range want {
		if got := listed(caller); !maps.Equal(got, w) {
			t.Errorf("tokens listed to %s: %v; want %v", callerNames[caller], got, w)
		}
	}

	// Revocation: another comune's probe, or a consortium token, is 403
	// and its token keeps working; its own is revoked at once.
	for _, tc := range []struct {
		caller int
		probe  string
		want   int
	}{
		{adminCrema, "p-valserio", 403},
		{adminRipalta, "p-crema", 403},
		{adminRipalta, "grafana", 403},
		{adminRipalta, "ufficio-tecnico", 403},
		{adminCrema, "ufficio-tecnico-ripalta", 403},
	} {
		code, body := f.do(t, tc.caller, "DELETE", fibrehttp.PathAdminTokens+"/"+tc.probe)
		var er fibrehttp.ErrorResponse
		json.Unmarshal(body, &er)
		if code != tc.want || er.Field != "probe" || !strings.Contains(er.Error, "scoped to comune") {
			t.Errorf("DELETE %s as %s = %d %s; want %d naming the scope", tc.probe, callerNames[tc.caller], code, body, tc.want)
		}
	}
	r := good(time.Now())
	r.SiteID, r.Probe = "valserio", "p-valserio"
	if code, er := f.post(t, f.token2, batchJSON(t, r)); code != http.StatusOK {
		t.Fatalf("p-valserio after Crema's admin tried to revoke it: %d %+v; want 200", code, er)
	}
	cr := storetest.Result(cremaSite, fibremon.KindLatency, time.Now().Add(-time.Second), true)
	cr.Probe = "p-crema"
	if code, er := f.post(t, f.cremaProbe, batchJSON(t, cr)); code != http.StatusOK {
		t.Fatalf("p-crema after Ripalta's admin tried to revoke it: %d %+v; want 200", code, er)
	}
	if code, body := f.do(t, adminCrema, "DELETE", fibrehttp.PathAdminTokens+"/p-crema"); code != http.StatusOK || !strings.Contains(string(body), `"revoked":1`) {
		t.Fatalf("Crema's admin revokes p-crema = %d %s", code, body)
	}
	cr = storetest.Result(cremaSite, fibremon.KindLatency, time.Now().Add(-time.Second), true)
	cr.Probe = "p-crema"
	if code, _ := f.post(t, f.cremaProbe, batchJSON(t, cr)); code != http.StatusUnauthorized {
		t.Fatalf("revoked p-crema posts: %d; want 401", code)
	}

	// Issuing probe tokens.
	issue := func(caller int, body string) (int, fibrehttp.IssuedToken, fibrehttp.ErrorResponse) {
		t.Helper()
		code, _, raw := request(t, http.MethodPost, f.srv.URL+fibrehttp.PathAdminTokens, f.tokens[caller], body)
		var it fibrehttp.IssuedToken
		var er fibrehttp.ErrorResponse
		if code == http.StatusCreated {
			json.Unmarshal(raw, &it)
		} else if err := json.Unmarshal(raw, &er); err != nil || er.Error == "" {
			t.Errorf("POST %s as %s = %d with a body that is not a JSON error: %s", body, callerNames[caller], code, raw)
		}
		return code, it, er
	}
	for _, tc := range []struct {
		caller     int
		body       string
		code       int
		field, msg string
	}{
		{adminCrema, `{"probe":"p-crema-2","sites":["municipio"]}`, 403, "sites[0]", "of comune ripalta-cremasca"},
		{adminCrema, `{"probe":"p-crema-2","sites":["` + cremaSite + `","valserio"]}`, 403, "sites[1]", "scoped to comune crema"},
		{adminRipalta, `{"probe":"p-2","sites":["` + cremaSite + `"]}`, 403, "sites[0]", "of comune crema"},
		{adminCrema, `{"probe":"p-municipio","sites":["` + cremaSite + `"]}`, 409, "probe", "outside comune crema"},
		{adminCrema, `{"probe":"p-crema-2","sites":["nowhere"]}`, 400, "sites[0]", "no site"},
		{adminCrema, `{"probe":"p-crema-2","sites":[]}`, 400, "sites", "at least one site"},
		{adminCrema, `{"probe":"P Crema","sites":["` + cremaSite + `"]}`, 400, "probe", "invalid probe name"},
		{adminCrema, `{"probe":"p-crema-2","sites":["` + cremaSite + `"],"role":"admin"}`, 400, "role", "unknown field"},
		{adminCrema, `{"probe":"p-crema-2","sites":"` + cremaSite + `"}`, 400, "sites", "want"},
		{adminCrema, `[]`, 400, "", ""},
		{adminCrema, `{"probe":"p-crema-2","sites":["` + cremaSite + `"]} {}`, 400, "", "after"},
	} {
		code, _, er := issue(tc.caller, tc.body)
		if code != tc.code || er.Field != tc.field || !strings.Contains(er.Error, tc.msg) {
			t.Errorf("POST %s as %s = %d %+v; want %d, field %q, saying %q", tc.body, callerNames[tc.caller], code, er, tc.code, tc.field, tc.msg)
		}
	}
	code, it, er := issue(adminCrema, `{"probe":"p-crema-2","sites":["`+cremaSite+`"]}`)
	if code != http.StatusCreated || !strings.HasPrefix(it.Token, auth.TokenPrefix) || it.Comune != "crema" || it.Role != "probe" || len(it.SHA256Prefix) != 12 {
		t.Fatalf("Crema's admin issues p-crema-2 = %d %+v %+v", code, it, er)
	}
	cr = storetest.Result(cremaSite, fibremon.KindLatency, time.Now().Add(-time.Second), true)
	cr.Probe = "p-crema-2"
	if code, er := f.post(t, it.Token, batchJSON(t, cr)); code != http.StatusOK {
		t.Fatalf("the issued token posts: %d %+v", code, er)
	}
	saved, err := auth.Load(f.admin.path)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(saved.Entries(), func(e auth.Entry) bool { return e.Probe == "p-crema-2" }) {
		t.Error("the issued token is not in the tokens file")
	}
	if got := listed(adminCrema); got["p-crema-2"] != "crema" || len(got) != 3 {
		t.Errorf("Crema's tokens after issuing p-crema-2 and revoking p-crema: %v", got)
	}
	if _, ok := listed(adminRipalta)["p-crema-2"]; ok {
		t.Error("Ripalta Cremasca's admin lists Crema's new probe")
	}
	// Bad media type: 415 before the body is read.
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, f.srv.URL+fibrehttp.PathAdminTokens, strings.NewReader(`{}`))
	req.Header.Set("Authorization", "Bearer "+f.tokens[adminCrema])
	req.Header.Set("Content-Type", "text/plain")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Errorf("POST with text/plain = %v %v; want 415", resp.StatusCode, err)
	} else {
		resp.Body.Close()
	}

	// Reload: a comune's admin reloads its own comune, with or without
	// ?comune=; the consortium's admin the whole data set or one comune.
	before := f.admin.reloads.Load()
	for _, tc := range []struct {
		caller int
		query  string
		code   int
		comune string
	}{
		{adminRipalta, "", 200, "ripalta-cremasca"},
		{adminCrema, "?comune=Crema", 200, "crema"},  // a name finds its comune
		{adminCrema, "?comune=019035", 200, "crema"}, // so does its ISTAT code
		{adminRipalta, "?comune=crema", 403, ""},
		{adminCrema, "?comune=crema&x=1", 400, ""},
		{admin, "", 200, ""},
		{admin, "?comune=ripalta-cremasca", 200, "ripalta-cremasca"},
	} {
		code, body := f.do(t, tc.caller, "POST", fibrehttp.PathAdminReload+tc.query)
		if code != tc.code {
			t.Errorf("reload%s as %s = %d %s; want %d", tc.query, callerNames[tc.caller], code, body, tc.code)
			continue
		}
		if code != http.StatusOK {
			continue
		}
		f.admin.mu.Lock()
		last := f.admin.comuni[len(f.admin.comuni)-1]
		f.admin.mu.Unlock()
		var rr fibrehttp.ReloadResponse
		json.Unmarshal(body, &rr)
		if last != tc.comune || rr.Comune != tc.comune {
			t.Errorf("reload%s as %s reloaded %q (answer %+v); want %q", tc.query, callerNames[tc.caller], last, rr, tc.comune)
		}
	}
	if got := f.admin.reloads.Load() - before; got != 5 {
		t.Errorf("%d reloads ran; want the 5 allowed", got)
	}

	// Reading: without parameters each comune's token reads its own
	// comune's results and contracts only.
	if err := f.checker.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		caller int
		sites  []string
	}{
		{adminRipalta, []string{"municipio", "valserio"}},
		{adminCrema, []string{cremaSite}},
		{readerCrema, []string{cremaSite}},
		{admin, []string{"municipio", "valserio", cremaSite}},
	} {
		_, body := f.do(t, tc.caller, "GET", fibrehttp.PathResults)
		var res struct{ Results []fibremon.Result }
		if err := json.Unmarshal(body, &res); err != nil || len(res.Results) == 0 {
			t.Fatalf("results as %s: %v %s", callerNames[tc.caller], err, body)
		}
		got := map[string]bool{}
		for i, r := range res.Results {
			got[r.SiteID] = true
			if i > 0 && r.Start.After(res.Results[i-1].Start) {
				t.Errorf("results as %s are not newest first", callerNames[tc.caller])
			}
		}
		if !maps.Equal(got, setOf(tc.sites)) {
			t.Errorf("results as %s are of sites %v; want %v", callerNames[tc.caller], slices.Sorted(maps.Keys(got)), tc.sites)
		}
		_, body = f.do(t, tc.caller, "GET", fibrehttp.PathContracts)
		var cs fibrehttp.ContractsResponse
		if err := json.Unmarshal(body, &cs); err != nil {
			t.Fatal(err)
		}
		for _, e := range cs.Contracts {
			if c, _ := f.siteComune(e.SiteID); !f.mayRead(tc.caller, c) {
				t.Errorf("contracts as %s list site %s of comune %s", callerNames[tc.caller], e.SiteID, c)
			}
		}
		if len(cs.Contracts) == 0 {
			t.Errorf("contracts as %s: none", callerNames[tc.caller])
		}
	}
	// site_id of a site of another comune in the named comune is a 400.
	if code, body := f.do(t, admin, "GET", fibrehttp.PathResults+"?comune=crema&site_id=municipio"); code != http.StatusBadRequest {
		t.Errorf("results of municipio in comune crema = %d %s; want 400", code, body)
	}
	// limit applies to the merged answer.
	_, body := f.do(t, adminRipalta, "GET", fibrehttp.PathResults+"?limit=1")
	var res struct{ Results []fibremon.Result }
	if json.Unmarshal(body, &res); len(res.Results) != 1 {
		t.Errorf("results?limit=1 as %s: %d results", callerNames[adminRipalta], len(res.Results))
	}
}

func setOf(ss []string) map[string]bool {
	m := map[string]bool{}
	for _, s := range ss {
		m[s] = true
	}
	return m
}

// siteComune is the comune of a site of the fixture's data set.
func (f *accessFixture) siteComune(id string) (string, bool) {
	if id == cremaSite {
		return "crema", true
	}
	return "ripalta-cremasca", id != ""
}

// mayRead reports whether caller may read comune's restricted data.
func (f *accessFixture) mayRead(caller int, comune string) bool {
	switch caller {
	case reader, admin:
		return true
	case readerCrema, adminCrema:
		return comune == "crema"
	case adminRipalta:
		return comune == "ripalta-cremasca"
	}
	return false
}
