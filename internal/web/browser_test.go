package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"

	"fibremon"
	"fibremon/data"
	"fibremon/geo"
	"fibremon/internal/auth"
	"fibremon/internal/fibrehttp"
	"fibremon/internal/metrics"
	"fibremon/internal/sqlite"
	"fibremon/internal/status"
	"fibremon/internal/testing/storetest"
	"fibremon/internal/web"
	"fibremon/internal/wire"

	"github.com/paulmach/orb"
)

const chromiumPath = "/usr/bin/chromium"

var (
	embeddedOnce sync.Once
	embeddedSet  *geo.Set
	embeddedErr  error
)

// embedded returns the full embedded data set, the 48 comuni of the
// Cremasco, loaded once.
func embedded(t *testing.T) *geo.Set {
	t.Helper()
	embeddedOnce.Do(func() { embeddedSet, embeddedErr = geo.LoadSet(data.FS, ".", geo.LoadOptions{}) })
	if embeddedErr != nil {
		t.Fatal(embeddedErr)
	}
	return embeddedSet
}

// startService runs the real fibremon HTTP stack in-process, wired as
// cmd/fibremon's newService wires it (the full embedded data set, 48
// comuni with their civic registers, SQLite store in a temp file, status
// tracker, fibrehttp handler with the page as its Web handler, so / and
// /static/ reach web.Handler through the service's own routes). It posts
// results for a few sites so that they have a state, and returns the base
// URL, the set and Ripalta Cremasca, the comune with the sites.
func startService(t *testing.T) *service {
	t.Helper()
	set := embedded(t)
	rip, err := set.Comune("ripalta-cremasca")
	if err != nil {
		t.Fatal(err)
	}
	comune := rip.Comune()
	store, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "fibremon.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	logger := slog.New(slog.DiscardHandler)
	reg := metrics.NewRegistry("fibremon", "test")
	tracker := status.New(logger, reg, set.Sites(), store, status.Options{Stale: 5 * time.Minute})
	tokens := auth.NewTokens()
	var live geo.Live
	live.Store(set)
	api := fibrehttp.NewHandler(fibrehttp.Deps{
		Logger:     logger,
		Registry:   reg,
		Metrics:    metrics.Handler(reg),
		Store:      store,
		Auth:       tokens,
		Status:     tracker,
		Geo:        &live,
		Web:        web.Handler(web.Options{}),
		Middleware: fibrehttp.NewHTTPMetrics(reg, "fibremon").Middleware,
	})
	requests := &requestLog{}
	srv := httptest.NewServer(requests.wrap(api))

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { // Liveness: ends when the cleanup cancels ctx.
		defer close(done)
		tracker.Run(ctx, time.Second)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		srv.Close()
	})

	svc := &service{URL: srv.URL, Set: set, Comune: comune, API: api, tokens: tokens, tracker: tracker, requests: requests}

	// Results, posted by each site's probe with its own token: municipio is
	// up with speeds, the agriturismo's line is down, a school was last
	// heard 10 minutes ago (silent); the other sites stay unknown.
	post := func(site string, rs ...fibremon.Result) { svc.post(t, site, rs...) }
	post("municipio",
		result("municipio", fibremon.KindDownload, 90*time.Second, true, map[string]float64{fibremon.DownloadBytesPerSecond: 117.5e6}),
		result("municipio", fibremon.KindUpload, 80*time.Second, true, map[string]float64{fibremon.UploadBytesPerSecond: 36.2e6}),
		result("municipio", fibremon.KindLatency, 30*time.Second, true, map[string]float64{fibremon.AvgRTTSeconds: 0.0042, fibremon.LossRatio: 0}),
		result("municipio", fibremon.KindHTTP, 20*time.Second, true, nil),
	)
	post("agriturismo-la-torre",
		result("agriturismo-la-torre", fibremon.KindDownload, 10*time.Minute, true, map[string]float64{fibremon.DownloadBytesPerSecond: 11.9e6}),
		result("agriturismo-la-torre", fibremon.KindHTTP, 15*time.Second, false, nil),
		result("agriturismo-la-torre", fibremon.KindTCP, 14*time.Second, false, nil),
	)
	post("scuola-primaria-pascoli",
		result("scuola-primaria-pascoli", fibremon.KindHTTP, 10*time.Minute, true, nil),
	)
	svc.waitStates(t, map[string]fibremon.State{
		"municipio": fibremon.StateUp, "agriturismo-la-torre": fibremon.StateDown, "scuola-primaria-pascoli": fibremon.StateSilent,
	})
	return svc
}

// service is the running service of a browser test.
type service struct {
	URL     string
	Set     *geo.Set
	Comune  *geo.Comune  // Ripalta Cremasca
	API     http.Handler // the service's whole router
	tokens  *auth.Tokens
	tracker *status.Tracker
	// requests are those the browser made.
	requests *requestLog
}

// requestLog records the browser's requests (by its User-Agent; the
// test's own Go client is left out) with the status each got.
type requestLog struct {
	mu   sync.Mutex
	reqs []string // "METHOD path status", with " authorization" when one was sent
	// urls are the same requests' paths with their queries, and the
	// bytes of each answer's body.
	urls  []string
	sizes []int
}

func (l *requestLog) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.Contains(r.UserAgent(), "Chrome") {
			h.ServeHTTP(w, r)
			return
		}
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		h.ServeHTTP(sw, r)
		entry := fmt.Sprintf("%s %s %d", r.Method, r.URL.Path, sw.code)
		if r.Header.Get("Authorization") != "" {
			entry += " authorization"
		}
		l.mu.Lock()
		l.reqs = append(l.reqs, entry)
		l.urls = append(l.urls, r.URL.RequestURI())
		l.sizes = append(l.sizes, sw.bytes)
		l.mu.Unlock()
	})
}

