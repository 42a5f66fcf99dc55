package ndt7_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"fibremon/probes/ndt7"
)

// fakeServer serves handle on loopback. handle gets done, closed when the
// test ends, and must return soon after; the cleanup waits for it.
func fakeServer(tb testing.TB, handle func(w http.ResponseWriter, r *http.Request, done <-chan struct{})) string {
	tb.Helper()
	done := make(chan struct{})
	var wg sync.WaitGroup
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		wg.Add(1)
		defer wg.Done()
		handle(w, r, done)
	}))
	tb.Cleanup(func() {
		close(done)
		wg.Wait()
		srv.Close()
	})
	return srv.URL
}

// ws is a fake server behaviour on an upgraded connection.
type ws func(conn *websocket.Conn, done <-chan struct{})

// upgraded returns a handler that upgrades with the ndt7 subprotocol and
// then behaves as b. It closes the connection when b returns.
func upgraded(b ws) func(http.ResponseWriter, *http.Request, <-chan struct{}) {
	return func(w http.ResponseWriter, r *http.Request, done <-chan struct{}) {
		u := websocket.Upgrader{Subprotocols: []string{ndt7.SubProtocol}}
		conn, err := u.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer conn.Close()
		conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
		b(conn, done)
	}
}

// drain reads (answering control frames) until the client goes away.
func drain(conn *websocket.Conn) {
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		if _, _, err := conn.ReadMessage(); err != nil {
			return
		}
	}
}

// sendData sends n bytes in 8 KiB binary messages.
func sendData(conn *websocket.Conn, n int) {
	msg := make([]byte, 8<<10)
	for ; n > 0; n -= len(msg) {
		if conn.WriteMessage(websocket.BinaryMessage, msg) != nil {
			return
		}
	}
}

func closeNormally(conn *websocket.Conn) {
	conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
}

func sendText(conn *websocket.Conn, s string) {
	conn.WriteMessage(websocket.TextMessage, []byte(s))
}

