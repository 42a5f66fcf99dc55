package linesim

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const mbit = 1e6 / 8 // bytes per second in one Mbit/s

var (
	adsl = Profile{Name: "ADSL 7/0.7", DownBytesPerSecond: 7 * mbit, UpBytesPerSecond: 0.7 * mbit, RTT: 40 * time.Millisecond}
	fttc = Profile{Name: "FTTC 30/3", DownBytesPerSecond: 30 * mbit, UpBytesPerSecond: 3 * mbit, RTT: 15 * time.Millisecond}
	fwa  = Profile{Name: "FWA 100/20", DownBytesPerSecond: 100 * mbit, UpBytesPerSecond: 20 * mbit, RTT: 25 * time.Millisecond}
	ftth = Profile{Name: "FTTH 1000/300", DownBytesPerSecond: 1000 * mbit, UpBytesPerSecond: 300 * mbit, RTT: 4 * time.Millisecond}
)

// server is a TCP server on loopback that runs handle on each connection.
type server struct {
	ln    net.Listener
	mu    sync.Mutex
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

// mustServer starts a server; its connections are closed and its goroutines
// gone when the test ends.
func mustServer(tb testing.TB, handle func(net.Conn)) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("listen: %v", err)
	}
	s := &server{ln: ln, conns: make(map[net.Conn]struct{})}
	s.wg.Add(1)
	// Liveness: owned by the test; exits when Cleanup closes the listener.
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns[c] = struct{}{}
			s.mu.Unlock()
			s.wg.Add(1)
			// Liveness: owned by the test; exits when handle returns, at
			// the latest when Cleanup closes c.
			go func() {
				defer s.wg.Done()
				defer c.Close()
				handle(c)
			}()
		}
	}()
	tb.Cleanup(func() {
		ln.Close()
		s.mu.Lock()
		for c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return ln.Addr().String()
}

// source writes to the connection until it fails.
func source(c net.Conn) {
	buf := make([]byte, 64<<10)
	for {
		if _, err := c.Write(buf); err != nil {
			return
		}
	}
}

func echo(c net.Conn) { _, _ = io.Copy(c, c) }

// sinkStats is what a sink saw on one connection.
type sinkStats struct {
	bytes       int64
	firstBytes  int64 // bytes of the first read
	first, last time.Time
	err         error // the read error that ended it; nil at EOF
}

// rate is the receive rate after the first read, in bytes per second.
func (s sinkStats) rate() float64 {
	return float64(s.bytes-s.firstBytes) / s.last.Sub(s.first).Seconds()
}

// sink returns a handler that reads until EOF and sends what it saw on ch.
func sink(ch chan<- sinkStats) func(net.Conn) {
	return func(c net.Conn) {
		var st sinkStats
		buf := make([]byte, 64<<10)
		for {
			n, err := c.Read(buf)
			if n > 0 {
				now := time.Now()
				if st.bytes == 0 {
					st.first, st.firstBytes = now, int64(n)
				}
				st.bytes += int64(n)
				st.last = now
			}
			if err != nil {
				if !errors.Is(err, io.EOF) {
					st.err = err
				}
				ch <- st
				return
			}
		}
	}
}

func mustDial(tb testing.TB, ctx context.Context, l *Line, addr string) net.Conn {
	tb.Helper()
	c, err := l.DialContext(ctx, "tcp", addr)
	if err != nil {
		tb.Fatalf("DialContext(%q) = %v", addr, err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

// download reads from c for d after the first byte and returns the rate.
func download(tb testing.TB, c net.Conn, d time.Duration) (bytesPerSecond float64) {
	tb.Helper()
	buf := make([]byte, 64<<10)
	if _, err := c.Read(buf); err != nil {
		tb.Fatalf("first Read = %v", err)
	}
	start := time.Now()
	var total int
	for time.Since(start) < d {
		n, err := c.Read(buf)
		if err != nil {
			tb.Fatalf("Read = %v", err)
		}
		total += n
	}
	return float64(total) / time.Since(start).Seconds()
}

// upload writes to c for d and closes it.
func upload(tb testing.TB, c net.Conn, d time.Duration) {
	tb.Helper()
	buf := make([]byte, 64<<10)
	c.SetWriteDeadline(time.Now().Add(d))
	for {
		if _, err := c.Write(buf); err != nil {
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				tb.Errorf("Write = %v; want a deadline error", err)
			}
			break
		}
	}
	if err := c.Close(); err != nil {
		tb.Errorf("Close = %v", err)
	}
}

func checkRate(t *testing.T, what string, got, want float64, lowOK bool) {
	t.Helper()
	t.Logf("%s: measured %.2f Mbit/s, profile %.2f Mbit/s (%+.1f %%)", what, got/mbit, want/mbit, 100*(got/want-1))
	if got > 1.1*want || (!lowOK && got < 0.9*want) {
		t.Errorf("%s rate = %.2f Mbit/s; want %.2f Mbit/s ±10 %%", what, got/mbit, want/mbit)
	}
}

func TestThroughput(t *testing.T) {
	const d = 1500 * time.Millisecond
	tests := []struct {
		p        Profile
		cpuBound bool // may be CPU-bound on a small machine under -race
	}{
		{p: adsl},
		{p: fttc},
		{p: fwa},
		{p: ftth, cpuBound: true},
	}
	for _, tt := range tests {
		t.Run(tt.p.Name, func(t *testing.T) {
			if tt.cpuBound && testing.Short() {
				t.Skip("CPU-bound rate skipped in -short mode")
			}
			lowOK := tt.cpuBound && raceEnabled
			l := New(tt.p)

			t.Run("down", func(t *testing.T) {
				c := mustDial(t, t.Context(), l, mustServer(t, source))
				checkRate(t, "down", download(t, c, d), tt.p.DownBytesPerSecond, lowOK)
			})
			t.Run("up", func(t *testing.T) {
				ch := make(chan sinkStats, 1)
				c := mustDial(t, t.Context(), l, mustServer(t, sink(ch)))
				upload(t, c, d)
				st := <-ch
				if st.err != nil {
					t.Fatalf("sink read error %v; want EOF", st.err)
				}
				checkRate(t, "up", st.rate(), tt.p.UpBytesPerSecond, lowOK)
			})
		})
	}
}

// TestSharedCapacity runs two transfers at once over one line, in a common
// time window, so the total can be compared with the line rate.
func TestSharedCapacity(t *testing.T) {
	const d = 1500 * time.Millisecond
	for _, p := range []Profile{adsl, fttc} {
		t.Run(p.Name, func(t *testing.T) {
			l := New(p)
			t.Run("down", func(t *testing.T) {
				addr := mustServer(t, source)
				conns := []net.Conn{mustDial(t, t.Context(), l, addr), mustDial(t, t.Context(), l, addr)}
				start := time.Now().Add(200 * time.Millisecond) // both transfers going
				end := start.Add(d)
				var rates [2]float64
				var wg sync.WaitGroup
				for i, c := range conns {
					// Liveness: exits at end; waited for below.
					wg.Go(func() {
						buf := make([]byte, 64<<10)
						var n int
						for {
							m, err := c.Read(buf)
							if err != nil {
								t.Errorf("Read = %v", err)
								return
							}
							now := time.Now()
							if now.After(end) {
								break
							}
							if now.After(start) {
								n += m
							}
						}
						rates[i] = float64(n) / d.Seconds()
					})
				}
				wg.Wait()
				checkShares(t, "down", rates, rates[0]+rates[1], p.DownBytesPerSecond)
			})
			t.Run("up", func(t *testing.T) {
				ch := make(chan sinkStats, 2)
				addr := mustServer(t, sink(ch))
				conns := []net.Conn{mustDial(t, t.Context(), l, addr), mustDial(t, t.Context(), l, addr)}
				start := time.Now().Add(50 * time.Millisecond)
				var wg sync.WaitGroup
				for _, c := range conns {
					// Liveness: exits after d; waited for below.
					wg.Go(func() {
						time.Sleep(time.Until(start))
						upload(t, c, d)
					})
				}
				wg.Wait()
				st := [2]sinkStats{<-ch, <-ch}
				rates := [2]float64{st[0].rate(), st[1].rate()}
				first, last := st[0].first, st[0].last
				if st[1].first.Before(first) {
					first = st[1].first
				}
				if st[1].last.After(last) {
					last = st[1].last
				}
				n := st[0].bytes - st[0].firstBytes + st[1].bytes - st[1].firstBytes
				checkShares(t, "up", rates, float64(n)/last.Sub(first).Seconds(), p.UpBytesPerSecond)
			})
		})
	}
}

func checkShares(t *testing.T, what string, rates [2]float64, total, want float64) {
	t.Helper()
	checkRate(t, what+" total", total, want, false)
	for i, r := range rates {
		t.Logf("%s conn %d: %.2f Mbit/s", what, i, r/mbit)
		if share := r / (rates[0] + rates[1]); share < 0.3 || share > 0.7 {
			t.Errorf("%s share of conn %d = %.2f; want 0.3..0.7", what, i, share)
		}
	}
}

func TestRTT(t *testing.T) {
	const slack = 15 * time.Millisecond // loopback, scheduling, -race
	for _, p := range []Profile{adsl, fttc, fwa, ftth} {
		t.Run(p.Name, func(t *testing.T) {
			l := New(p)
			addr := mustServer(t, echo)

			var c net.Conn
			dial := time.Hour
			for range 3 {
				start := time.Now()
				c = mustDial(t, t.Context(), l, addr)
				dial = min(dial, time.Since(start))
			}
			t.Logf("dial: best of 3 %v (RTT %v)", dial, p.RTT)
			if dial < p.RTT || dial > p.RTT+slack {
				t.Errorf("dial took %v; want %v..%v", dial, p.RTT, p.RTT+slack)
			}

			msg, buf := bytes.Repeat([]byte("x"), 100), make([]byte, 100)
			best := time.Hour
			for range 5 {
				start := time.Now()
				if _, err := c.Write(msg); err != nil {
					t.Fatalf("Write = %v", err)
				}
				if _, err := io.ReadFull(c, buf); err != nil {
					t.Fatalf("ReadFull = %v", err)
				}
				best = min(best, time.Since(start))
			}
			t.Logf("request/response: best of 5 %v (RTT %v)", best, p.RTT)
			if best < p.RTT || best > p.RTT+slack {
				t.Errorf("round trip took %v; want %v..%v", best, p.RTT, p.RTT+slack)
			}
		})
	}
}

func TestOutage(t *testing.T) {
	p := Profile{Name: "test", DownBytesPerSecond: 10 * mbit, UpBytesPerSecond: 10 * mbit, RTT: 10 * time.Millisecond}
	l := New(p)
	serverErr := make(chan error, 10)
	addr := mustServer(t, func(c net.Conn) {
		_, err := io.Copy(c, c)
		serverErr <- err
	})
	c := mustDial(t, t.Context(), l, addr)
	mustEcho(t, c)

	l.SetDown(true)
	if !l.Down() {
		t.Fatalf("Down() = false after SetDown(true)")
	}

	steps := []struct {
		name    string
		timeout time.Duration
		op      func(timeout time.Duration) error
		want    error
	}{
		{"dial", 200 * time.Millisecond, func(d time.Duration) error {
			ctx, cancel := context.WithTimeout(t.Context(), d)
			defer cancel()
			c2, err := l.DialContext(ctx, "tcp", addr)
			if err == nil {
				c2.Close()
			}
			return err
		}, context.DeadlineExceeded},
		{"read", 150 * time.Millisecond, func(d time.Duration) error {
			c.SetReadDeadline(time.Now().Add(d))
			defer c.SetReadDeadline(time.Time{})
			_, err := c.Read(make([]byte, 10))
			return err
		}, os.ErrDeadlineExceeded},
		{"write", 100 * time.Millisecond, func(d time.Duration) error {
			c.SetWriteDeadline(time.Now().Add(d))
			defer c.SetWriteDeadline(time.Time{})
			_, err := c.Write([]byte("lost"))
			return err
		}, os.ErrDeadlineExceeded},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			start := time.Now()
			err := s.op(s.timeout)
			took := time.Since(start)
			t.Logf("%s during outage: %v after %v", s.name, err, took)
			if !errors.Is(err, s.want) {
				t.Errorf("%s error = %v; want %v", s.name, err, s.want)
			}
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() {
				t.Errorf("%s error %v is not a net.Error timeout", s.name, err)
			}
			if took < s.timeout || took > s.timeout+100*time.Millisecond {
				t.Errorf("%s took %v; want about %v", s.name, took, s.timeout)
			}
		})
	}

	l.SetDown(false)
	_, err := c.Read(make([]byte, 10))
	if !errors.Is(err, ErrReset) || !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("Read after the outage = %v; want ErrReset (ECONNRESET)", err)
	}
	if _, err := c.Write([]byte("x")); !errors.Is(err, ErrReset) {
		t.Errorf("Write after the outage = %v; want ErrReset", err)
	}
	if err := <-serverErr; !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("server side error = %v; want ECONNRESET", err)
	}
	mustEcho(t, mustDial(t, t.Context(), l, addr))
}

