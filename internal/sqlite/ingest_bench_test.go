package sqlite_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"fibremon"
	"fibremon/internal/auth"
	"fibremon/internal/fibrehttp"
	"fibremon/internal/metrics"
	"fibremon/internal/sqlite"
	"fibremon/internal/status"
	"fibremon/internal/testing/storetest"
)

// BenchmarkIngest measures the ingest path of the service on the embedded
// store: POST /api/v1/results through the real handler (token check,
// decoding, validation, the write committed with synchronous=FULL) with
// the status tracker refreshing from the store as it does in `fibremon
// serve`. Many probes post batches of 50 at once; it reports results/s.
//
//	go test -run '^$' -bench Ingest -benchtime 10s ./internal/sqlite
func BenchmarkIngest(b *testing.B) {
	const probes, size = 200, 50
	store, err := sqlite.Open(b.Context(), filepath.Join(b.TempDir(), "fibremon.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	tokens := auth.NewTokens()
	toks := make([]string, probes)
	for i := range toks {
		toks[i], _, err = tokens.Issue(fmt.Sprintf("probe-site-%d", i), []string{fmt.Sprintf("site-%d", i)}, time.Now())
		if err != nil {
			b.Fatal(err)
		}
	}
	logger := slog.New(slog.DiscardHandler)
	reg := metrics.NewRegistry("fibremon", "bench")
	tracker := status.New(logger, reg, nil, store, status.Options{})
	go tracker.Run(b.Context(), 15*time.Second) //nolint:errcheck // returns nil when the benchmark ends
	h := fibrehttp.NewHandler(fibrehttp.Deps{
		Logger: logger, Registry: reg, Metrics: metrics.Handler(reg),
		Store: store, Auth: tokens, Status: tracker,
	})

	kinds := []fibremon.Kind{fibremon.KindLatency, fibremon.KindHTTP, fibremon.KindTCP, fibremon.KindDNS,
		fibremon.KindLatency, fibremon.KindHTTP, fibremon.KindDownload, fibremon.KindUpload}
	var next atomic.Int64
	b.SetParallelism(16) // 32 requests in flight on 2 cores
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		i := int(next.Add(1)) % probes
		site, token := fmt.Sprintf("site-%d", i), "Bearer "+toks[i]
		rs := make([]fibremon.Result, size)
		for pb.Next() {
			now := time.Now()
			for j := range rs {
				rs[j] = storetest.Result(site, kinds[j%len(kinds)], now.Add(-time.Duration(size-j)*time.Millisecond), j%17 != 0)
				rs[j].ID = uuid.NewString()
			}
			body, err := json.Marshal(fibrehttp.ResultsRequest{Results: rs})
			if err != nil {
				b.Error(err)
				return
			}
			req := httptest.NewRequest(http.MethodPost, fibrehttp.PathResults, bytes.NewReader(body))
			req.Header.Set("Authorization", token)
			req.Header.Set("Content-Type", "application/json")
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != http.StatusOK {
				b.Errorf("POST = %d %s", w.Code, w.Body)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N*size)/time.Since(start).Seconds(), "results/s")
}
