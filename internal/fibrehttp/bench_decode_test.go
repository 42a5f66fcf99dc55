package fibrehttp

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"fibremon"
)

// BenchmarkDecodeResults decodes a batch of 1000 results, as a probe
// uploads after a day offline.
func BenchmarkDecodeResults(b *testing.B) {
	rs := make([]fibremon.Result, 1000)
	for i := range rs {
		rs[i] = fibremon.Result{
			ID: fmt.Sprintf("0196f1c2-9d1a-7c5e-8f00-%012x", i), SiteID: "municipio", Probe: "probe-municipio",
			Kind: fibremon.KindDownload, Method: "ndt7", Target: "https://fibremon.example/ndt/v7/download",
			Start: seedNow.Add(-time.Duration(i) * time.Minute), DurationSeconds: 10.2, Up: true,
			Values: map[string]float64{fibremon.DownloadBytesPerSecond: 117e6, fibremon.TransferredBytes: 1.17e9,
				fibremon.MinRTTSeconds: 0.0041, fibremon.RetransmissionRatio: 0.0002},
		}
	}
	body, err := json.Marshal(ResultsRequest{Results: rs})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeResults(body, seedNow); err != nil {
			b.Fatal(err)
		}
	}
}
