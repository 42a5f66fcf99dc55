package ndt7_test

import (
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"fibremon/internal/linesim"
	"fibremon/probes/ndt7"
)

// TestDownloadLineDropsMidTest: a line that goes down shortly after a
// download starts gives a stalled test, not a speed computed from its first
// moments or diluted by the time spent waiting.
func TestDownloadLineDropsMidTest(t *testing.T) {
	h := ndt7.NewHandler(slog.New(slog.DiscardHandler), ndt7.ServerOptions{MaxDuration: 4 * time.Second})
	mux := http.NewServeMux()
	mux.HandleFunc(ndt7.DownloadPath, h.Download)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	line := linesim.New(linesim.Profile{DownBytesPerSecond: 12.5e6, UpBytesPerSecond: 2.5e6, RTT: 20 * time.Millisecond})
	defer line.SetDown(false) // resets the server's side, so its handler returns before srv.Close
	c := &ndt7.Client{Dial: line.DialContext, Duration: 2 * time.Second}
	go func() {
		time.Sleep(300 * time.Millisecond)
		line.SetDown(true)
	}()
	s, err := c.Download(t.Context(), srv.URL)
	if !errors.Is(err, ndt7.ErrStalled) {
		t.Fatalf("Download across an outage = %+v, %v; want ErrStalled", s, err)
	}
	t.Log(err)
}

// TestUploadLineDropsMidTest: the same for an upload.
func TestUploadLineDropsMidTest(t *testing.T) {
	h := ndt7.NewHandler(slog.New(slog.DiscardHandler), ndt7.ServerOptions{MaxDuration: 4 * time.Second})
	mux := http.NewServeMux()
	mux.HandleFunc(ndt7.UploadPath, h.Upload)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	line := linesim.New(linesim.Profile{DownBytesPerSecond: 12.5e6, UpBytesPerSecond: 2.5e6, RTT: 20 * time.Millisecond})
	defer line.SetDown(false) // resets the server's side, so its handler returns before srv.Close
	c := &ndt7.Client{Dial: line.DialContext, Duration: 2 * time.Second}
	go func() {
		time.Sleep(300 * time.Millisecond)
		line.SetDown(true)
	}()
	s, err := c.Upload(t.Context(), srv.URL)
	if err == nil {
		t.Fatalf("Upload across an outage = %+v; want an error", s)
	}
	t.Log(err)
}