func TestClientMisbehavingServers(t *testing.T) {
	tests := []struct {
		name     string
		upload   bool
		duration time.Duration // Client.Duration; 0 means 1 s
		stall    time.Duration // Client.StallTimeout; 0 means the default
		handle   func(http.ResponseWriter, *http.Request, <-chan struct{})
		wantErr  error
	}{
		{
			name: "no subprotocol in the response",
			handle: func(w http.ResponseWriter, r *http.Request, done <-chan struct{}) {
				u := websocket.Upgrader{} // selects no subprotocol
				if conn, err := u.Upgrade(w, r, nil); err == nil {
					defer conn.Close()
					sendData(conn, 64<<10)
					drain(conn)
				}
			},
			wantErr: ndt7.ErrSubprotocol,
		},
		{
			name:   "wrong subprotocol in the response",
			upload: true,
			handle: func(w http.ResponseWriter, r *http.Request, done <-chan struct{}) {
				var u websocket.Upgrader
				h := http.Header{"Sec-Websocket-Protocol": {"net.measurementlab.ndt.v5"}}
				if conn, err := u.Upgrade(w, r, h); err == nil {
					defer conn.Close()
					drain(conn)
				}
			},
			wantErr: ndt7.ErrSubprotocol,
		},
		{
			name: "no upgrade",
			handle: func(w http.ResponseWriter, r *http.Request, done <-chan struct{}) {
				http.NotFound(w, r)
			},
			wantErr: ndt7.ErrHandshake,
		},
		{
			name: "download message over 16 MiB",
			handle: upgraded(func(conn *websocket.Conn, done <-chan struct{}) {
				sendData(conn, 64<<10)
				conn.WriteMessage(websocket.BinaryMessage, make([]byte, 17<<20))
				drain(conn)
			}),
			wantErr: ndt7.ErrMessageTooBig,
		},
		{
			name:   "upload measurement over 64 KiB",
			upload: true,
			handle: upgraded(func(conn *websocket.Conn, done <-chan struct{}) {
				sendText(conn, `{"Origin":"server","Test":"upload","Pad":"`+strings.Repeat("0", 2<<20)+`"}`)
				drain(conn)
			}),
			wantErr: ndt7.ErrMessageTooBig,
		},
		{
			name: "download malformed measurement",
			handle: upgraded(func(conn *websocket.Conn, done <-chan struct{}) {
				sendData(conn, 64<<10)
				sendText(conn, `{"AppInfo":{"NumBytes":12`)
				drain(conn)
			}),
			wantErr: ndt7.ErrMalformedMeasurement,
		},
		{
			name:   "upload malformed measurement",
			upload: true,
			handle: upgraded(func(conn *websocket.Conn, done <-chan struct{}) {
				sendText(conn, `not json`)
				drain(conn)
			}),
			wantErr: ndt7.ErrMalformedMeasurement,
		},
		{
			name: "download stalls before any data",
			handle: upgraded(func(conn *websocket.Conn, done <-chan struct{}) {
				<-done // neither data nor an answer to the close frame
			}),
			wantErr: ndt7.ErrNoData,
		},
		{
			name:     "download stalls mid-test",
			duration: 5 * time.Second,
			stall:    500 * time.Millisecond,
			handle: upgraded(func(conn *websocket.Conn, done <-chan struct{}) {
				sendData(conn, 256<<10)
				<-done
			}),
			wantErr: ndt7.ErrStalled,
		},
		{
			name:     "upload server stops reading",
			upload:   true,
			duration: 5 * time.Second,
			stall:    500 * time.Millisecond,
			handle: upgraded(func(conn *websocket.Conn, done <-chan struct{}) {
				sendText(conn, `{"AppInfo":{"ElapsedTime":1,"NumBytes":0}}`)
				<-done
			}),
			wantErr: ndt7.ErrStalled,
		},
		{
			name: "download closed before any data",
			handle: upgraded(func(conn *websocket.Conn, done <-chan struct{}) {
				conn.Close()
			}),
			wantErr: ndt7.ErrNoData,
		},
		{
			name: "download closing handshake before any data",
			handle: upgraded(func(conn *websocket.Conn, done <-chan struct{}) {
				sendText(conn, `{"Origin":"server"}`) // a measurement is not data
				closeNormally(conn)
				drain(conn)
			}),
			wantErr: ndt7.ErrNoData,
		},
		{
			name:     "download connection cut mid-test",
			duration: 5 * time.Second,
			handle: upgraded(func(conn *websocket.Conn, done <-chan struct{}) {
				sendData(conn, 256<<10)
				conn.Close()
			}),
			wantErr: ndt7.ErrAborted,
		},
		{
			name: "download abnormal close code",
			handle: upgraded(func(conn *websocket.Conn, done <-chan struct{}) {
				sendData(conn, 256<<10)
				conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseInternalServerErr, "oops"), time.Now().Add(time.Second))
				drain(conn)
			}),
			wantErr: ndt7.ErrProtocol,
		},
		{
			name:   "upload binary from the server",
			upload: true,
			handle: upgraded(func(conn *websocket.Conn, done <-chan struct{}) {
				sendData(conn, 8<<10)
				drain(conn)
			}),
			wantErr: ndt7.ErrProtocol,
		},
		{
			name:   "upload without measurements",
			upload: true,
			handle: upgraded(func(conn *websocket.Conn, done <-chan struct{}) {
				drain(conn)
			}),
			wantErr: ndt7.ErrNoMeasurement,
		},
		{
			name:   "upload implausible byte count",
			upload: true,
			handle: upgraded(func(conn *websocket.Conn, done <-chan struct{}) {
				sendText(conn, `{"AppInfo":{"ElapsedTime":500000,"NumBytes":1099511627776}}`)
				drain(conn)
			}),
			wantErr: ndt7.ErrImplausible,
		},
		{
			name:   "upload implausible elapsed time",
			upload: true,
			handle: upgraded(func(conn *websocket.Conn, done <-chan struct{}) {
				sendText(conn, `{"AppInfo":{"ElapsedTime":3600000000,"NumBytes":1}}`)
				drain(conn)
			}),
			wantErr: ndt7.ErrImplausible,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			url := fakeServer(t, tt.handle)
			c := ndt7.Client{Duration: tt.duration, StallTimeout: tt.stall}
			if c.Duration == 0 {
				c.Duration = time.Second
			}
			const limit = 8 * time.Second
			ctx, cancel := context.WithTimeout(t.Context(), limit)
			defer cancel()
			start := time.Now()
			var sum ndt7.Summary
			var err error
			if tt.upload {
				sum, err = c.Upload(ctx, url)
			} else {
				sum, err = c.Download(ctx, url)
			}
			took := time.Since(start)
			t.Logf("after %s: %v", took.Round(time.Millisecond), err)
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("error = %v; want %v", err, tt.wantErr)
			}
			if errors.Is(err, context.DeadlineExceeded) || took >= limit {
				t.Errorf("took %s; want an error before the ctx deadline (%s)", took, limit)
			}
			if sum != (ndt7.Summary{}) {
				t.Errorf("Summary = %+v with an error; want the zero Summary", sum)
			}
		})
	}
}