// checkPublic fails t unless the page asked only for what anyone may read
// (SPEC.md, "Who may read what"), sent no credentials and was never
// refused for want of them: the public page works without a token.
func (l *requestLog) checkPublic(t *testing.T) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	public := map[string]bool{fibrehttp.PathCoverage: true, fibrehttp.PathCoverageLookup: true, fibrehttp.PathComuni: true, fibrehttp.PathRollout: true}
	api := 0
	for _, e := range l.reqs {
		f := strings.Fields(e)
		path, code := f[1], f[2]
		if strings.HasPrefix(path, "/api/") {
			api++
			if !public[path] {
				t.Errorf("the page requested %s, which needs a token", e)
			}
		}
		if len(f) > 3 || code == "401" || code == "403" {
			t.Errorf("the page sent or was asked for credentials: %s", e)
		}
	}
	if api == 0 {
		t.Errorf("no API request from the browser recorded; requests: %q", l.reqs)
	}
}

type statusWriter struct {
	http.ResponseWriter
	code  int
	bytes int
}

func (w *statusWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	n, err := w.ResponseWriter.Write(b)
	w.bytes += n
	return n, err
}

// post sends results of site through the API with a token of its own.
func (s *service) post(t *testing.T, site string, rs ...fibremon.Result) {
	t.Helper()
	probe := fmt.Sprintf("probe-%s-%d", site, len(s.tokens.Entries())) // a new probe each time
	tok, _, err := s.tokens.Issue(probe, []string{site}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for i := range rs {
		rs[i].Probe = probe
	}
	c := &wire.Client{BaseURL: s.URL, Token: tok}
	if _, err := c.PostResults(t.Context(), rs); err != nil {
		t.Fatalf("posting results of %s: %v", site, err)
	}
}

// pageWait bounds the waits of this test for the page and the tracker:
// far above what they take, so that a loaded machine does not fail them.
const pageWait = 30 * time.Second

// waitStates waits until the status tracker has taken the posted results in.
func (s *service) waitStates(t *testing.T, want map[string]fibremon.State) {
	t.Helper()
	deadline := time.Now().Add(pageWait)
	for {
		states := map[string]fibremon.State{}
		for _, st := range s.tracker.Statuses() {
			states[st.ID] = st.State
		}
		ok := true
		for id, w := range want {
			ok = ok && states[id] == w
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("site states %v; want %v", states, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// result is a result of site measured ago, with values (nil: the defaults
// of storetest.Result).
func result(site string, kind fibremon.Kind, ago time.Duration, up bool, values map[string]float64) fibremon.Result {
	r := storetest.Result(site, kind, time.Now().Add(-ago), up)
	if values != nil {
		r.Values = values
	}
	return r
}

// lockedBuffer collects the browser's output for the failure message.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
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

// consoleLog records the page's console messages: errors and uncaught
// exceptions fail the test; network errors (a layer or the coverage API
// answering 4xx) are expected and only logged.
type consoleLog struct {
	mu       sync.Mutex
	errors   []string
	messages []string
}

func (c *consoleLog) add(m chromedp.ConsoleMessage) {
	c.mu.Lock()
	defer c.mu.Unlock()
	line := fmt.Sprintf("%s [%s] %s (%s:%d)", m.Type, m.Source, m.Text, m.URL, m.Line+1)
	c.messages = append(c.messages, line)
	if m.IsException() || (m.Type == chromedp.ConsoleError && m.Source != "network") {
		c.errors = append(c.errors, line)
	}
}

func (c *consoleLog) check(t *testing.T, when string) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range c.errors {
		t.Errorf("%s: browser console error: %s", when, e)
	}
	c.errors = nil
}

func (c *consoleLog) dump(t *testing.T) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range c.messages {
		t.Logf("console: %s", m)
	}
}

// newBrowser starts headless Chromium and returns a tab's context. The
// browser is closed and its process waited for when the test ends.
func newBrowser(t *testing.T) (context.Context, *consoleLog) {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("the browser test needs Chromium at %s (%v): apt-get install chromium", chromiumPath, err)
	}
	var out lockedBuffer
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
		chromedp.CombinedOutput(&out),
	)
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		if err := chromedp.Cancel(ctx); err != nil {
			t.Logf("closing the browser: %v", err)
		}
		cancelTab()
		cancelAlloc() // kills the process if still alive, and waits for it
		if t.Failed() {
			t.Logf("browser output:\n%s", out.String())
		}
	})
	logs := &consoleLog{}
	logs.watch(ctx) // starts the browser and the tab
	return ctx, logs
}

// watch records the console messages of the tab of ctx.
func (c *consoleLog) watch(ctx context.Context) {
	messages := chromedp.Console(ctx)
	go func() { // Liveness: ends when the tab's context is cancelled.
		for m, err := range messages {
			if err != nil {
				return
			}
			c.add(m)
		}
	}()
}

func run[T any](t *testing.T, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

func do(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// waitFor polls a JavaScript expression until it is true.
func waitFor(t *testing.T, ctx context.Context, what, expr string) {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(pageWait), chromedp.WithPollingInterval(50*time.Millisecond))); err != nil {
		t.Fatalf("waiting for %s (%s): %v", what, expr, err)
	}
}

func screenshotDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("FIBREMON_SCREENSHOT_DIR")
	if dir == "" {
		return t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func saveScreenshot(t *testing.T, ctx context.Context, dir, name string, full bool) {
	t.Helper()
	var png []byte
	if full {
		png = run(t, ctx, "full screenshot", chromedp.FullScreenshot(100)) // quality 100: PNG
	} else {
		png = run(t, ctx, "screenshot", chromedp.CaptureScreenshot())
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", p, len(png))
}

// mapState is what the page drew, read from the DOM.
type mapState struct {
	ComunePaths  int               `json:"comunePaths"`
	ComuneDLen   int               `json:"comuneDLen"`
	ComuneWidth  float64           `json:"comuneWidth"`
	ComuneHeight float64           `json:"comuneHeight"`
	Sites        int               `json:"sites"`
	SiteStates   map[string]string `json:"siteStates"`
	SiteFills    map[string]string `json:"siteFills"`
	HamletLabels []string          `json:"hamletLabels"`
	LayerStatus  map[string]string `json:"layerStatus"`
	BadgeVisible bool              `json:"badgeVisible"`
	Attribution  string            `json:"attribution"`
	ViewBox      []float64         `json:"viewBox"`
	Lang         string            `json:"lang"`
	Title        string            `json:"title"`
	Placeholder  string            `json:"placeholder"`
	Legend       string            `json:"legend"`
	SiteTitle    string            `json:"siteTitle"`
	ScrollWidth  float64           `json:"scrollWidth"`
	InnerWidth   float64           `json:"innerWidth"`
}

const readMap = `(() => {
  const svg = document.querySelector('#map svg');
  const comune = svg.querySelector('g[data-layer="comune"] path');
  const r = comune ? comune.getBoundingClientRect() : {width: 0, height: 0};
  const states = {}, fills = {};
  svg.querySelectorAll('g[data-layer="sites"] .site').forEach(s => {
    states[s.dataset.siteId] = s.dataset.state;
    fills[s.dataset.siteId] = s.querySelector('rect').getAttribute('fill');
  });
  const status = {};
  svg.querySelectorAll('g[data-layer]').forEach(g => { status[g.dataset.layer] = g.dataset.status || ''; });
  const mun = svg.querySelector('[data-site-id="municipio"] > title');
  return {
    comunePaths: svg.querySelectorAll('g[data-layer="comune"] path').length,
    comuneDLen: comune ? comune.getAttribute('d').length : 0,
    comuneWidth: r.width, comuneHeight: r.height,
    sites: svg.querySelectorAll('g[data-layer="sites"] .site').length,
    siteStates: states, siteFills: fills,
    hamletLabels: [...svg.querySelectorAll('g[data-layer="hamlet-labels"] .hamlet-label text')].map(t => t.textContent),
    layerStatus: status,
    badgeVisible: !document.querySelector('#synthetic-badge').hidden &&
      getComputedStyle(document.querySelector('#synthetic-badge')).display !== 'none',
    attribution: document.querySelector('#boundary-attribution').textContent,
    viewBox: svg.getAttribute('viewBox').split(' ').map(Number),
    lang: document.documentElement.lang,
    title: document.querySelector('h1').textContent,
    placeholder: document.querySelector('#search-input').placeholder,
    legend: document.querySelector('#legend').textContent,
    siteTitle: mun ? mun.textContent : '',
    scrollWidth: document.documentElement.scrollWidth,
    innerWidth: window.innerWidth,
  };
})()`

func readState(t *testing.T, ctx context.Context) mapState {
	t.Helper()
	return run(t, ctx, "reading the map", chromedp.Evaluate[mapState](readMap))
}

// center returns the centre of the first element matching sel, in CSS
// pixels of the viewport.
func center(t *testing.T, ctx context.Context, sel string) (float64, float64) {
	t.Helper()
	xy := run(t, ctx, "locating "+sel, chromedp.Evaluate[[]float64](fmt.Sprintf(
		`(() => { const r = document.querySelector(%q).getBoundingClientRect(); return [r.left + r.width / 2, r.top + r.height / 2]; })()`, sel)))
	if len(xy) != 2 {
		t.Fatalf("locating %s: %v", sel, xy)
	}
	return xy[0], xy[1]
}

func evalString(t *testing.T, ctx context.Context, expr string) string {
	t.Helper()
	return run(t, ctx, expr, chromedp.Evaluate[string](expr))
}

// TestBrowser loads the page from the real service in headless Chromium
// and drives it like a visitor: the consortium's map, Ripalta Cremasca
// opened from it, its layers, tooltips, pan and zoom, the language switch,
// a map click, and the address search.
func TestBrowser(t *testing.T) {
	svc := startService(t)
	base, comune := svc.URL, svc.Comune
	ctx, logs := newBrowser(t)
	shots := screenshotDir(t)
	defer logs.dump(t)

	// The page opens on the consortium; Enter on Ripalta Cremasca's
	// boundary opens it.
	do(t, ctx, "loading the page", chromedp.EmulateViewport(1280, 900), chromedp.Navigate(base+"/"))
	waitFor(t, ctx, "the consortium's map", `document.querySelector('#map').dataset.ready === 'true' && document.querySelector('#map').dataset.scope === '' &&
		document.querySelectorAll('#map svg g[data-layer="comune"] .comune.member').length === 48`)
	// A headless tab has no window focus: emulate it, or focus events do not fire.
	if _, err := chromedp.Call(ctx, emulation.SetFocusEmulationEnabled, emulation.SetFocusEmulationEnabledParams{Enabled: true}); err != nil {
		t.Fatal(err)
	}
	do(t, ctx, "Enter on Ripalta Cremasca",
		chromedp.Focus(chromedp.CSS(`#map svg g[data-comune="ripalta-cremasca"]`)),
		chromedp.KeyEvent("\r"))
	waitFor(t, ctx, "the map", `document.querySelector('#map').dataset.ready === 'true' && document.querySelector('#map').dataset.scope === 'ripalta-cremasca' &&
		document.querySelector('#map svg g[data-layer="comune"] path') !== null &&
		document.querySelectorAll('#map svg g[data-layer="sites"] .site').length >= 1`)
	if u := evalString(t, ctx, `location.search`); u != "?comune=ripalta-cremasca" {
		t.Errorf("the page's URL has %q; want ?comune=ripalta-cremasca", u)
	}

	st := readState(t, ctx)
	if st.ComunePaths != 1 || st.ComuneDLen < 500 {
		t.Errorf("comune layer: %d paths, d of %d bytes; want 1 path with the boundary", st.ComunePaths, st.ComuneDLen)
	}
	if st.ComuneWidth < 400 || st.ComuneHeight < 150 {
		t.Errorf("comune drawn %.0f×%.0f px; want it to fill the map", st.ComuneWidth, st.ComuneHeight)
	}
	if st.Sites != len(comune.Sites) {
		t.Errorf("%d site markers; want %d", st.Sites, len(comune.Sites))
	}
	for site, want := range map[string]string{
		"municipio": "up", "agriturismo-la-torre": "down", "scuola-primaria-pascoli": "silent", "valserio": "unknown",
	} {
		if st.SiteStates[site] != want || st.SiteFills[site] != geo.MarkerColor(fibremon.State(want)) {
			t.Errorf("site %s: state %q, fill %q; want %q, %q", site, st.SiteStates[site], st.SiteFills[site], want, geo.MarkerColor(fibremon.State(want)))
		}
	}
	if len(st.HamletLabels) != len(comune.Hamlets) || !strings.Contains(strings.Join(st.HamletLabels, "|"), "Zappello (posizione stimata, ±1,2 km)") {
		t.Errorf("hamlet labels %q; want %d with Zappello's estimated label", st.HamletLabels, len(comune.Hamlets))
	}
	if st.LayerStatus["comune"] != "ok" || st.LayerStatus["hamlets"] != "ok" || st.LayerStatus["sites"] != "ok" {
		t.Errorf("layer status %v; want comune, hamlets and sites ok", st.LayerStatus)
	}
	t.Logf("layers: %v", st.LayerStatus)
	// Every point of the service's addresses and sites layers is drawn:
	// the civics asked by area and zoom, for the whole comune each of its
	// 1,034 civics.
	for _, layer := range []string{"addresses", "sites"} {
		src := evalString(t, ctx, fmt.Sprintf(`document.querySelector('#map svg g[data-layer=%q]').dataset.src`, layer))
		if !strings.Contains(src, "comune=ripalta-cremasca") || (layer == "addresses" && (!strings.Contains(src, "&bbox=") || !strings.Contains(src, "&zoom="))) {
			t.Errorf("layer %s fetched from %q", layer, src)
		}
		want := countPoints(t, base+"/"+src, layer)
		got := run(t, ctx, "count", chromedp.Evaluate[int](fmt.Sprintf(`document.querySelectorAll('#map svg g[data-layer=%q] .pt').length`, layer)))
		if got != want || (layer == "addresses" && got != len(comune.Addresses)) {
			t.Errorf("layer %s: %d markers drawn; the service has %d points (the comune %d civics)", layer, got, want, len(comune.Addresses))
		}
	}
	if !st.BadgeVisible {
		t.Errorf("the 'dati sintetici' badge is hidden, but synthetic sites are shown")
	}
	if st.Attribution != web.DefaultBoundaryAttribution {
		t.Errorf("attribution %q; want %q", st.Attribution, web.DefaultBoundaryAttribution)
	}
	if st.Lang != "it" || st.Title != "fibremon — Ripalta Cremasca: copertura in fibra" || st.Placeholder != "Il tuo indirizzo (es. Via Roma 5)" {
		t.Errorf("page in %q: title %q, placeholder %q; want Italian", st.Lang, st.Title, st.Placeholder)
	}
	if !strings.Contains(st.SiteTitle, "Municipio di Ripalta Cremasca") || !strings.Contains(st.SiteTitle, "funzionante") {
		t.Errorf("municipio marker <title> %q; want its name and state", st.SiteTitle)
	}
	logs.check(t, "after loading")

	// Tooltip on keyboard focus and on mouse hover.
	do(t, ctx, "focusing a site", chromedp.Focus(chromedp.CSS(`[data-site-id="municipio"]`)))
	tip := evalString(t, ctx, `document.querySelector('#tooltip').hidden ? '' : document.querySelector('#tooltip').textContent`)
	for _, want := range []string{"Municipio di Ripalta Cremasca", "funzionante", "FTTH", "↓ 940 / ↑ 290 Mbit/s", "4,2 ms"} {
		if !strings.Contains(tip, want) {
			t.Errorf("tooltip of the focused municipio %q lacks %q", tip, want)
		}
	}
	// Contract figures need a read token; the public map has none.
	if strings.Contains(tip, "1000/300") {
		t.Errorf("tooltip of the focused municipio %q shows the contract's 1000/300 Mbit/s to the public", tip)
	}
	x, y := center(t, ctx, `[data-site-id="agriturismo-la-torre"] rect`)
	do(t, ctx, "hovering a site", chromedp.MouseEvent(chromedp.MouseMoved, x, y))
	waitFor(t, ctx, "the hover tooltip", `!document.querySelector('#tooltip').hidden && document.querySelector('#tooltip').textContent.includes('La Torre')`)
	if tip := evalString(t, ctx, `document.querySelector('#tooltip').textContent`); !strings.Contains(tip, "guasta") {
		t.Errorf("tooltip of the hovered agriturismo %q lacks its state 'guasta'", tip)
	}

	// Layer toggles: the group is hidden and shown again. The badge
	// follows the synthetic features shown: it goes when every layer with
	// one is off, and comes back with them.
	layerDisplay := `getComputedStyle(document.querySelector('#map svg g[data-layer="sites"]')).display`
	do(t, ctx, "switching the sites layer off", chromedp.Click(chromedp.CSS("#layer-sites")))
	if d := evalString(t, ctx, layerDisplay); d != "none" {
		t.Errorf("sites layer unchecked: display %q; want none", d)
	}
	synthLayers := run(t, ctx, "layers with synthetic features", chromedp.Evaluate[[]string](`[...new Set([...document.querySelectorAll('#map svg [data-fid]')]
		.filter(e => e.querySelector(':scope > title') && e.closest('g[data-layer]') && e.closest('g[data-layer]').dataset.layer !== 'sites')
		.map(e => e.closest('g[data-layer]').dataset.layer))]`))
	t.Logf("other drawn layers: %v", synthLayers)
	for _, name := range []string{"addresses", "white-areas"} {
		do(t, ctx, "switching "+name+" off", chromedp.Click(chromedp.CSS("#layer-"+name)))
	}
	if readState(t, ctx).BadgeVisible {
		t.Errorf("synthetic badge still visible with sites, addresses and white areas off")
	}
	for _, name := range []string{"sites", "addresses", "white-areas"} {
		do(t, ctx, "switching "+name+" on", chromedp.Click(chromedp.CSS("#layer-"+name)))
	}
	if d := evalString(t, ctx, layerDisplay); d == "none" {
		t.Errorf("sites layer checked again: still hidden")
	}
	if !readState(t, ctx).BadgeVisible {
		t.Errorf("synthetic badge hidden with the layers back on")
	}

	// Zoom with the button and the wheel, pan by dragging: the viewBox
	// changes, and a drag is not taken for a click on the map.
	vb0 := readState(t, ctx).ViewBox
	do(t, ctx, "zooming in", chromedp.Click(chromedp.CSS("#zoom-in")))
	vb1 := readState(t, ctx).ViewBox
	if r := vb0[2] / vb1[2]; math.Abs(r-1.6) > 0.01 {
		t.Errorf("zoom in: viewBox width %.0f → %.0f (×%.2f); want ×1.6", vb0[2], vb1[2], r)
	}
	mx, my := center(t, ctx, "#map svg")
	do(t, ctx, "wheel", chromedp.MouseEvent(chromedp.MouseWheel, mx, my, func(p *input.DispatchMouseEventParams) { p.DeltaX, p.DeltaY = 0.01, 200 }))
	waitFor(t, ctx, "the wheel zoom", fmt.Sprintf(`Number(document.querySelector('#map svg').getAttribute('viewBox').split(' ')[2]) > %f`, vb1[2]*1.2))
	vb2 := readState(t, ctx).ViewBox
	left := func(p *input.DispatchMouseEventParams) { p.Button = input.MouseButtonLeft; p.Buttons = 1 }
	do(t, ctx, "dragging the map",
		chromedp.MouseEvent(chromedp.MousePressed, mx, my, left, chromedp.ClickCount(1)),
		chromedp.MouseEvent(chromedp.MouseMoved, mx+40, my+10, left),
		chromedp.MouseEvent(chromedp.MouseMoved, mx+120, my+30, left),
		chromedp.MouseEvent(chromedp.MouseReleased, mx+120, my+30, left, chromedp.ClickCount(1)),
	)
	vb3 := readState(t, ctx).ViewBox
	scale := vb2[2] / run(t, ctx, "svg width", chromedp.Evaluate[float64](`document.querySelector('#map svg').getBoundingClientRect().width`))
	if math.Abs((vb2[0]-vb3[0])-120*scale) > 2*scale || math.Abs((vb2[1]-vb3[1])-30*scale) > 2*scale {
		t.Errorf("drag by (120, 30) px moved the viewBox from %v to %v; want by (%.0f, %.0f) m", vb2, vb3, 120*scale, 30*scale)
	}
	if s := evalString(t, ctx, `document.querySelector('#answer').dataset.state`); s != "empty" {
		t.Errorf("after a drag the answer panel is %q; a drag must not query the map", s)
	}
	do(t, ctx, "resetting the view", chromedp.Click(chromedp.CSS("#zoom-reset")))
	if vb := readState(t, ctx).ViewBox; math.Abs(vb[2]-vb0[2]) > 1 || math.Abs(vb[0]-vb0[0]) > 1 {
		t.Errorf("reset view: viewBox %v; want %v", vb, vb0)
	}
	do(t, ctx, "moving the mouse away", chromedp.MouseEvent(chromedp.MouseMoved, 5, 5))
	logs.check(t, "after the map interactions")

	saveScreenshot(t, ctx, shots, "fibremon-map.png", false)

	// The language switch.
	do(t, ctx, "switching to English", chromedp.Click(chromedp.CSS("#lang-toggle")))
	en := readState(t, ctx)
	if en.Lang != "en" || en.Title != "fibremon — Ripalta Cremasca: fibre coverage" || en.Placeholder != "Your address (e.g. Via Roma 5)" {
		t.Errorf("after the switch: lang %q, title %q, placeholder %q; want English", en.Lang, en.Title, en.Placeholder)
	}
	if !strings.Contains(en.Legend, "Monitored lines, by state") || !strings.Contains(en.SiteTitle, "State: up") {
		t.Errorf("after the switch the legend %q or the marker title %q is not in English", en.Legend, en.SiteTitle)
	}
	if !strings.Contains(strings.Join(en.HamletLabels, "|"), "Zappello (estimated position, ±1.2 km)") {
		t.Errorf("after the switch the hamlet labels %q do not say Zappello's position is estimated, in English", en.HamletLabels)
	}
	if got := evalString(t, ctx, `document.querySelector('#lang-toggle').textContent`); got != "Italiano" {
		t.Errorf("language button reads %q in English; want Italiano", got)
	}
	do(t, ctx, "switching back to Italian", chromedp.Click(chromedp.CSS("#lang-toggle")))
	if it := readState(t, ctx); it.Lang != "it" || !strings.Contains(it.Legend, "Linee monitorate, per stato") {
		t.Errorf("after switching back: lang %q, legend %q; want Italian", it.Lang, it.Legend)
	}

	// Readable at 360 px: nothing wider than the screen.
	do(t, ctx, "a phone-sized viewport", chromedp.EmulateViewport(360, 780, chromedp.EmulateScale(2)))
	waitFor(t, ctx, "the narrow layout", `window.innerWidth === 360`)
	if m := readState(t, ctx); m.ScrollWidth > m.InnerWidth {
		t.Errorf("at 360 px the page is %.0f px wide", m.ScrollWidth)
	}
	saveScreenshot(t, ctx, shots, "fibremon-mobile.png", true)
	do(t, ctx, "the desktop viewport", chromedp.EmulateViewport(1280, 900))
	waitFor(t, ctx, "the wide layout", `window.innerWidth === 1280`)

	// A click on the map asks the coverage of that point. Until the
	// service has /api/v1/coverage the panel shows its error.
	mx, my = center(t, ctx, "#map svg")
	do(t, ctx, "clicking the map", chromedp.MouseClickXY(mx, my))
	waitFor(t, ctx, "the answer to the map click", `['answer', 'error'].includes(document.querySelector('#answer').dataset.state)`)
	q, err := url.ParseQuery(evalString(t, ctx, `document.querySelector('#answer').dataset.query`))
	if err != nil {
		t.Fatal(err)
	}
	lat, lon := parseFloat(q.Get("lat")), parseFloat(q.Get("lon"))
	bb := comune.Boundary.Bound()
	if lat < bb.Min.Lat() || lat > bb.Max.Lat() || lon < bb.Min.Lon() || lon > bb.Max.Lon() {
		t.Errorf("map click asked lat=%v lon=%v; want a point of the comune's bbox %v", lat, lon, bb)
	}
	if v := evalString(t, ctx, `document.querySelector('#answer-verdict').textContent`); v == "" {
		t.Errorf("map click: empty verdict")
	}
	t.Logf("map click: %s → %s", q.Encode(), evalString(t, ctx, `document.querySelector('#answer-verdict').textContent`))

	// Enter on a focused marker asks the coverage of its point (once the
	// layers of the view, moved to show the answer, are in).
	waitFor(t, ctx, "the layers of the view", `document.querySelector('#map').dataset.area === 'idle'`)
	do(t, ctx, "Enter on the municipio marker",
		chromedp.Focus(chromedp.CSS(`[data-site-id="municipio"]`)),
		chromedp.KeyEvent("\r"))
	var mun fibremon.Site
	for _, s := range comune.Sites {
		if s.ID == "municipio" {
			mun = s
		}
	}
	want := fmt.Sprintf("lat=%.6f&lon=%.6f", mun.Lat, mun.Lon)
	waitFor(t, ctx, "the answer for the municipio's point", fmt.Sprintf(`(() => {
		const a = document.querySelector('#answer');
		return a.dataset.query === %q && ['answer', 'error'].includes(a.dataset.state);
	})()`, want))
	logs.check(t, "after the map click")

	// The sites layer refreshes (every 30 s, and when the tab becomes
	// visible again): a site that starts reporting turns green.
	const newcomer = "impresa-artigiana-san-michele"
	if st := readState(t, ctx).SiteStates[newcomer]; st != "unknown" {
		t.Fatalf("%s is %q before it reports; want unknown", newcomer, st)
	}
	svc.post(t, newcomer, result(newcomer, fibremon.KindHTTP, time.Second, true, nil))
	svc.waitStates(t, map[string]fibremon.State{newcomer: fibremon.StateUp})
	do(t, ctx, "the tab becoming visible", chromedp.Evaluate[chromedp.Void](`document.dispatchEvent(new Event('visibilitychange'))`))
	waitFor(t, ctx, "the refreshed sites layer", fmt.Sprintf(`document.querySelector('[data-site-id=%q]').dataset.state === 'up'`, newcomer))

	t.Run("address search", func(t *testing.T) {
		do(t, ctx, "searching Via Roma 5",
			clearSearch,
			chromedp.SendKeys(chromedp.CSS("#search-input"), "Via Roma 5"),
			chromedp.Click(chromedp.CSS("#search-button")),
		)
		waitFor(t, ctx, "the verdict", `(() => {
			const v = document.querySelector('#answer-verdict').textContent;
			return document.querySelector('#answer').dataset.state === 'answer' && v.includes('FTTH') &&
				(v.includes('Ripalta Nuova') || v.includes('Via Roma 5'));
		})()`)
		if n := run(t, ctx, "highlight", chromedp.Evaluate[int](`document.querySelectorAll('#map svg g[data-layer="highlight"] [data-highlight="address"]').length`)); n != 1 {
			t.Errorf("%d highlighted addresses on the map; want 1", n)
		}
		saveScreenshot(t, ctx, shots, "fibremon-answer.png", false)
		logs.check(t, "after the address search")
	})

	t.Run("answers", func(t *testing.T) { testAnswers(t, ctx, logs, shots, svc) })
	t.Run("layers the service lacks", func(t *testing.T) { testMissingLayers(t, ctx, logs, base) })
	t.Run("background tiles", func(t *testing.T) { testTiles(t, ctx, logs, svc) })
	svc.requests.checkPublic(t)
}

// testTiles serves the page with a tile URL template pointing at a tile
// server of another origin, in front of the same service (the mux of a
// deployment that mounts the page itself), and checks that tiles are
// requested, drawn under the layers, allowed by the page's CSP, credited,
// and switched off by their checkbox.
func testTiles(t *testing.T, ctx context.Context, logs *consoleLog, svc *service) {
	var img bytes.Buffer
	tile := image.NewRGBA(image.Rect(0, 0, 256, 256))
	draw.Draw(tile, tile.Bounds(), &image.Uniform{color.RGBA{0xd8, 0xe8, 0xd0, 0xff}}, image.Point{}, draw.Src)
	if err := png.Encode(&img, tile); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	requested := map[string]bool{}
	tiles := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		requested[r.URL.Path] = true
		mu.Unlock()
		w.Header().Set("Content-Type", "image/png")
		w.Write(img.Bytes())
	}))
	defer tiles.Close()
	page := web.Handler(web.Options{TileURL: tiles.URL + "/{z}/{x}/{y}.png", Attribution: "© Test tiles <contributors>"})
	mux := http.NewServeMux()
	mux.Handle("/{$}", page)
	mux.Handle("/static/", page)
	mux.Handle("/", svc.API)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	tab, cancel := chromedp.NewContext(ctx)
	defer cancel()
	logs.watch(tab)
	do(t, tab, "loading the page with tiles", chromedp.EmulateViewport(1280, 900), chromedp.Navigate(srv.URL+"/"))
	waitFor(t, tab, "drawn tiles", `document.querySelector('#map').dataset.ready === 'true' &&
		document.querySelectorAll('#map svg g[data-layer="tiles"] image').length > 0`)
	// Wait until the browser has fetched them, so that a CSP refusal shows.
	waitFor(t, tab, "loaded tiles", `performance.getEntriesByType('resource').some(e => e.name.endsWith('.png'))`)
	n := run(t, tab, "tiles", chromedp.Evaluate[int](`document.querySelectorAll('#map svg g[data-layer="tiles"] image').length`))
	mu.Lock()
	got := len(requested)
	var some string
	for p := range requested {
		some = p
	}
	mu.Unlock()
	if got == 0 {
		t.Errorf("%d tiles drawn, none requested from the tile server", n)
	}
	t.Logf("%d tiles drawn, %d requested (e.g. %s)", n, got, some)
	if a := evalString(t, tab, `(() => { const a = document.querySelector('#tile-attribution'); return a.hidden ? '' : a.textContent; })()`); a != "© Test tiles <contributors>" {
		t.Errorf("tile attribution %q", a)
	}
	do(t, tab, "switching the tiles off", chromedp.Click(chromedp.CSS("#layer-tiles")))
	waitFor(t, tab, "no tiles", `document.querySelectorAll('#map svg g[data-layer="tiles"] image').length === 0`)
	logs.check(t, "with tiles")
}

