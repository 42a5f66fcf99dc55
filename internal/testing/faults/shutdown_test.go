package faults

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"fibremon"
	"fibremon/internal/fibrehttp"
	"fibremon/internal/testing/storetest"
)

// TestGracefulShutdown sends SIGTERM to the service while a POST of
// results is in flight (its body half sent). The service stops accepting
// connections at once but lets the request finish: the probe gets its 200
// and the batch is stored. A request that does not finish within
// --web.shutdown-timeout is cut short instead: no answer, nothing stored.
func TestGracefulShutdown(t *testing.T) {
	long(t)
	t.Parallel()
	for _, tt := range []struct {
		name   string
		finish bool // whether the client sends the rest of the body
	}{
		{"Drains", true},
		{"CutShort", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			since := time.Now().Add(-time.Minute)
			svc, token := newService(t, serviceOptions{args: []string{"--web.shutdown-timeout", "3s"}})
			svc.start()
			batch := make([]fibremon.Result, 50)
			for i := range batch {
				batch[i] = storetest.Result(siteID, fibremon.KindTCP, time.Now(), true)
			}
			body, err := json.Marshal(fibrehttp.ResultsRequest{Results: batch})
			if err != nil {
				t.Fatal(err)
			}
			conn, err := net.Dial("tcp", svc.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			half := len(body) / 2
			fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n",
				fibrehttp.PathResults, svc.addr, token, len(body))
			if _, err := conn.Write(body[:half]); err != nil {
				t.Fatal(err)
			}
			// The pause only orders events: the server reads the headers
			// it already has well within it, and the request is then in
			// flight (its handler waits for the rest of the body).
			time.Sleep(200 * time.Millisecond)
			if code := svc.readyz(); code != http.StatusOK {
				t.Fatalf("/readyz before the shutdown = %d; want 200", code)
			}
			svc.cmd.Process.Signal(syscall.SIGTERM) //nolint:errcheck // checked by the wait below
			waitFor(t, "the service to stop accepting connections", func() bool {
				c, err := net.DialTimeout("tcp", svc.addr, time.Second)
				if err != nil {
					return true
				}
				c.Close()
				return false
			})

			if tt.finish {
				if !svc.running() {
					t.Fatalf("the service exited with a request in flight: %v", svc.err)
				}
				if _, err := conn.Write(body[half:]); err != nil {
					t.Fatal(err)
				}
				resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
				if err != nil {
					t.Fatalf("the in-flight request got no answer: %v", err)
				}
				answer, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK || !strings.Contains(string(answer), `"stored":50`) {
					t.Fatalf("in-flight POST answered %d %s; want 200 with 50 stored", resp.StatusCode, answer)
				}
			}
			select {
			case <-svc.done:
			case <-time.After(startTimeout):
				t.Fatalf("the service did not exit within %v of SIGTERM", startTimeout)
			}
			if code := exitCode(svc.err); code != 0 {
				t.Fatalf("fibremon serve exit status %d on SIGTERM; want 0\n%s", code, svc.logTail())
			}
			if !tt.finish {
				conn.SetReadDeadline(time.Now().Add(10 * time.Second))
				if resp, err := http.ReadResponse(bufio.NewReader(conn), nil); err == nil {
					t.Fatalf("a request cut short by the shutdown got an answer: %s", resp.Status)
				}
				if !strings.Contains(svc.log(), "in-flight requests cut short") {
					t.Errorf("the service's log does not say the request was cut short")
				}
			}

			svc.start()
			stored := ids(svc.results(since))
			n := 0
			for _, r := range batch {
				if stored[r.ID] {
					n++
				}
			}
			want := 0
			if tt.finish {
				want = len(batch)
			}
			if n != want || len(stored) != want {
				t.Errorf("after the restart %d of the batch stored (%d results in all); want %d", n, len(stored), want)
			}
		})
	}
}

// TestShutdownLameDuck: with --web.shutdown-delay, a stopping service
// answers /readyz with 503 while it still serves requests, so that a load
// balancer stops sending new ones before the listener closes; then it
// exits cleanly.
func TestShutdownLameDuck(t *testing.T) {
	long(t)
	t.Parallel()
	// The delay leaves room for a loaded machine to see /readyz fail and
	// make the request below before the listener closes.
	svc, _ := newService(t, serviceOptions{args: []string{"--web.shutdown-delay", "10s"}})
	svc.start()
	if code := svc.readyz(); code != http.StatusOK {
		t.Fatalf("/readyz before the shutdown = %d; want 200", code)
	}
	svc.cmd.Process.Signal(syscall.SIGTERM) //nolint:errcheck // checked below
	waitFor(t, "/readyz to fail while the service still answers", func() bool {
		return svc.readyz() == http.StatusServiceUnavailable
	})
	resp, err := http.Get(svc.base + fibrehttp.PathSites)
	if err != nil {
		t.Fatalf("a request during the lame-duck period failed: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s during the lame-duck period = %d; want 200", fibrehttp.PathSites, resp.StatusCode)
	}
	waitFor(t, "the service to exit", func() bool { return !svc.running() })
	if svc.err != nil {
		t.Fatalf("the service exited with %v; want a clean exit", svc.err)
	}
}
