package ndt7_test

import (
	"context"
	"net"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"fibremon/internal/linesim"
	"fibremon/probes/ndt7"
)

// TestMeasurementsFromBothSides: during a download and an upload the
// client sends its own Measurements (AppInfo and, on Linux, its socket's
// TCPInfo) and the server keeps them; the server's reach the client.
func TestMeasurementsFromBothSides(t *testing.T) {
	t.Parallel() // its own servers and lines
	for _, test := range []string{ndt7.TestDownload, ndt7.TestUpload} {
		t.Run(test, func(t *testing.T) {
			ts := mustServer(t, 5*time.Second)
			c := ndt7.Client{Duration: 1500 * time.Millisecond}
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			run := c.Download
			if test == ndt7.TestUpload {
				run = c.Upload
			}
			sum, err := run(ctx, ts.URL)
			if err != nil {
				t.Fatal(err)
			}
			st := ts.waitStats(t)
			if st.Err != nil {
				t.Fatalf("server: %v", st.Err)
			}
			// 1.5 s at one measurement per 250 ms.
			if st.ClientMeasurements < 4 || st.ClientMeasurements > 8 {
				t.Errorf("server received %d client measurements in 1.5 s; want 4-8 (one per 250 ms)", st.ClientMeasurements)
			}
			m := st.LastClient
			if m == nil || m.AppInfo == nil || m.Origin != ndt7.OriginClient || m.Test != test || m.ConnectionInfo != nil {
				t.Fatalf("server's last client measurement = %+v; want Origin client, Test %s, AppInfo, no ConnectionInfo", m, test)
			}
			if m.AppInfo.NumBytes <= 0 || m.AppInfo.ElapsedTime < 500_000 {
				t.Errorf("client AppInfo = %+v; want bytes > 0 and ElapsedTime >= 0.5 s", *m.AppInfo)
			}
			if sum.LastClient == nil || sum.LastClient.AppInfo.NumBytes != m.AppInfo.NumBytes {
				t.Errorf("Summary.LastClient = %+v; want the one the server kept last", sum.LastClient)
			}
			if sum.LastServer == nil || sum.LastServer.Origin != ndt7.OriginServer {
				t.Errorf("Summary.LastServer = %+v; want a server measurement", sum.LastServer)
			}
			if runtime.GOOS != "linux" {
				return
			}
			// BBR on the server's socket, where the kernel has it.
			avail, err := os.ReadFile("/proc/sys/net/ipv4/tcp_available_congestion_control")
			if err != nil {
				t.Fatal(err)
			}
			if hasBBR := slices.Contains(strings.Fields(string(avail)), "bbr"); hasBBR && st.CongestionControl != "bbr" {
				t.Errorf("server socket congestion control = %q; want bbr (available: %s)", st.CongestionControl, strings.TrimSpace(string(avail)))
			} else {
				t.Logf("server socket congestion control %q (available: %s)", st.CongestionControl, strings.TrimSpace(string(avail)))
			}
			if m.TCPInfo == nil || m.TCPInfo.MinRTT <= 0 || m.TCPInfo.ElapsedTime != m.AppInfo.ElapsedTime {
				t.Errorf("client TCPInfo = %+v; want the socket's counters at the AppInfo's time", m.TCPInfo)
			}
			if sum.LastServer.TCPInfo == nil {
				t.Error("server measurement without TCPInfo on Linux")
			}
			// The client's own socket counters cover the whole test.
			s := sum.Socket
			if s == nil {
				t.Fatal("Summary.Socket = nil on Linux")
			}
			payload := sum.ClientBytes
			if w := s.WireBytes(); w < payload || w > payload+payload/20+256<<10 {
				t.Errorf("WireBytes = %d for %d payload bytes; want payload ≤ wire ≤ payload + 5 %% + 256 KiB", w, payload)
			}
			if s.SegsIn == 0 || s.SegsOut == 0 || s.LocalAddr == nil || s.RemoteAddr == nil {
				t.Errorf("Socket = %+v; want segments and addresses", *s)
			}
		})
	}
}