func mustEcho(t *testing.T, c net.Conn) {
	t.Helper()
	msg := []byte("ping")
	if _, err := c.Write(msg); err != nil {
		t.Fatalf("Write = %v", err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("ReadFull = %q, %v; want %q", got, err, msg)
	}
}

func TestDialResumesAfterOutage(t *testing.T) {
	l := New(Profile{RTT: 10 * time.Millisecond})
	addr := mustServer(t, echo)
	l.SetDown(true)
	time.AfterFunc(300*time.Millisecond, func() { l.SetDown(false) })
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
	defer cancel()
	start := time.Now()
	c := mustDial(t, ctx, l, addr)
	took := time.Since(start)
	t.Logf("dial across an outage took %v", took)
	// The SYN retransmitted after 1 s gets through.
	if want := initialRTO + 10*time.Millisecond; took < want || took > want+100*time.Millisecond {
		t.Errorf("dial took %v; want about %v", took, want)
	}
	mustEcho(t, c)
}

func TestClose(t *testing.T) {
	// Registered first, so it runs after the servers' cleanups.
	t.Cleanup(func() { goleak.VerifyNone(t) })
	// The server never writes, so Read blocks; it reads, so Write is paced.
	silent := mustServer(t, func(c net.Conn) { _, _ = io.Copy(io.Discard, c) })
	tests := []struct {
		name string
		down bool
	}{
		{"up", false},
		{"down", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := New(adsl)
			c := mustDial(t, t.Context(), l, silent)
			if tt.down {
				l.SetDown(true)
				t.Cleanup(func() { l.SetDown(false) }) // resets the kept socket
			}
			errs := make(chan error, 2)
			// Liveness: both exit when Close unblocks them, checked below.
			go func() { _, err := c.Read(make([]byte, 10)); errs <- err }()
			go func() { _, err := c.Write(make([]byte, 1<<20)); errs <- err }()
			time.Sleep(100 * time.Millisecond)
			start := time.Now()
			if err := c.Close(); err != nil {
				t.Errorf("Close = %v", err)
			}
			t.Logf("Close took %v", time.Since(start))
			for range 2 {
				if err := <-errs; !errors.Is(err, net.ErrClosed) {
					t.Errorf("blocked Read/Write returned %v; want net.ErrClosed", err)
				}
			}
			if err := c.Close(); !errors.Is(err, net.ErrClosed) {
				t.Errorf("second Close = %v; want net.ErrClosed", err)
			}
		})
	}
}

