package ndt7_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"fibremon/probes/ndt7"
)

const mib = 1 << 20

func TestDownload(t *testing.T) {
	t.Parallel() // its own servers and lines
	tests := []struct {
		name           string
		serverDuration time.Duration
		clientDuration time.Duration
		countClient    bool // dial through a counting conn without SyscallConn
	}{
		{name: "server ends the test", serverDuration: time.Second, clientDuration: 2 * time.Second},
		{name: "client ends the test", serverDuration: 3 * time.Second, clientDuration: time.Second, countClient: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := mustServer(t, tt.serverDuration)
			clientWire := new(counter)
			c := ndt7.Client{Duration: tt.clientDuration}
			if tt.countClient {
				c.Dial = countingDial(clientWire, false)
			}
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			sum, err := c.Download(ctx, ts.URL)
			if err != nil {
				t.Fatalf("Download: %v", err)
			}
			st := ts.waitStats(t)
			t.Logf("download: client %d bytes in %s = %.1f MB/s; server %d bytes in %s; server wrote %d wire bytes; MinRTT %s, retransmission ratio %.4f",
				sum.Bytes, sum.Elapsed, sum.BytesPerSecond/1e6, st.Bytes, st.Elapsed, ts.wire.written.Load(), sum.MinRTT, sum.RetransmissionRatio)

			if st.Err != nil {
				t.Errorf("server stats Err = %v; want nil", st.Err)
			}
			if st.Test != ndt7.TestDownload {
				t.Errorf("server stats Test = %q; want %q", st.Test, ndt7.TestDownload)
			}
			if sum.Test != ndt7.TestDownload {
				t.Errorf("Summary.Test = %q; want %q", sum.Test, ndt7.TestDownload)
			}
			// The client counted every payload byte the server wrote.
			if sum.Bytes != st.Bytes {
				t.Errorf("Summary.Bytes = %d; server wrote %d payload bytes", sum.Bytes, st.Bytes)
			}
			if sum.ClientBytes != sum.Bytes {
				t.Errorf("Summary.ClientBytes = %d; want Bytes %d", sum.ClientBytes, sum.Bytes)
			}
			if sum.Bytes < mib {
				t.Errorf("Summary.Bytes = %d; want at least 1 MiB over loopback", sum.Bytes)
			}
			// Independently, on the wire: payload + framing + the 101 response.
			wire := ts.wire.written.Load()
			if wire < st.Bytes || wire > st.Bytes+st.Bytes/100+8<<10 {
				t.Errorf("server wrote %d wire bytes for %d payload bytes; want payload <= wire <= payload + 1%% + 8 KiB", wire, st.Bytes)
			}
			if tt.countClient {
				if got := clientWire.read.Load(); got < sum.Bytes || got > wire {
					t.Errorf("client read %d wire bytes; want between %d (payload) and %d (server wire)", got, sum.Bytes, wire)
				}
			}
			if want := float64(sum.Bytes) / sum.Elapsed.Seconds(); !within(sum.BytesPerSecond, want, 0.01) {
				t.Errorf("BytesPerSecond = %.0f; want Bytes/Elapsed = %.0f within 1%%", sum.BytesPerSecond, want)
			}
			wantElapsed := min(tt.serverDuration, tt.clientDuration)
			if sum.Elapsed < wantElapsed/2 || sum.Elapsed > wantElapsed+time.Second {
				t.Errorf("Elapsed = %s; want about %s", sum.Elapsed, wantElapsed)
			}
			if sum.ServerUUID == "" || sum.ServerUUID != st.UUID {
				t.Errorf("ServerUUID = %q; want the server's %q", sum.ServerUUID, st.UUID)
			}
			if sum.LastServer == nil || sum.LastServer.AppInfo == nil {
				t.Fatalf("LastServer = %+v; want a measurement with AppInfo", sum.LastServer)
			}
			if got := sum.LastServer.AppInfo.NumBytes; got <= 0 || got > sum.Bytes {
				t.Errorf("last AppInfo.NumBytes = %d; want in (0, %d]", got, sum.Bytes)
			}
			if runtime.GOOS == "linux" {
				ti := sum.LastServer.TCPInfo
				if ti == nil {
					t.Fatal("LastServer.TCPInfo = nil on Linux")
				}
				if ti.BytesAcked <= 0 || ti.ElapsedTime <= 0 {
					t.Errorf("TCPInfo = %+v; want BytesAcked and ElapsedTime > 0", *ti)
				}
				if sum.MinRTT <= 0 || sum.MinRTT > 100*time.Millisecond {
					t.Errorf("MinRTT = %s; want (0, 100ms] on loopback", sum.MinRTT)
				}
				if sum.RetransmissionRatio < 0 || sum.RetransmissionRatio > 0.05 {
					t.Errorf("RetransmissionRatio = %g; want [0, 0.05] on loopback", sum.RetransmissionRatio)
				}
			}
		})
	}
}

