package agent_test

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"fibremon"
	"fibremon/internal/agent"
	"fibremon/internal/sqlite"
)

// TestUploadOnlyAcknowledgedBatchesLeaveTheSpool puts a batch of 12 results
// in the spool and flushes it towards answers that are not the service's
// acknowledgement of that batch: a redirect (which Go would follow with a
// GET that the service answers 200), an HTML page, a wrong count, a proxy's
// 404, and the real service refusing the token (401) or the site (403).
// Each time the batch must stay in the spool, not in dead/, and the upload
// must be counted under its outcome; then, once the URL and the token are
// right, the same spool delivers all 12 exactly once.
func TestUploadOnlyAcknowledgedBatchesLeaveTheSpool(t *testing.T) {
	url, store, tokens := service(t)
	good, _, err := tokens.Issue("probe-test", []string{"municipio"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	other, _, err := tokens.Issue("probe-test", []string{"scuola-primaria"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	redirect := func(code int) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, url+r.URL.Path, code)
		}
	}
	cases := []struct {
		name    string
		answer  http.HandlerFunc // nil: the real service
		token   string
		outcome string
	}{
		{"301 to the service", redirect(http.StatusMovedPermanently), good, "misdirected"},
		{"302 to the service", redirect(http.StatusFound), good, "misdirected"},
		{"307 to the service", redirect(http.StatusTemporaryRedirect), good, "misdirected"},
		{"200 text/html", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			io.WriteString(w, "<html><body>Welcome</body></html>")
		}, good, "misdirected"},
		{"200 JSON that is no acknowledgement", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"status":"ok"}`)
		}, good, "misdirected"},
		{"200 acknowledgement of 1 of 12", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"stored":1,"duplicates":0}`)
		}, good, "misdirected"},
		{"404 page of a proxy", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, "<h1>Not Found</h1>")
		}, good, "misdirected"},
		{"401 unknown token", nil, "fmp_not-a-token", "unauthorized"},
		{"403 token of other sites", nil, other, "unauthorized"},
	}

	cfg := testConfig(t, url)
	a, err := agent.New(cfg, agent.Options{Registry: prometheus.NewRegistry(), Token: good})
	if err != nil {
		t.Fatal(err)
	}
	batch := make([]fibremon.Result, 12)
	for i := range batch {
		batch[i] = fibremon.Result{ID: uuid.Must(uuid.NewV7()).String(), SiteID: "municipio", Probe: "probe-test",
			Kind: fibremon.KindTCP, Method: "tcp-connect", Target: "example.org:443",
			Start: time.Now().Add(-time.Duration(i) * time.Minute).UTC(), DurationSeconds: 0.01, Up: true}
	}
	if err := a.Enqueue(batch); err != nil {
		t.Fatal(err)
	}
	a.Close() // each case opens the spool in an agent of its own

	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			target := url
			if tt.answer != nil {
				front := httptest.NewServer(tt.answer)
				defer front.Close()
				target = front.URL
			}
			freg := prometheus.NewRegistry()
			fa, err := agent.New(withService(cfg, target), agent.Options{Registry: freg, Token: tt.token})
			if err != nil {
				t.Fatal(err)
			}
			before := uploads(t, freg)
			err = fa.Flush(t.Context())
			st := fa.Spool()
			after := uploads(t, freg)
			fa.Close()
			if err == nil {
				t.Fatalf("Flush = nil; want an error")
			}
			t.Logf("Flush: %v", err)
			if st.Results != 12 || st.Dead != 0 {
				t.Errorf("spool after Flush = %+v; want the 12 results still queued, none dead", st)
			}
			if got := after[tt.outcome] - before[tt.outcome]; got != 1 {
				t.Errorf("uploads{outcome=%q} went up by %v; want 1 (all: %v)", tt.outcome, got, after)
			}
			if n := len(storedIDs(t, store)); n != 0 {
				t.Errorf("%d results stored; want none", n)
			}
		})
	}

	// Fixed: the same spool delivers every result once.
	a, err = agent.New(cfg, agent.Options{Registry: prometheus.NewRegistry(), Token: good})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if err := a.Flush(t.Context()); err != nil {
		t.Fatalf("Flush with the right URL and token = %v", err)
	}
	ids := storedIDs(t, store)
	for _, r := range batch {
		if ids[r.ID] != 1 {
			t.Errorf("result %s stored %d times; want 1", r.ID, ids[r.ID])
		}
	}
	if st := a.Spool(); st.Results != 0 {
		t.Errorf("spool after the good Flush = %+v; want empty", st)
	}
}