// answerRequests fulfils the tab's requests that match pattern (a Fetch
// domain URL pattern) with respond, until the returned stop is called.
func answerRequests(t *testing.T, ctx context.Context, respond func(url string) (int, []byte), patterns ...string) (stop func()) {
	t.Helper()
	ictx, cancel := context.WithCancel(ctx)
	paused := chromedp.Events(ictx, fetch.RequestPaused)
	var wg sync.WaitGroup
	wg.Go(func() { // Liveness: ends when stop cancels ictx.
		for ev, err := range paused {
			if err != nil {
				return
			}
			code, body := respond(ev.Request.URL)
			_, err := chromedp.Call(ictx, fetch.FulfillRequest, fetch.FulfillRequestParams{
				RequestID:       ev.RequestID,
				ResponseCode:    int64(code),
				ResponseHeaders: []*fetch.HeaderEntry{{Name: "Content-Type", Value: "application/json"}},
				Body:            body,
			})
			if err != nil && ictx.Err() == nil {
				t.Errorf("answering %s: %v", ev.Request.URL, err)
			}
		}
	})
	var ps []*fetch.RequestPattern
	for _, p := range patterns {
		ps = append(ps, &fetch.RequestPattern{URLPattern: p})
	}
	if _, err := chromedp.Call(ctx, fetch.Enable, fetch.EnableParams{Patterns: ps}); err != nil {
		cancel()
		t.Fatalf("fetch.Enable: %v", err)
	}
	return func() {
		if _, err := chromedp.Call(ctx, fetch.Disable, cdp.Empty{}); err != nil && ctx.Err() == nil {
			t.Errorf("fetch.Disable: %v", err)
		}
		cancel()
		wg.Wait()
	}
}