func TestCloseDuringOutage(t *testing.T) {
	l := New(Profile{RTT: 10 * time.Millisecond})
	serverErr := make(chan error, 1)
	addr := mustServer(t, func(c net.Conn) {
		_, err := io.Copy(io.Discard, c)
		serverErr <- err
	})
	c := mustDial(t, t.Context(), l, addr)
	l.SetDown(true)
	if err := c.Close(); err != nil {
		t.Errorf("Close during an outage = %v; want nil", err)
	}
	select {
	case err := <-serverErr:
		t.Fatalf("server saw %v during the outage; want nothing", err)
	case <-time.After(100 * time.Millisecond):
	}
	l.SetDown(false)
	if err := <-serverErr; !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("server error after the outage = %v; want ECONNRESET", err)
	}
}

func TestCloseDeliversWrittenBytes(t *testing.T) {
	ch := make(chan sinkStats, 1)
	l := New(fttc)
	c := mustDial(t, t.Context(), l, mustServer(t, sink(ch)))
	const n = 100 << 10
	if _, err := c.Write(make([]byte, n)); err != nil {
		t.Fatalf("Write = %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}
	if st := <-ch; st.bytes != n || st.err != nil {
		t.Errorf("server read %d bytes, error %v; want %d, EOF", st.bytes, st.err, n)
	}
}

func TestEOF(t *testing.T) {
	l := New(fttc)
	c := mustDial(t, t.Context(), l, mustServer(t, func(c net.Conn) { c.Write([]byte("hello")) }))
	got, err := io.ReadAll(c)
	if string(got) != "hello" || err != nil {
		t.Errorf("ReadAll = %q, %v; want %q, nil", got, err, "hello")
	}
	if _, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("Read after EOF = %v; want io.EOF", err)
	}
}

func TestUnlimited(t *testing.T) {
	l := New(Profile{})
	c := mustDial(t, t.Context(), l, mustServer(t, echo))
	mustEcho(t, c)
}

func TestDialErrors(t *testing.T) {
	l := New(Profile{RTT: 20 * time.Millisecond})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := ln.Addr().String()
	ln.Close()
	tests := []struct {
		network, addr string
		want          error
	}{
		{"udp", "127.0.0.1:53", nil},
		{"tcp", refused, syscall.ECONNREFUSED},
	}
	for _, tt := range tests {
		t.Run(tt.network, func(t *testing.T) {
			c, err := l.DialContext(t.Context(), tt.network, tt.addr)
			if err == nil {
				c.Close()
				t.Fatalf("DialContext(%q, %q) succeeded; want an error", tt.network, tt.addr)
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("DialContext(%q, %q) = %v; want %v", tt.network, tt.addr, err, tt.want)
			}
		})
	}
}

func TestRunOutages(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := New(Profile{})
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		// Liveness: exits when cancel is called below.
		go func() {
			defer close(done)
			l.RunOutages(ctx, []Outage{{After: 10 * time.Second, For: 5 * time.Second}, {After: time.Second, For: 2 * time.Second}}, true)
		}()
		// One cycle is 18 s: down during [10, 15) and [16, 18), then again from 28.
		checks := []struct {
			at   time.Duration
			down bool
		}{
			{5 * time.Second, false},
			{12 * time.Second, true},
			{15500 * time.Millisecond, false},
			{17 * time.Second, true},
			{20 * time.Second, false},
			{29 * time.Second, true},
		}
		start := time.Now()
		for _, c := range checks {
			time.Sleep(c.at - time.Since(start))
			synctest.Wait()
			if got := l.Down(); got != c.down {
				t.Errorf("Down() at %v = %v; want %v", c.at, got, c.down)
			}
		}
		cancel()
		<-done
		if l.Down() {
			t.Errorf("Down() after RunOutages returned during an outage = true; want false")
		}
	})
}

func BenchmarkLine(b *testing.B) {
	const chunk = 64 << 10
	// Rates far above what the CPU can move: the benchmark measures the
	// emulator's own ceiling, with and without a delay line.
	for _, rtt := range []time.Duration{0, 4 * time.Millisecond} {
		p := Profile{DownBytesPerSecond: 1e12, UpBytesPerSecond: 1e12, RTT: rtt}
		b.Run("down/rtt="+rtt.String(), func(b *testing.B) {
			c := mustDial(b, b.Context(), New(p), mustServer(b, source))
			buf := make([]byte, chunk)
			b.SetBytes(chunk)
			for b.Loop() {
				if _, err := io.ReadFull(c, buf); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)*chunk/mbit/b.Elapsed().Seconds(), "Mbit/s")
		})
		b.Run("up/rtt="+rtt.String(), func(b *testing.B) {
			ch := make(chan sinkStats, 1)
			c := mustDial(b, b.Context(), New(p), mustServer(b, sink(ch)))
			buf := make([]byte, chunk)
			b.SetBytes(chunk)
			for b.Loop() {
				if _, err := c.Write(buf); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)*chunk/mbit/b.Elapsed().Seconds(), "Mbit/s")
			c.Close()
			<-ch
		})
	}
}