func TestUpload(t *testing.T) {
	t.Parallel() // its own servers and lines
	tests := []struct {
		name           string
		serverDuration time.Duration
		clientDuration time.Duration
		hideSocket     bool // dial through a conn without SyscallConn
	}{
		{name: "client ends the test", serverDuration: 3 * time.Second, clientDuration: time.Second},
		{name: "server ends the test", serverDuration: time.Second, clientDuration: 2 * time.Second, hideSocket: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := mustServer(t, tt.serverDuration)
			clientWire := new(counter)
			c := ndt7.Client{Duration: tt.clientDuration, Dial: countingDial(clientWire, !tt.hideSocket)}
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			sum, err := c.Upload(ctx, ts.URL)
			if err != nil {
				t.Fatalf("Upload: %v", err)
			}
			st := ts.waitStats(t)
			t.Logf("upload: server-measured %d bytes in %s = %.1f MB/s; client sent %d payload bytes; server read %d payload bytes in %s (%.1f MB/s); MinRTT %s, retransmission ratio %.4f",
				sum.Bytes, sum.Elapsed, sum.BytesPerSecond/1e6, sum.ClientBytes, st.Bytes, st.Elapsed,
				float64(st.Bytes)/st.Elapsed.Seconds()/1e6, sum.MinRTT, sum.RetransmissionRatio)

			if st.Err != nil {
				t.Errorf("server stats Err = %v; want nil", st.Err)
			}
			if sum.Test != ndt7.TestUpload || st.Test != ndt7.TestUpload {
				t.Errorf("Test = %q (client), %q (server); want %q", sum.Test, st.Test, ndt7.TestUpload)
			}
			// The server read every payload byte the client wrote.
			if sum.ClientBytes != st.Bytes {
				t.Errorf("Summary.ClientBytes = %d; server read %d payload bytes", sum.ClientBytes, st.Bytes)
			}
			if sum.ClientBytes < mib {
				t.Errorf("Summary.ClientBytes = %d; want at least 1 MiB over loopback", sum.ClientBytes)
			}
			// Independently, on the wire.
			wire := ts.wire.read.Load()
			if sent := clientWire.written.Load(); sent != wire {
				t.Errorf("client wrote %d wire bytes; server read %d", sent, wire)
			}
			if wire < st.Bytes || wire > st.Bytes+st.Bytes/100+8<<10 {
				t.Errorf("server read %d wire bytes for %d payload bytes; want payload <= wire <= payload + 1%% + 8 KiB", wire, st.Bytes)
			}
			// The speed comes from the server's last measurement, taken
			// before the end: no more than the total.
			if sum.Bytes <= 0 || sum.Bytes > wire {
				t.Errorf("Summary.Bytes = %d; want in (0, %d] (wire bytes the server read)", sum.Bytes, wire)
			}
			if want := float64(sum.Bytes) / sum.Elapsed.Seconds(); !within(sum.BytesPerSecond, want, 0.01) {
				t.Errorf("BytesPerSecond = %.0f; want Bytes/Elapsed = %.0f within 1%%", sum.BytesPerSecond, want)
			}
			wantElapsed := min(tt.serverDuration, tt.clientDuration)
			if sum.Elapsed < wantElapsed/2 || sum.Elapsed > wantElapsed+time.Second {
				t.Errorf("Elapsed = %s; want about %s", sum.Elapsed, wantElapsed)
			}
			if sum.ServerUUID == "" || sum.ServerUUID != st.UUID {
				t.Errorf("ServerUUID = %q; want the server's %q", sum.ServerUUID, st.UUID)
			}
			m := sum.LastServer
			if m == nil || m.AppInfo == nil || m.Origin != ndt7.OriginServer || m.Test != ndt7.TestUpload {
				t.Fatalf("LastServer = %+v; want a server upload measurement with AppInfo", m)
			}
			if m.AppInfo.NumBytes <= 0 || m.AppInfo.NumBytes > st.Bytes {
				t.Errorf("last AppInfo.NumBytes = %d; want in (0, %d]", m.AppInfo.NumBytes, st.Bytes)
			}
			if runtime.GOOS == "linux" {
				if m.TCPInfo == nil {
					t.Fatal("LastServer.TCPInfo = nil on Linux")
				}
				if sum.Bytes != m.TCPInfo.BytesReceived {
					t.Errorf("Summary.Bytes = %d; want TCPInfo.BytesReceived %d", sum.Bytes, m.TCPInfo.BytesReceived)
				}
				if m.TCPInfo.BytesReceived < m.AppInfo.NumBytes {
					t.Errorf("TCPInfo.BytesReceived %d < AppInfo.NumBytes %d", m.TCPInfo.BytesReceived, m.AppInfo.NumBytes)
				}
				if sum.MinRTT <= 0 || sum.MinRTT > 100*time.Millisecond {
					t.Errorf("MinRTT = %s; want (0, 100ms] on loopback", sum.MinRTT)
				}
				// The retransmission ratio comes from the client's socket,
				// when it can see it.
				if tt.hideSocket && sum.RetransmissionRatio != -1 {
					t.Errorf("RetransmissionRatio = %g with a hidden socket; want -1", sum.RetransmissionRatio)
				}
				if !tt.hideSocket && (sum.RetransmissionRatio < 0 || sum.RetransmissionRatio > 0.05) {
					t.Errorf("RetransmissionRatio = %g; want [0, 0.05] on loopback", sum.RetransmissionRatio)
				}
			}
		})
	}
}