// testMissingLayers opens the page of Ripalta Cremasca
// (?comune=ripalta-cremasca) in a new tab of the browser while three layers
// fail: the page draws the rest, falls back to the layer-less collection
// on a 400, and says which layers are not available. It also opens the
// page in English with ?lang=en.
func testMissingLayers(t *testing.T, ctx context.Context, logs *consoleLog, base string) {
	tab, cancel := chromedp.NewContext(ctx)
	defer cancel()
	logs.watch(tab)
	stop := answerRequests(t, tab, func(u string) (int, []byte) {
		switch {
		case strings.Contains(u, "layer=hamlets&"):
			return 400, []byte(`{"error":"unknown layer","field":"layer"}`)
		case strings.Contains(u, "layer=white-areas&"):
			return 404, []byte(`{"error":"no such endpoint"}`)
		}
		return 500, []byte(`{"error":"internal error"}`)
	}, `*/coverage.geojson\?layer=hamlets&*`, `*/coverage.geojson\?layer=white-areas&*`, `*/coverage.geojson\?layer=addresses&*`)
	defer stop()

	do(t, tab, "loading the page", chromedp.EmulateViewport(1280, 900), chromedp.Navigate(base+"/?comune=ripalta-cremasca&lang=en"))
	waitFor(t, tab, "the map", `document.querySelector('#map').dataset.ready === 'true'`)
	st := readState(t, tab)
	want := map[string]string{"comune": "ok", "hamlets": "ok", "sites": "ok", "addresses": "unavailable", "white-areas": "unavailable"}
	for layer, w := range want {
		if st.LayerStatus[layer] != w {
			t.Errorf("layer %s: %q; want %q", layer, st.LayerStatus[layer], w)
		}
	}
	if st.ComunePaths != 1 || st.Sites == 0 || len(st.HamletLabels) == 0 {
		t.Errorf("with three layers failing the map has %d comune paths, %d sites, hamlet labels %q", st.ComunePaths, st.Sites, st.HamletLabels)
	}
	if n := run(t, tab, "hamlet zones", chromedp.Evaluate[int](`document.querySelectorAll('#map svg .hamlet-zone').length`)); n != 0 {
		t.Errorf("%d hamlet zones drawn from the fallback collection, which has none", n)
	}
	notes := run(t, tab, "layer notes", chromedp.Evaluate[[]string](`['addresses', 'white-areas', 'sites'].map(n =>
		(document.querySelector('#layer-' + n).disabled ? 'disabled ' : 'enabled ') + document.querySelector('[data-note-for="' + n + '"]').textContent)`))
	if strings.Join(notes, "|") != "disabled (not available)|disabled (not available)|enabled " {
		t.Errorf("layer checkboxes and notes %q", notes)
	}
	if st.Lang != "en" || st.Title != "fibremon — Ripalta Cremasca: fibre coverage" {
		t.Errorf("?lang=en: lang %q, title %q", st.Lang, st.Title)
	}
	logs.check(t, "with layers missing")
}

