package influx_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"fibremon"
	"fibremon/geo"
	"fibremon/internal/auth"
	"fibremon/internal/fibrehttp"
	"fibremon/internal/status"
	"fibremon/internal/testing/influxtest"
	"fibremon/internal/wire"
)

const (
	benchBatch = 500 // results per POST or write
	benchSites = 10
	benchProbe = "probe-bench"
)

// benchBatches makes n batches of distinct, valid results of one probe
// over benchSites sites and every kind, newest last, within the last day.
func benchBatches(n int) [][]fibremon.Result {
	total := n * benchBatch
	step := 24 * time.Hour / time.Duration(total+1)
	start := time.Now().UTC().Add(-24 * time.Hour)
	out := make([][]fibremon.Result, n)
	for b := range out {
		out[b] = make([]fibremon.Result, benchBatch)
		for i := range out[b] {
			k := b*benchBatch + i
			kind := fibremon.Kinds[k%len(fibremon.Kinds)]
			r := fibremon.Result{
				ID: uuid.NewString(), SiteID: fmt.Sprintf("site-%d", k%benchSites), Probe: benchProbe,
				Kind: kind, Method: "bench", Target: "127.0.0.1:1",
				Start: start.Add(time.Duration(k) * step), DurationSeconds: 1.5, Up: k%17 != 0,
				Values: map[string]float64{},
			}
			switch kind {
			case fibremon.KindDownload:
				r.Values[fibremon.DownloadBytesPerSecond] = 12.5e6 + float64(k)
				r.Values[fibremon.TransferredBytes] = 125e6
			case fibremon.KindUpload:
				r.Values[fibremon.UploadBytesPerSecond] = 2.5e6 + float64(k)
				r.Values[fibremon.TransferredBytes] = 25e6
			case fibremon.KindLatency:
				r.Values[fibremon.MinRTTSeconds] = 0.004
				r.Values[fibremon.AvgRTTSeconds] = 0.005
				r.Values[fibremon.LossRatio] = 0
			case fibremon.KindHTTP:
				r.Values[fibremon.HTTPStatusCode] = 200
			}
			if !r.Up {
				r.Values, r.Error = nil, "connect: connection refused"
			}
			out[b][i] = r
		}
	}
	return out
}

func reportRate(b *testing.B) {
	b.ReportMetric(float64(b.N*benchBatch)/b.Elapsed().Seconds(), "results/s")
}

// BenchmarkWriteDirect: batches of 500 written with the client in one
// blocking write each, straight to influxd (no lookup of stored IDs).
func BenchmarkWriteDirect(b *testing.B) {
	srv := influxtest.Shared(b)
	s := open(b, srv, srv.NewDatabase(b))
	batches := benchBatches(b.N)
	b.ResetTimer()
	for i := range b.N {
		if err := s.WriteDirect(context.Background(), batches[i]); err != nil {
			b.Fatal(err)
		}
	}
	reportRate(b)
}

// BenchmarkWriteStore: batches of 500 through Store.WriteResults (one
// blocking write, and the store's bookkeeping).
func BenchmarkWriteStore(b *testing.B) {
	srv := influxtest.Shared(b)
	s := open(b, srv, srv.NewDatabase(b))
	batches := benchBatches(b.N)
	b.ResetTimer()
	for i := range b.N {
		if n, err := s.WriteResults(context.Background(), batches[i]); err != nil || n != benchBatch {
			b.Fatalf("WriteResults = %d, %v", n, err)
		}
	}
	reportRate(b)
}

// BenchmarkWriteThroughService: batches of 500 posted by a probe client to
// fibremon's HTTP API (bearer token, decoding, validation, the InfluxDB
// store, the status tracker told of each batch and rebuilt from InfluxDB
// on its timer, as in serve), over loopback HTTP, to the same influxd.
func BenchmarkWriteThroughService(b *testing.B) {
	srv := influxtest.Shared(b)
	s := open(b, srv, srv.NewDatabase(b))
	var sites []fibremon.Site
	var siteIDs []string
	for i := range benchSites {
		id := fmt.Sprintf("site-%d", i)
		sites = append(sites, fibremon.Site{ID: id, Name: id})
		siteIDs = append(siteIDs, id)
	}
	tokens := auth.NewTokens()
	token, _, err := tokens.Issue(benchProbe, siteIDs, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	logger := slog.New(slog.DiscardHandler)
	reg := prometheus.NewRegistry()
	tracker := status.New(logger, reg, sites, s, status.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { tracker.Run(ctx, 15*time.Second); close(done) }()
	defer func() { cancel(); <-done }()
	h := fibrehttp.NewHandler(fibrehttp.Deps{
		Logger: logger, Registry: reg, Metrics: http.NotFoundHandler(),
		Store: s, Auth: tokens, Status: tracker, Geo: new(geo.Live),
	})
	ts := httptest.NewServer(h)
	defer ts.Close()
	client := &wire.Client{BaseURL: ts.URL, Token: token}
	batches := benchBatches(b.N)
	b.ResetTimer()
	for i := range b.N {
		resp, err := client.PostResults(context.Background(), batches[i])
		if err != nil || resp.Stored != benchBatch {
			b.Fatalf("POST = %+v, %v", resp, err)
		}
	}
	reportRate(b)
}

// BenchmarkStatusRefresh: what the status tracker asks the store every
// refresh (Latest over all history, Availability over 24 hours) with
// 100,000 results of 10 sites stored over the last day.
func BenchmarkStatusRefresh(b *testing.B) {
	srv := influxtest.Shared(b)
	s := open(b, srv, srv.NewDatabase(b))
	for _, batch := range benchBatches(200) {
		if err := s.WriteDirect(context.Background(), batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for range b.N {
		latest, err := s.Latest(context.Background())
		if err != nil || len(latest) != benchSites {
			b.Fatalf("Latest: %d sites, %v", len(latest), err)
		}
		if _, err := s.Availability(context.Background(), time.Now().Add(-24*time.Hour)); err != nil {
			b.Fatal(err)
		}
	}
}
