package linesim_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	"fibremon/internal/testing/linesim"
)

// A probe's HTTP client dials through its line, so every request pays the
// line's RTT and shares its rate.
func Example() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	defer srv.Close()

	line := linesim.New(linesim.Profile{
		Name:               "ADSL 7/0.7",
		DownBytesPerSecond: 7e6 / 8,
		UpBytesPerSecond:   0.7e6 / 8,
		RTT:                40 * time.Millisecond,
	})
	tr := &http.Transport{DialContext: line.DialContext}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	// One RTT to connect, one for the request and its response.
	fmt.Println(resp.Status, string(body), time.Since(start) >= 80*time.Millisecond)
	// Output: 200 OK ok true
}