// clearSearch empties the search box. (SetValue with "" does not: its
// empty argument reaches the page as undefined.)
var clearSearch = chromedp.Evaluate[chromedp.Void](`document.querySelector('#search-input').value = ''`)

// countPoints counts the Point features of layer in the GeoJSON at url
// (none if the service does not have the layer).
func countPoints(t *testing.T, url, layer string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return 0
	}
	var fc struct {
		Features []struct {
			Geometry   struct{ Type string }
			Properties map[string]any
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&fc); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	n := 0
	for _, f := range fc.Features {
		if f.Geometry.Type == "Point" && f.Properties["layer"] == layer {
			n++
		}
	}
	return n
}

func parseFloat(s string) float64 {
	var f float64
	if _, err := fmt.Sscan(s, &f); err != nil {
		return math.NaN()
	}
	return f
}

// testAnswers searches the real service for each kind of answer — an
// exact civic, an FWA civic, an ambiguous street and one of its
// candidates, a point outside the comune, an unknown address, an empty
// search — and checks what the panel and the map show, in both languages.
func testAnswers(t *testing.T, ctx context.Context, logs *consoleLog, shots string, svc *service) {
	var fwa *geo.Address
	for i := range svc.Comune.Addresses {
		if a := &svc.Comune.Addresses[i]; a.Technology == fibremon.FWA && a.State == fibremon.RolloutActive {
			fwa = a
			break
		}
	}
	if fwa == nil {
		t.Fatal("the register has no active FWA civic")
	}
	search := func(t *testing.T, q string) {
		t.Helper()
		do(t, ctx, "searching "+q,
			clearSearch,
			chromedp.SendKeys(chromedp.CSS("#search-input"), q),
			chromedp.Click(chromedp.CSS("#search-button")),
		)
		waitFor(t, ctx, "the answer to "+q, fmt.Sprintf(`(() => {
			const a = document.querySelector('#answer');
			return ['answer', 'error'].includes(a.dataset.state) && new URLSearchParams(a.dataset.query).get('address') === %q;
		})()`, q))
	}
	panel := func(t *testing.T) (verdict, body string) {
		t.Helper()
		v := run(t, ctx, "reading the answer", chromedp.Evaluate[[]string](`[document.querySelector('#answer-verdict').textContent, document.querySelector('#answer-body').textContent]`))
		return v[0], v[1]
	}
	contains := func(t *testing.T, what, got string, wants ...string) {
		t.Helper()
		for _, w := range wants {
			if !strings.Contains(got, w) {
				t.Errorf("%s %q lacks %q", what, got, w)
			}
		}
	}

	t.Run("exact FTTH, abbreviated", func(t *testing.T) {
		search(t, "v. roma, 5")
		v, b := panel(t)
		contains(t, "verdict", v, "Coperto in fibra FTTH fino a 1000/300 Mbit/s", "Via Roma 5, Ripalta Nuova")
		contains(t, "answer", b, "VHCN", "Municipio di Ripalta Cremasca", "download 940 Mbit/s, upload 290 Mbit/s", "Dati sintetici")
		if n := run(t, ctx, "highlight", chromedp.Evaluate[int](`document.querySelectorAll('#map svg g[data-layer="highlight"] [data-highlight="address"]').length`)); n != 1 {
			t.Errorf("%d highlighted addresses; want 1", n)
		}
		do(t, ctx, "switching to English", chromedp.Click(chromedp.CSS("#lang-toggle")))
		v, b = panel(t)
		contains(t, "English verdict", v, "Covered by FTTH up to 1000/300 Mbit/s")
		contains(t, "English answer", b, "VHCN", "Synthetic data")
		do(t, ctx, "switching to Italian", chromedp.Click(chromedp.CSS("#lang-toggle")))
	})
	t.Run("FWA civic", func(t *testing.T) {
		search(t, fwa.Label())
		v, b := panel(t)
		contains(t, "verdict", v, "Coperto in FWA", fmt.Sprintf("fino a %.0f/%.0f Mbit/s", fwa.MaxDownMbps, fwa.MaxUpMbps), fwa.Label())
		contains(t, "answer", b, "NGA", "Dati sintetici")
		saveScreenshot(t, ctx, shots, "fibremon-answer-fwa.png", false)
	})
	t.Run("ambiguous, then a candidate", func(t *testing.T) {
		search(t, "Via Roma")
		v, _ := panel(t)
		contains(t, "verdict", v, "Più indirizzi corrispondono a «Via Roma»")
		labels := run(t, ctx, "candidates", chromedp.Evaluate[[]string](`[...document.querySelectorAll('#answer button.candidate')].map(b => b.textContent)`))
		if len(labels) < 2 || !strings.HasPrefix(labels[0], "Via Roma ") {
			t.Fatalf("candidate buttons %q", labels)
		}
		do(t, ctx, "choosing a candidate", chromedp.Click(chromedp.CSS(`#answer button.candidate[data-index="0"]`)))
		waitFor(t, ctx, "the candidate's answer", `document.querySelector('#answer').dataset.match === 'nearest'`)
		v, _ = panel(t)
		label, _, _ := strings.Cut(labels[0], ",")
		contains(t, "verdict", v, "Coperto", label)
	})
	t.Run("outside", func(t *testing.T) {
		// Around Ripalta Cremasca lie the other comuni of the data set: on
		// the consortium's map, a point where no comune is drawn lies
		// outside them all, and a click there asks a point outside.
		do(t, ctx, "back to the consortium", chromedp.Click(chromedp.CSS("#back-consortium")))
		waitFor(t, ctx, "the consortium's map", `document.querySelector('#map').dataset.ready === 'true' && document.querySelector('#map').dataset.scope === ''`)
		free := run(t, ctx, "a point outside every comune", chromedp.Evaluate[[]float64](`(() => {
			const svg = document.querySelector('#map svg'), r = svg.getBoundingClientRect();
			const empty = (x, y) => { const e = document.elementFromPoint(x, y); return e === svg || (e && e.closest('g[data-layer="tiles"]')); };
			for (let j = 2; j < 30; j++) for (let i = 2; i < 30; i++) {
				const x = r.left + r.width * i / 32, y = r.top + r.height * j / 32;
				let ok = true;
				for (const dx of [-10, 0, 10]) for (const dy of [-10, 0, 10]) ok = ok && empty(x + dx, y + dy);
				if (ok) return [x, y];
			}
			return [];
		})()`))
		if len(free) != 2 {
			t.Fatal("no point of the consortium's map is free of comuni")
		}
		do(t, ctx, "clicking outside the comuni", chromedp.MouseClickXY(free[0], free[1]))
		waitFor(t, ctx, "the outside answer", `document.querySelector('#answer').dataset.match === 'outside'`)
		v, b := panel(t)
		contains(t, "verdict", v, "Fuori dall'area monitorata")
		if strings.Contains(b, "Dati sintetici") {
			t.Errorf("synthetic warning on an answer with no civic: %q", b)
		}
		q, err := url.ParseQuery(evalString(t, ctx, `document.querySelector('#answer').dataset.query`))
		if err != nil {
			t.Fatal(err)
		}
		if ix, in := svc.Set.At(orb.Point{parseFloat(q.Get("lon")), parseFloat(q.Get("lat"))}); in {
			t.Errorf("the click asked %v, inside %s", q, ix.Comune().Name)
		}
		if u := evalString(t, ctx, `location.search`); !strings.Contains(u, "lat=") || strings.Contains(u, "comune=") {
			t.Errorf("the page's URL %q; want the point, no comune", u)
		}
	})
	t.Run("not found", func(t *testing.T) {
		search(t, "Via Nessuna 99")
		v, _ := panel(t)
		contains(t, "verdict", v, "Indirizzo non trovato")
		if s := evalString(t, ctx, `document.querySelector('#answer').dataset.state`); s != "error" {
			t.Errorf("answer state %q; want error", s)
		}
	})
	t.Run("empty search", func(t *testing.T) {
		do(t, ctx, "an empty search", clearSearch, chromedp.Click(chromedp.CSS("#search-button")))
		v, _ := panel(t)
		contains(t, "verdict", v, "Scrivi un indirizzo")
	})
	logs.check(t, "after the answers")
}