func TestServerRejectsBadUpgrade(t *testing.T) {
	ts := mustServer(t, time.Second)
	tests := []struct {
		name     string
		path     string
		protocol string // Sec-WebSocket-Protocol; empty: none
		query    string
	}{
		{name: "download without subprotocol", path: ndt7.DownloadPath},
		{name: "upload without subprotocol", path: ndt7.UploadPath},
		{name: "other subprotocol", path: ndt7.DownloadPath, protocol: "chat, superchat"},
		{name: "query too long", path: ndt7.DownloadPath, protocol: ndt7.SubProtocol, query: "x=" + strings.Repeat("a", 4096)},
		{name: "malformed query", path: ndt7.UploadPath, protocol: ndt7.SubProtocol, query: "x=%zz"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := ts.URL + tt.path
			if tt.query != "" {
				u += "?" + tt.query
			}
			req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, u, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Connection", "Upgrade")
			req.Header.Set("Upgrade", "websocket")
			req.Header.Set("Sec-WebSocket-Version", "13")
			req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
			if tt.protocol != "" {
				req.Header.Set("Sec-WebSocket-Protocol", tt.protocol)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest {
				t.Errorf("GET %s with protocol %q: status %d; want 400", tt.path, tt.protocol, resp.StatusCode)
			}
			if h := resp.Header.Get("Upgrade"); h != "" {
				t.Errorf("response has Upgrade: %q; want no upgrade", h)
			}
		})
	}
	select {
	case st := <-ts.stats:
		t.Errorf("a rejected request ran a test: %+v", st)
	default:
	}
}

// TestServerProtocolViolations drives the real handler with a raw
// WebSocket client that breaks the rules.
func TestServerProtocolViolations(t *testing.T) {
	tests := []struct {
		name     string
		path     string
		send     func(*websocket.Conn) error
		wantCode int
		wantErr  error
	}{
		{
			name: "binary message during download",
			path: ndt7.DownloadPath,
			send: func(c *websocket.Conn) error {
				return c.WriteMessage(websocket.BinaryMessage, make([]byte, 1024))
			},
			wantCode: websocket.ClosePolicyViolation,
			wantErr:  ndt7.ErrProtocol,
		},
		{
			name: "upload message over 16 MiB",
			path: ndt7.UploadPath,
			send: func(c *websocket.Conn) error {
				return c.WriteMessage(websocket.BinaryMessage, make([]byte, 17*mib))
			},
			wantCode: websocket.CloseMessageTooBig,
			wantErr:  ndt7.ErrMessageTooBig,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A long test, so that stopping at once (reading 16 MiB may
			// take seconds on a loaded machine under -race) and running
			// to its end are far apart.
			ts := mustServer(t, 15*time.Second)
			d := websocket.Dialer{Subprotocols: []string{ndt7.SubProtocol}}
			conn, _, err := d.DialContext(t.Context(), "ws"+strings.TrimPrefix(ts.URL, "http")+tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.SetReadDeadline(time.Now().Add(20 * time.Second))
			// Read concurrently: the server's data must keep flowing while
			// we write, or both sides could block.
			closeCode := make(chan int, 1)
			go func() { // Liveness: ends at the read deadline at the latest.
				for {
					if _, _, err := conn.ReadMessage(); err != nil {
						var ce *websocket.CloseError
						if errors.As(err, &ce) {
							closeCode <- ce.Code
						} else {
							closeCode <- -1
						}
						return
					}
				}
			}()
			tt.send(conn) // may fail once the server has closed
			if got := <-closeCode; got != tt.wantCode {
				t.Errorf("close code = %d; want %d", got, tt.wantCode)
			}
			st := ts.waitStats(t)
			if !errors.Is(st.Err, tt.wantErr) {
				t.Errorf("server stats Err = %v; want %v", st.Err, tt.wantErr)
			}
			// At once, not at the end of its 15 s test; the bound leaves
			// room for a loaded machine.
			if st.Elapsed > 8*time.Second {
				t.Errorf("server took %s to end the test; want it to stop at once", st.Elapsed)
			}
		})
	}
}

func TestClientContext(t *testing.T) {
	tests := []struct {
		name    string
		upload  bool
		ctx     func(context.Context) (context.Context, context.CancelFunc)
		wantErr error
	}{
		{
			name: "download canceled",
			ctx: func(parent context.Context) (context.Context, context.CancelFunc) {
				ctx, cancel := context.WithCancel(parent)
				time.AfterFunc(300*time.Millisecond, cancel)
				return ctx, cancel
			},
			wantErr: context.Canceled,
		},
		{
			name:   "upload deadline",
			upload: true,
			ctx: func(parent context.Context) (context.Context, context.CancelFunc) {
				return context.WithTimeout(parent, 300*time.Millisecond)
			},
			wantErr: context.DeadlineExceeded,
		},
		{
			name: "already canceled",
			ctx: func(parent context.Context) (context.Context, context.CancelFunc) {
				ctx, cancel := context.WithCancel(parent)
				cancel()
				return ctx, cancel
			},
			wantErr: context.Canceled,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := mustServer(t, 5*time.Second)
			c := ndt7.Client{Duration: 5 * time.Second}
			ctx, cancel := tt.ctx(t.Context())
			defer cancel()
			start := time.Now()
			var err error
			if tt.upload {
				_, err = c.Upload(ctx, ts.URL)
			} else {
				_, err = c.Download(ctx, ts.URL)
			}
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("error = %v; want %v", err, tt.wantErr)
			}
			// Soon after ctx ended (300 ms in), not at the end of the
			// 5 s test; the bound leaves room for a loaded machine.
			if d := time.Since(start); d > 2500*time.Millisecond {
				t.Errorf("returned after %s; want soon after ctx ended", d)
			}
			if tt.name != "already canceled" {
				if st := ts.waitStats(t); st.Elapsed > 3*time.Second {
					t.Errorf("server ran %s after the client went away", st.Elapsed)
				}
			}
		})
	}
}

