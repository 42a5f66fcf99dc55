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
			// 1.5 s at one measurement per 250 ms: 6, never more than 8.
			// A loaded machine may run the client's ticker late, and a
			// ticker drops the ticks it could not deliver: fewer is
			// possible, but at least some.
			if st.ClientMeasurements < 2 || st.ClientMeasurements > 8 {
				t.Errorf("server received %d client measurements in 1.5 s; want 2-8 (one per 250 ms at most)", st.ClientMeasurements)
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

// budgetConn is an emulated link that lets through, by s seconds after it
// was made, at most allowed(s) bytes (plus 16 KiB) in each direction. The
// budget is cumulative: a reader or writer that a loaded machine runs late
// catches up at once, so the throughput over a second stays what allowed
// says, which a pacer that gives no credit for idle time cannot promise.
type budgetConn struct {
	net.Conn
	allowed func(s float64) float64
	start   time.Time

	rmu, wmu      sync.Mutex
	read, written int64
}

// room returns how many more bytes may go, given done so far.
func (c *budgetConn) room(done int64) int64 {
	return int64(c.allowed(time.Since(c.start).Seconds())) + 16<<10 - done
}

func (c *budgetConn) Read(p []byte) (int, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	for {
		if room := c.room(c.read); room > 0 {
			if int64(len(p)) > room {
				p = p[:room]
			}
			n, err := c.Conn.Read(p)
			c.read += int64(n)
			return n, err
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (c *budgetConn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	total := 0
	for len(p) > 0 {
		room := c.room(c.written)
		if room <= 0 {
			time.Sleep(5 * time.Millisecond)
			continue
		}
		chunk := p[:min(int64(len(p)), room)]
		n, err := c.Conn.Write(chunk)
		c.written += int64(n)
		total += n
		if err != nil {
			return total, err
		}
		p = p[n:]
	}
	return total, nil
}

// budgetDial dials links whose budget is allowed.
func budgetDial(allowed func(s float64) float64) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		var d net.Dialer
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &budgetConn{Conn: c, allowed: allowed, start: time.Now()}, nil
	}
}

// TestEarlyStop: with EarlyStop, a test over a steady link ends once its
// throughput has settled, with the link's speed; over a link whose rate
// keeps ramping up it runs its full duration.
func TestEarlyStop(t *testing.T) {
	t.Parallel() // its own servers and lines
	// 8 Mbit/s: little CPU even under -race on a loaded machine, and a
	// link that catches up after a late reader or writer (budgetConn), so
	// that the throughput is steady whatever the load. A steady link gets
	// the longest test, so that jitter only delays the early stop.
	const rate = 1e6 // bytes per second
	steady := budgetDial(func(s float64) float64 { return rate * s })
	// From a quarter of that, faster by as much every second: by 7 s it
	// grows 12 %/s, so never within 5 % over three seconds.
	ramp := budgetDial(func(s float64) float64 { return rate / 4 * (s + s*s/2) })
	tests := []struct {
		name      string
		upload    bool
		dial      func(ctx context.Context, network, addr string) (net.Conn, error)
		duration  time.Duration
		wantEarly bool
	}{
		{name: "download, steady link", dial: steady, duration: ndt7.MaxDuration, wantEarly: true},
		{name: "upload, steady link", upload: true, dial: steady, duration: ndt7.MaxDuration, wantEarly: true},
		{name: "download, ramping link", dial: ramp, duration: 7 * time.Second, wantEarly: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel() // each its own server and link
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
			// Never more than the link let through: its budget runs from
			// the dial, so the bytes measured are at most the rate times
			// the whole call (handshake included: on a loaded machine the
			// handshake can take long enough that the budget it accrued
			// lifts the rate measured after it above the link's, 1.07x
			// seen) plus its 16 KiB of slack. This holds whatever the
			// load. The floor of a third only catches a broken
			// measurement: the whole test counts, start included.
			if bytes, most := sum.BytesPerSecond*sum.Elapsed.Seconds(), rate*took.Seconds()+16<<10; bytes > most {
				t.Errorf("%.0f bytes measured in %s; the link let through at most %.0f in the %s of the call", bytes, sum.Elapsed, most, took)
			}
			if sum.BytesPerSecond < rate/3 || sum.BytesPerSecond > 1.05*rate*took.Seconds()/sum.Elapsed.Seconds() {
				t.Errorf("BytesPerSecond = %.0f; want at least a third of the link's %.0f and at most its rate over the call", sum.BytesPerSecond, rate)
			}
		})
	}
}
