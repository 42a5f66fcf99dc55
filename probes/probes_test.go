package probes

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"fibremon"
	"fibremon/probes/ndt7"
)

var discard = slog.New(slog.DiscardHandler)

// MustListen returns a TCP listener on 127.0.0.1 that accepts and closes
// every connection until the test ends.
//
// Liveness: the accept goroutine exits when Cleanup closes the listener.
func MustListen(tb testing.TB) net.Listener {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return ln
}

// MustClosedPort returns 127.0.0.1:port where nothing listens: connecting
// is refused.
func MustClosedPort(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// MustBlackHole returns a local host:port that silently drops SYNs, like a
// black-holed port: a listener with a backlog of 0 whose accept queue is
// filled by one connection and never drained, so Linux drops every further
// SYN. (TEST-NET addresses are not black holes everywhere: in the sandbox
// this was written in, 192.0.2.1 is the default gateway and refuses.)
func MustBlackHole(tb testing.TB) string {
	tb.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { unix.Close(fd) })
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		tb.Fatal(err)
	}
	if err := unix.Listen(fd, 0); err != nil {
		tb.Fatal(err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		tb.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", sa.(*unix.SockaddrInet4).Port)
	filler, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		tb.Fatalf("filling the accept queue of %s: %v", addr, err)
	}
	tb.Cleanup(func() { filler.Close() })
	return addr
}

// countingDial is a DialFunc that counts its calls, to prove a probe
// dials through Target.Dial.
func countingDial(n *atomic.Int32) DialFunc {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		n.Add(1)
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
}

// timeoutSlack is how much longer than its timeout a probe may take in the
// tests. A loaded machine runs the probe's goroutine late after the
// deadline fires, so the bound is wide; a probe that ignores its timeout
// takes far longer (a black-holed connect waits minutes).
const timeoutSlack = 2 * time.Second

