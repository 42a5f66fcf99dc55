package ndt7_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"time"

	"fibremon/probes/ndt7"
)

// Example serves ndt7 with plain net/http and runs both tests against it.
func Example() {
	h := ndt7.NewHandler(slog.New(slog.DiscardHandler), ndt7.ServerOptions{MaxDuration: 500 * time.Millisecond})
	mux := http.NewServeMux()
	mux.HandleFunc(ndt7.DownloadPath, h.Download)
	mux.HandleFunc(ndt7.UploadPath, h.Upload)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	// The deadline leaves room for Duration, the handshakes and the close.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := ndt7.Client{Duration: time.Second, UserAgent: "fibreprobe-example/1"}
	for _, run := range []func(context.Context, string) (ndt7.Summary, error){c.Download, c.Upload} {
		sum, err := run(ctx, srv.URL) // e.g. "http://127.0.0.1:8080"
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(sum.Test, sum.BytesPerSecond > 0, sum.Elapsed <= time.Second)
	}
	// Output:
	// download true true
	// upload true true
}