func TestClientURL(t *testing.T) {
	ts := mustServer(t, 300*time.Millisecond)
	tests := []struct {
		name    string
		url     string
		wantErr bool
	}{
		{name: "http", url: ts.URL},
		{name: "ws with trailing slash", url: "ws" + strings.TrimPrefix(ts.URL, "http") + "/"},
		// as M-Lab's locate API hands them out: an endpoint with a token
		{name: "endpoint URL with a query", url: "ws" + strings.TrimPrefix(ts.URL, "http") + ndt7.UploadPath + "?access_token=x"},
		{name: "ftp", url: "ftp://example.com", wantErr: true},
		{name: "no host", url: "ws:///x", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ndt7.Client{Duration: time.Second}
			_, err := c.Download(t.Context(), tt.url)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Download(%q) error = %v; want error %v", tt.url, err, tt.wantErr)
			}
			if err == nil {
				ts.waitStats(t)
			}
		})
	}
}

// TestTLS runs both tests over wss (an https service URL), where TCP_INFO
// must be read through the *tls.Conn on both sides.
func TestTLS(t *testing.T) {
	h := ndt7.NewHandler(nil, ndt7.ServerOptions{MaxDuration: 500 * time.Millisecond})
	mux := http.NewServeMux()
	mux.HandleFunc(ndt7.DownloadPath, h.Download)
	mux.HandleFunc(ndt7.UploadPath, h.Upload)
	srv := httptest.NewTLSServer(mux)
	defer srv.Close()
	c := ndt7.Client{
		Duration:  time.Second,
		TLSConfig: srv.Client().Transport.(*http.Transport).TLSClientConfig,
	}
	for _, run := range []func(context.Context, string) (ndt7.Summary, error){c.Download, c.Upload} {
		sum, err := run(t.Context(), srv.URL)
		if err != nil {
			t.Fatalf("over TLS: %v", err)
		}
		t.Logf("%s over TLS: %d bytes in %s = %.1f MB/s", sum.Test, sum.Bytes, sum.Elapsed, sum.BytesPerSecond/1e6)
		if runtime.GOOS != "linux" {
			continue
		}
		if sum.LastServer == nil || sum.LastServer.TCPInfo == nil {
			t.Errorf("%s over TLS: no server TCPInfo", sum.Test)
		}
		if sum.MinRTT <= 0 || sum.RetransmissionRatio < 0 {
			t.Errorf("%s over TLS: MinRTT %s, RetransmissionRatio %g; want both known", sum.Test, sum.MinRTT, sum.RetransmissionRatio)
		}
	}
}