// withTimeoutCtx returns t.Context() bounded by d.
func withTimeoutCtx(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

// checkResult builds the Result an agent would upload from m and
// validates it against the v1 contract.
func checkResult(t *testing.T, kind fibremon.Kind, target string, m Measurement) {
	t.Helper()
	r := fibremon.Result{
		ID:              "0f8c3a52-7d0e-4b8e-9a51-3b2f0c1d2e3f",
		SiteID:          "site-1",
		Probe:           "probe-1",
		Kind:            kind,
		Method:          m.Method,
		Target:          target,
		Start:           time.Now(),
		DurationSeconds: 0.5,
		Up:              m.Up,
		Values:          m.Values,
		Error:           m.Err,
	}
	if err := r.Validate(time.Now()); err != nil {
		t.Errorf("Result from %s measurement %+v: Validate() = %v", kind, m, err)
	}
}

func TestRegistry(t *testing.T) {
	for _, k := range fibremon.Kinds {
		if Registry[k] == nil {
			t.Errorf("Registry[%q] = nil; want a probe", k)
		}
	}
	for k := range Registry {
		if !k.Valid() {
			t.Errorf("Registry has unknown kind %q", k)
		}
	}
}

// TestRegistryKindMismatch: a probe refuses a Target of another kind.
func TestRegistryKindMismatch(t *testing.T) {
	for k, probe := range Registry {
		other := fibremon.KindTCP
		if k == fibremon.KindTCP {
			other = fibremon.KindDNS
		}
		_, err := probe(t.Context(), Target{Kind: other, Address: "127.0.0.1:1"}, discard)
		if !errors.Is(err, ErrBadTarget) {
			t.Errorf("%s probe with Kind %q: err = %v; want a bad target error", k, other, err)
		}
	}
}

// TestMeasurementsValidate runs every probe in Registry against a local
// target that is up and one that is down, and validates the Result built
// from each Measurement.
func TestMeasurementsValidate(t *testing.T) {
	t.Parallel()
	ln := MustListen(t)
	closed := MustClosedPort(t)
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(ok.Close)
	dnsServer := MustDNSServer(t)
	ndt := ndt7.NewHandler(discard, ndt7.ServerOptions{MaxDuration: time.Second})
	mux := http.NewServeMux()
	mux.HandleFunc(ndt7.DownloadPath, ndt.Download)
	mux.HandleFunc(ndt7.UploadPath, ndt.Upload)
	ndtServer := httptest.NewServer(mux)
	t.Cleanup(ndtServer.Close)
	targets := map[fibremon.Kind][]Target{
		fibremon.KindDownload: {
			{Address: ndtServer.URL, Options: Options{Throughput: ThroughputOptions{Duration: time.Second}}},
			{Address: "http://" + closed, Options: Options{Throughput: ThroughputOptions{Duration: time.Second}}},
		},
		fibremon.KindUpload: {
			{Address: ndtServer.URL, Options: Options{Throughput: ThroughputOptions{Duration: time.Second}}},
			{Address: "http://" + closed, Options: Options{Throughput: ThroughputOptions{Duration: time.Second}}},
		},
		fibremon.KindLatency: {
			{Address: ln.Addr().String(), Options: Options{Latency: LatencyOptions{Count: 3, PacketInterval: 10 * time.Millisecond}}},
			{Address: MustBlackHole(t), Options: Options{Latency: LatencyOptions{Method: "tcp", Count: 2, PacketInterval: 10 * time.Millisecond}}},
		},
		fibremon.KindHTTP: {
			{Address: ok.URL},
			{Address: "http://" + closed + "/"},
		},
		fibremon.KindTCP: {
			{Address: ln.Addr().String()},
			{Address: closed},
		},
		fibremon.KindDNS: {
			{Address: "one.fibre.test.", Options: Options{DNS: DNSOptions{Server: dnsServer}}},
			{Address: "missing.fibre.test.", Options: Options{DNS: DNSOptions{Server: dnsServer}}},
		},
	}
	for kind, probe := range Registry {
		if len(targets[kind]) == 0 {
			t.Errorf("no targets to validate the %s probe with", kind)
		}
		for _, tg := range targets[kind] {
			t.Run(fmt.Sprintf("%s/%s", kind, tg.Address), func(t *testing.T) {
				tg.Kind = kind
				m, err := probe(withTimeoutCtx(t, 5*time.Second), tg, discard)
				if err != nil {
					t.Fatalf("%s(%q) error = %v", kind, tg.Address, err)
				}
				checkResult(t, kind, tg.Address, m)
			})
		}
	}
}

// TestCancelled: a probe whose ctx its owner cancels was abandoned; it
// returns an error rather than a down Measurement.
func TestCancelled(t *testing.T) {
	t.Parallel()
	ln := MustListen(t).Addr().String()
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(ok.Close)
	targets := map[fibremon.Kind]Target{
		fibremon.KindDownload: {Address: ok.URL},
		fibremon.KindUpload:   {Address: ok.URL},
		fibremon.KindLatency:  {Address: ln, Options: Options{Latency: LatencyOptions{Count: 2, PacketInterval: 10 * time.Millisecond}}},
		fibremon.KindHTTP:     {Address: ok.URL},
		fibremon.KindTCP:      {Address: ln},
		fibremon.KindDNS:      {Address: "one.fibre.test.", Options: Options{DNS: DNSOptions{Server: MustDNSServer(t)}}},
	}
	for kind, probe := range Registry {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		m, err := probe(ctx, targets[kind], discard)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s probe with a cancelled ctx = %+v, %v; want a context.Canceled error", kind, m, err)
		}
	}
}

func TestDescribe(t *testing.T) {
	long := strings.Repeat("é", fibremon.MaxTextLength) // 2 bytes each
	tests := []struct {
		err  error
		want string
	}{
		{context.DeadlineExceeded, "timeout after 1.5s"},
		{&net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connect: connection refused")}, "connect: connection refused"},
		{errors.New("something else"), "something else"},
		{errors.New(long), long[:fibremon.MaxTextLength]},
		{errors.New("a" + long), ("a" + long)[:fibremon.MaxTextLength-1]}, // not mid-rune
	}
	for _, tt := range tests {
		if got := describe(tt.err, 1500*time.Millisecond); got != tt.want {
			t.Errorf("describe(%.40q) = %.40q; want %.40q", tt.err, got, tt.want)
		}
	}
}