// withService returns a copy of cfg whose uploads go to url.
func withService(cfg *agent.Config, url string) *agent.Config {
	c := *cfg
	c.Service.URL = url
	return &c
}

// uploads reads fibreprobe_upload_batches_total by outcome.
func uploads(t *testing.T, g prometheus.Gatherer) map[string]float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() == "fibreprobe_upload_batches_total" {
			for _, m := range mf.GetMetric() {
				out[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
			}
		}
	}
	return out
}

// storedIDs counts the stored results by ID.
func storedIDs(t *testing.T, store *sqlite.Store) map[string]int {
	t.Helper()
	rs, err := store.Results(t.Context(), fibremon.Query{SiteID: "municipio", Since: time.Now().Add(-time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]int{}
	for _, r := range rs {
		ids[r.ID]++
	}
	return ids
}

// TestUploadFailover: with several service URLs a batch that fails on one
// (nothing listens; a front that loses the acknowledgement after the
// service stored the batch) goes at once to the next, which then stays in
// use; each result is stored once, and every POST is counted. When all
// fail, the batch stays spooled.
func TestUploadFailover(t *testing.T) {
	url, store, tokens := service(t)
	second := replica(t, store, tokens)
	token, _, err := tokens.Issue("probe-test", []string{"municipio"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close()
	// lossy passes the POST to the first replica and answers 502: the
	// batch is stored, the probe is not told.
	lossy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, _ := http.NewRequestWithContext(r.Context(), r.Method, url+r.URL.Path, r.Body)
		req.Header = r.Header.Clone()
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
		w.WriteHeader(http.StatusBadGateway)
	}))
	defer lossy.Close()

	cfg := testConfig(t, url)
	cfg.Service.URL, cfg.Service.URLs = "", []string{dead, lossy.URL, second}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	a, err := agent.New(cfg, agent.Options{Registry: reg, Token: token})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	mk := func(n int) []fibremon.Result {
		rs := make([]fibremon.Result, n)
		for i := range rs {
			rs[i] = fibremon.Result{ID: uuid.Must(uuid.NewV7()).String(), SiteID: "municipio", Probe: "probe-test",
				Kind: fibremon.KindTCP, Method: "tcp-connect", Target: "example.org:443",
				Start: time.Now().Add(-time.Duration(i) * time.Second).UTC(), DurationSeconds: 0.01, Up: true}
		}
		return rs
	}
	first := mk(10)
	if err := a.Enqueue(first); err != nil {
		t.Fatal(err)
	}
	if err := a.Flush(t.Context()); err != nil {
		t.Fatalf("Flush = %v; want the batch acknowledged by the third URL", err)
	}
	if got := a.ServiceURL(); got != second {
		t.Errorf("URL in use %s; want %s", got, second)
	}
	if got := uploads(t, reg); got["failed"] != 2 || got["ok"] != 1 {
		t.Errorf("uploads %v; want 2 failed (dead, lossy) and 1 ok", got)
	}
	// The URL that worked stays in use: no more failures.
	if err := a.Enqueue(mk(5)); err != nil {
		t.Fatal(err)
	}
	if err := a.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := uploads(t, reg); got["failed"] != 2 || got["ok"] != 2 {
		t.Errorf("uploads %v; want still 2 failed, now 2 ok", got)
	}
	ids := storedIDs(t, store)
	if len(ids) != 15 {
		t.Errorf("%d results stored; want 15", len(ids))
	}
	for _, r := range first {
		if ids[r.ID] != 1 {
			t.Errorf("result %s stored %d times; want 1 (it reached two replicas)", r.ID, ids[r.ID])
		}
	}
	// Every URL failing: the batch stays spooled, the error is returned.
	cfg.Service.URLs = []string{dead, lossy.URL}
	cfg.Spool.Dir = filepath.Join(t.TempDir(), "spool")
	b, err := agent.New(cfg, agent.Options{Registry: prometheus.NewRegistry(), Token: token})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.Enqueue(mk(3)); err != nil {
		t.Fatal(err)
	}
	if err := b.Flush(t.Context()); err == nil {
		t.Fatal("Flush with every URL failing = nil; want an error")
	}
	if st := b.Spool(); st.Results != 3 {
		t.Errorf("spool %+v; want the 3 results still queued", st)
	}
}
