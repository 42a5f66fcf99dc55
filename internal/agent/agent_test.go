package agent_test

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"fibremon"
	"fibremon/data"
	"fibremon/geo"
	"fibremon/internal/agent"
	"fibremon/internal/auth"
	"fibremon/internal/fibrehttp"
	"fibremon/internal/metrics"
	"fibremon/internal/sqlite"
	"fibremon/internal/status"
	"fibremon/internal/testing/linesim"
)

// service starts a real fibremon HTTP handler over a real SQLite store.
func service(t *testing.T) (url string, store *sqlite.Store, tokens *auth.Tokens) {
	t.Helper()
	store, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	tokens = auth.NewTokens()
	return replica(t, store, tokens), store, tokens
}

// replica starts another real fibremon HTTP handler on store and tokens,
// as a second replica of one service.
func replica(t *testing.T, store *sqlite.Store, tokens *auth.Tokens) (url string) {
	t.Helper()
	logger := slog.New(slog.DiscardHandler)
	reg := prometheus.NewRegistry()
	tr := status.New(logger, reg, nil, store, status.Options{})
	h := fibrehttp.NewHandler(fibrehttp.Deps{Logger: logger, Registry: reg, Metrics: metrics.Handler(prometheus.NewRegistry()),
		Store: store, Auth: tokens, Status: tr,
		Geo: mustGeo(t)})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

func testConfig(t *testing.T, url string) *agent.Config {
	t.Helper()
	host := strings.TrimPrefix(url, "http://")
	c := &agent.Config{
		Probe: "probe-test", SiteID: "municipio",
		Service: agent.DefaultService, Spool: agent.DefaultSpool,
		Measurements: []agent.MeasurementConfig{
			{Name: "http", Kind: fibremon.KindHTTP, Target: url + "/healthz", Interval: time.Second, Timeout: time.Second},
			{Name: "tcp", Kind: fibremon.KindTCP, Target: host, Interval: time.Second, Timeout: time.Second},
		},
	}
	c.Service.URL = url
	c.Service.Token = "set-below"
	c.Service.UploadInterval = 100 * time.Millisecond
	c.Service.Timeout = 2 * time.Second
	c.Spool.Dir = filepath.Join(t.TempDir(), "spool")
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestNothingLostAcrossOutage runs an agent behind an emulated line that
// drops for a few seconds: results measured during the outage wait in the
// spool and every result made reaches the store exactly once.
func TestNothingLostAcrossOutage(t *testing.T) {
	url, store, tokens := service(t)
	tok, _, err := tokens.Issue("probe-test", []string{"municipio"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	line := linesim.New(linesim.Profile{Name: "FWA", DownBytesPerSecond: fibremon.MbitPerSecond(100), UpBytesPerSecond: fibremon.MbitPerSecond(20), RTT: 20 * time.Millisecond})
	reg := prometheus.NewRegistry()
	a, err := agent.New(testConfig(t, url), agent.Options{Registry: reg, Dial: line.DialContext, Token: tok, Splay: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()

	// Each phase lasts until the agent has done what it is there for,
	// however slowly a loaded machine runs it.
	measured := func(outcome string) float64 {
		return counterOrZero(t, reg, "http", outcome) + counterOrZero(t, reg, "tcp", outcome)
	}
	waitUntil(t, "results before the outage", func() bool { return measured("up") >= 2 })
	line.SetDown(true)
	waitUntil(t, "failed checks spooled during the outage", func() bool { return measured("down") >= 2 && a.Spool().Results > 0 })
	line.SetDown(false)
	after := measured("up")
	waitUntil(t, "results after the outage", func() bool { return measured("up") >= after+2 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// drain what is left, as the next run would
	fctx, fcancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer fcancel()
	if err := a.Flush(fctx); err != nil {
		t.Fatalf("final flush: %v", err)
	}

	made := 0.0
	for _, name := range []string{"http", "tcp"} {
		for _, outcome := range []string{"up", "down"} {
			made += counterValue(t, reg, name, outcome)
		}
	}
	stored, err := store.Results(t.Context(), fibremon.Query{SiteID: "municipio"})
	if err != nil {
		t.Fatal(err)
	}
	down := 0
	ids := map[string]bool{}
	for _, r := range stored {
		if ids[r.ID] {
			t.Errorf("result %s stored twice", r.ID)
		}
		ids[r.ID] = true
		if !r.Up {
			down++
		}
	}
	if float64(len(stored)) != made {
		t.Fatalf("%d results stored; the agent made %v", len(stored), made)
	}
	if down == 0 {
		t.Errorf("no failed check stored from the outage")
	}
	if s := a.Spool(); s.Results != 0 || s.Dropped != 0 {
		t.Errorf("spool after flush: %+v", s)
	}
	t.Logf("%d results made and stored, %d of them failures during the outage", len(stored), down)
}

// waitUntil polls cond until it holds, failing the test after a minute:
// a bound far above what the phases take, so that only an agent that
// never gets there reaches it.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within a minute", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// counterOrZero is counterValue, or 0 while the agent has not counted
// that measurement and outcome yet.
func counterOrZero(t *testing.T, g prometheus.Gatherer, measurement, outcome string) float64 {
	t.Helper()
	v, _ := counter(t, g, measurement, outcome)
	return v
}

// counterValue reads fibreprobe_measurements_total{measurement,outcome}.
func counterValue(t *testing.T, g prometheus.Gatherer, measurement, outcome string) float64 {
	t.Helper()
	v, ok := counter(t, g, measurement, outcome)
	if !ok {
		t.Fatalf("no fibreprobe_measurements_total{measurement=%q,outcome=%q}", measurement, outcome)
	}
	return v
}

func counter(t *testing.T, g prometheus.Gatherer, measurement, outcome string) (float64, bool) {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "fibreprobe_measurements_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["measurement"] == measurement && labels["outcome"] == outcome {
				return m.GetCounter().GetValue(), true
			}
		}
	}
	return 0, false
}

// mustGeo loads the embedded Ripalta Cremasca data set.
func mustGeo(t *testing.T) *geo.Live {
	t.Helper()
	c, err := geo.Load(data.FS, "ripalta-cremasca")
	if err != nil {
		t.Fatal(err)
	}
	live := new(geo.Live)
	live.Store(geo.MustSetOf(c))
	return live
}
