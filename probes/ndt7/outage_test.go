package ndt7_test

import (
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"fibremon/internal/testing/linesim"
	"fibremon/probes/ndt7"
)

// TestLineDropsMidTest: a line that goes down shortly after a test starts
// gives a stalled test, not a speed computed from its first moments or
// diluted by the time spent waiting.
func TestLineDropsMidTest(t *testing.T) {
	t.Parallel() // its own servers and lines
	h := ndt7.NewHandler(slog.New(slog.DiscardHandler), ndt7.ServerOptions{MaxDuration: 4 * time.Second})
	mux := http.NewServeMux()
	mux.HandleFunc(ndt7.DownloadPath, h.Download)
	mux.HandleFunc(ndt7.UploadPath, h.Upload)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	for _, test := range []string{ndt7.TestDownload, ndt7.TestUpload} {
		t.Run(test, func(t *testing.T) {
			t.Parallel() // each its own line
			line := linesim.New(linesim.Profile{DownBytesPerSecond: 12.5e6, UpBytesPerSecond: 2.5e6, RTT: 20 * time.Millisecond})
			defer line.SetDown(false) // resets the server's side, so its handler returns before srv.Close
			c := &ndt7.Client{Dial: line.DialContext, Duration: 2 * time.Second}
			go func() {
				time.Sleep(300 * time.Millisecond)
				line.SetDown(true)
			}()
			measure := c.Download
			if test == ndt7.TestUpload {
				measure = c.Upload
			}
			s, err := measure(t.Context(), srv.URL)
			if !errors.Is(err, ndt7.ErrStalled) {
				t.Fatalf("%s across an outage = %+v, %v; want ErrStalled", test, s, err)
			}
			t.Log(err)
		})
	}
}