// rampConn is an emulated link whose receive rate grows linearly, by rate0
// every second: its throughput never settles.
type rampConn struct {
	net.Conn
	mu    sync.Mutex
	start time.Time
	rate0 float64 // bytes per second at the start; +rate0 each second
	read  int64
}

func (c *rampConn) Read(p []byte) (int, error) {
	for {
		c.mu.Lock()
		s := time.Since(c.start).Seconds()
		room := int64(c.rate0*(s+s*s/2)) + 16<<10 - c.read
		c.mu.Unlock()
		if room > 0 {
			if int64(len(p)) > room {
				p = p[:room]
			}
			n, err := c.Conn.Read(p)
			c.mu.Lock()
			c.read += int64(n)
			c.mu.Unlock()
			return n, err
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func rampDial(rate0 float64) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		var d net.Dialer
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &rampConn{Conn: c, start: time.Now(), rate0: rate0}, nil
	}
}

// TestEarlyStop: with EarlyStop, a test over a steady emulated line ends
// once its throughput has settled, with the line's speed; over a link
// whose rate keeps ramping up it runs its full duration.
func TestEarlyStop(t *testing.T) {
	t.Parallel() // its own servers and lines
	const rate = 5e6 // bytes per second (40 Mbit/s)
	steady := linesim.New(linesim.Profile{Name: "steady", DownBytesPerSecond: rate, UpBytesPerSecond: rate, RTT: 10 * time.Millisecond})
	// A steady line gets the longest test, so that a loaded machine's
	// jitter only delays the early stop.
	tests := []struct {
		name      string
		upload    bool
		dial      func(ctx context.Context, network, addr string) (net.Conn, error)
		duration  time.Duration
		wantEarly bool
	}{
		{name: "download, steady line", dial: steady.DialContext, duration: ndt7.MaxDuration, wantEarly: true},
		{name: "upload, steady line", upload: true, dial: steady.DialContext, duration: ndt7.MaxDuration, wantEarly: true},
		{name: "download, ramping link", dial: rampDial(1e6), duration: 7 * time.Second, wantEarly: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel() // each its own server; the steady tests use the line's two directions
			duration := tt.duration
			ts := mustServer(t, ndt7.MaxDuration)
			c := ndt7.Client{Duration: duration, Dial: tt.dial, EarlyStop: true}
			ctx, cancel := context.WithTimeout(t.Context(), 25*time.Second)
			defer cancel()
			run := c.Download
			if tt.upload {
				run = c.Upload
			}
			start := time.Now()
			sum, err := run(ctx, ts.URL)
			took := time.Since(start)
			if err != nil {
				t.Fatal(err)
			}
			ts.waitStats(t)
			t.Logf("%s: %.2f MB/s over %s (test took %s), early stop %v", tt.name, sum.BytesPerSecond/1e6, sum.Elapsed.Round(time.Millisecond), took.Round(time.Millisecond), sum.EarlyStopped)
			if sum.EarlyStopped != tt.wantEarly {
				t.Fatalf("EarlyStopped = %v; want %v", sum.EarlyStopped, tt.wantEarly)
			}
			if !tt.wantEarly {
				if sum.Elapsed < duration-time.Second {
					t.Errorf("Elapsed = %s; want the full %s", sum.Elapsed, duration)
				}
				return
			}
			if sum.Elapsed < 3*time.Second || sum.Elapsed > duration-time.Second {
				t.Errorf("Elapsed = %s; want an early stop between 3 s and %s", sum.Elapsed, duration-time.Second)
			}
			// Never above the line's rate (+5 %: the pacing burst), which
			// holds whatever the load. The whole test counts, ramp-up
			// included, and a loaded machine measures less than the line:
			// the floor of a third only catches a broken measurement (the
			// line's own accuracy is BenchmarkProfileRate's in
			// internal/linesim).
			if sum.BytesPerSecond < rate/3 || sum.BytesPerSecond > 1.05*rate {
				t.Errorf("BytesPerSecond = %.0f; want at most 105 %% of the line's %.0f and at least a third", sum.BytesPerSecond, rate)
			}
		})
	}
}
