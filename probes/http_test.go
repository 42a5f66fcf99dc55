package probes

import (
	"bytes"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"fibremon"
)

func TestHTTP(t *testing.T) {
	t.Parallel()
	var keepAlive atomic.Bool // a request arrived without Connection: close
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) {
		if !r.Close {
			keepAlive.Store(true)
		}
	})
	mux.HandleFunc("/fail", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "boom", http.StatusInternalServerError)
	})
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/fail", http.StatusFound)
	})
	mux.HandleFunc("/hang", func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done() // until the client gives up
	})
	mux.HandleFunc("/hang-body", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("partial"))
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	})
	// /endless offers 64 MiB and reports whether the client hung up first.
	chunk := bytes.Repeat([]byte("x"), 64<<10)
	cut := make(chan bool, 1)
	mux.HandleFunc("/endless", func(w http.ResponseWriter, r *http.Request) {
		for range 1024 {
			if _, err := w.Write(chunk); err != nil {
				cut <- true
				return
			}
		}
		cut <- false
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	tlsSrv := httptest.NewUnstartedServer(mux)
	tlsSrv.Config.ErrorLog = log.New(io.Discard, "", 0) // the handshake the probe rejects
	tlsSrv.StartTLS()
	t.Cleanup(tlsSrv.Close)

	tests := []struct {
		name       string
		target     Target
		timeout    time.Duration
		wantUp     bool
		wantStatus float64 // 0: no http_status_code value
		wantErrMsg string  // substring of Measurement.Err
		dials      *atomic.Int32
		check      func(t *testing.T)
	}{
		{name: "200", target: Target{Address: srv.URL + "/ok"}, wantUp: true, wantStatus: 200, dials: new(atomic.Int32)},
		{name: "500", target: Target{Address: srv.URL + "/fail"}, wantStatus: 500, wantErrMsg: "status 500 Internal Server Error, want 200-399"},
		{name: "redirect not followed", target: Target{Address: srv.URL + "/redirect"}, wantUp: true, wantStatus: 302},
		{name: "expect 204", target: Target{Address: srv.URL + "/ok", Options: Options{HTTP: HTTPOptions{ExpectStatus: []int{204}}}}, wantStatus: 200, wantErrMsg: "want [204]"},
		{name: "expect 500", target: Target{Address: srv.URL + "/fail", Options: Options{HTTP: HTTPOptions{ExpectStatus: []int{500, 503}}}}, wantUp: true, wantStatus: 500},
		{name: "hang", target: Target{Address: srv.URL + "/hang"}, timeout: 300 * time.Millisecond, wantErrMsg: "timeout after "},
		{name: "hang in body", target: Target{Address: srv.URL + "/hang-body"}, timeout: 300 * time.Millisecond, wantStatus: 200, wantErrMsg: "read body: timeout after "},
		{name: "endless body", target: Target{Address: srv.URL + "/endless"}, wantUp: true, wantStatus: 200, check: func(t *testing.T) {
			select {
			case c := <-cut:
				if !c {
					t.Errorf("the probe read all 64 MiB; want it to stop after %d bytes", MaxBodyBytes)
				}
			case <-time.After(5 * time.Second):
				t.Errorf("the /endless handler did not finish")
			}
		}},
		{name: "refused", target: Target{Address: "http://" + MustClosedPort(t) + "/"}, wantErrMsg: "connect: connection refused"},
		{name: "untrusted certificate", target: Target{Address: tlsSrv.URL + "/ok"}, wantErrMsg: "certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			timeout := orDefault(tt.timeout, 5*time.Second)
			if tt.dials != nil {
				tt.target.Dial = countingDial(tt.dials)
			}
			start := time.Now()
			m, err := HTTP(withTimeoutCtx(t, timeout), tt.target, discard)
			elapsed := time.Since(start)
			if err != nil {
				t.Fatalf("HTTP(%q) error = %v", tt.target.Address, err)
			}
			t.Logf("in %v: %+v", elapsed.Round(time.Millisecond), m)
			checkResult(t, fibremon.KindHTTP, tt.target.Address, m)
			if m.Up != tt.wantUp || m.Method != MethodHTTPGet {
				t.Errorf("HTTP(%q) Up, Method = %v, %q; want %v, %q", tt.target.Address, m.Up, m.Method, tt.wantUp, MethodHTTPGet)
			}
			if got, ok := m.Values[fibremon.HTTPStatusCode]; got != tt.wantStatus || ok != (tt.wantStatus != 0) {
				t.Errorf("HTTP(%q) status value = %v (present %v); want %v", tt.target.Address, got, ok, tt.wantStatus)
			}
			if !strings.Contains(m.Err, tt.wantErrMsg) || m.Up != (m.Err == "") {
				t.Errorf("HTTP(%q) Err = %q; want it to contain %q", tt.target.Address, m.Err, tt.wantErrMsg)
			}
			if elapsed > timeout+timeoutSlack {
				t.Errorf("HTTP(%q) took %v; want at most its timeout %v (+%v)", tt.target.Address, elapsed, timeout, timeoutSlack)
			}
			if tt.check != nil {
				tt.check(t)
			}
			if tt.dials != nil && tt.dials.Load() != 1 {
				t.Errorf("HTTP(%q) called Dial %d times; want 1", tt.target.Address, tt.dials.Load())
			}
		})
	}
	t.Cleanup(func() {
		if keepAlive.Load() {
			t.Errorf("a probe request asked to keep its connection alive; want Connection: close")
		}
	})
}

func TestHTTPBadTarget(t *testing.T) {
	for _, tg := range []Target{
		{},
		{Address: "ftp://example.net/"},
		{Address: "http://"},
		{Address: "://x"},
		{Address: "http://example.net/", Options: Options{HTTP: HTTPOptions{ExpectStatus: []int{99}}}},
		{Address: "http://example.net/", Kind: fibremon.KindTCP},
	} {
		m, err := HTTP(t.Context(), tg, discard)
		if !errors.Is(err, ErrBadTarget) {
			t.Errorf("HTTP(%+v) = %+v, %v; want a bad target error", tg, m, err)
		}
	}
}
