package agent_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"fibremon"
	"fibremon/internal/agent"
	"fibremon/probes"
	"fibremon/probes/ndt7"
)

// ndt7Server serves ndt7 in-process on loopback.
func ndt7Server(t *testing.T) string {
	t.Helper()
	h := ndt7.NewHandler(nil, ndt7.ServerOptions{MaxDuration: 10 * time.Second})
	mux := http.NewServeMux()
	mux.HandleFunc(ndt7.DownloadPath, h.Download)
	mux.HandleFunc(ndt7.UploadPath, h.Upload)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

func throughputAgent(t *testing.T, ms ...agent.MeasurementConfig) (*agent.Agent, *prometheus.Registry) {
	t.Helper()
	c := &agent.Config{Probe: "probe-test", SiteID: "municipio", Service: agent.DefaultService, Spool: agent.DefaultSpool, Measurements: ms}
	c.Service.URL = "http://127.0.0.1:1"
	c.Service.Token = "t"
	c.Spool.Dir = filepath.Join(t.TempDir(), "spool")
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	a, err := agent.New(c, agent.Options{Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a, reg
}

// TestThroughputResults runs the configured ndt7 tests through the agent
// against a real server: the configured duration holds, the values carry
// the minimum RTT and the retransmission ratio from TCP_INFO, the upload
// speed is the server's count, and an endpoint URL with a query works.
func TestThroughputResults(t *testing.T) {
	base := ndt7Server(t)
	ws := "ws" + strings.TrimPrefix(base, "http")
	a, _ := throughputAgent(t,
		agent.MeasurementConfig{Name: "down", Kind: fibremon.KindDownload, Target: base,
			Options: probes.Options{Throughput: probes.ThroughputOptions{Duration: 2 * time.Second}}},
		agent.MeasurementConfig{Name: "up", Kind: fibremon.KindUpload, Target: ws + ndt7.UploadPath + "?client_name=fibreprobe",
			Options: probes.Options{Throughput: probes.ThroughputOptions{Duration: 3 * time.Second}}},
	)
	rs := a.RunOnce(t.Context())
	if len(rs) != 2 {
		t.Fatalf("%d results; want 2", len(rs))
	}
	for i, want := range []time.Duration{2 * time.Second, 3 * time.Second} {
		r := rs[i]
		t.Logf("%s: up %v in %.2f s, values %v", r.Kind, r.Up, r.DurationSeconds, r.Values)
		if err := r.Validate(time.Now()); err != nil {
			t.Errorf("%s result invalid: %v", r.Kind, err)
		}
		if !r.Up || r.Method != probes.MethodNDT7 {
			t.Fatalf("%s result = %+v; want up, method ndt7", r.Kind, r)
		}
		// At least the configured duration; the upper bound leaves room
		// for the handshakes on a loaded machine and still catches the
		// default duration (10 s) used instead.
		if got := time.Duration(r.DurationSeconds * float64(time.Second)); got < want || got > want+4*time.Second {
			t.Errorf("%s took %v; want the configured %v plus the handshakes", r.Kind, got, want)
		}
		rtt, ok := r.Values[fibremon.MinRTTSeconds]
		if !ok || rtt <= 0 || rtt > 0.1 {
			t.Errorf("%s rtt_min_seconds = %v (present %v); want (0, 0.1] on loopback", r.Kind, rtt, ok)
		}
		if rr, ok := r.Values[fibremon.RetransmissionRatio]; !ok || rr < 0 || rr > 0.05 {
			t.Errorf("%s retransmission_ratio = %v (present %v); want [0, 0.05] on loopback", r.Kind, rr, ok)
		}
	}
	// (That the upload speed is the server's count is checked against the
	// server's own figures in probes/ndt7's TestUpload.)
	up := rs[1].Values
	if up[fibremon.UploadBytesPerSecond] <= 0 || up[fibremon.TransferredBytes] <= 0 {
		t.Errorf("upload values %v; want a speed and the server's byte count", up)
	}
}

// TestVoidResult: a download during which another connection loads the
// same interface is a void result, counted in
// fibreprobe_measurements_total{outcome="void"}, with the ratio exported.
func TestVoidResult(t *testing.T) {
	base := ndt7Server(t)
	a, reg := throughputAgent(t, agent.MeasurementConfig{Name: "down", Kind: fibremon.KindDownload, Target: base,
		Options: probes.Options{Throughput: probes.ThroughputOptions{Duration: 2 * time.Second, Interface: "lo"}}})

	ctx, stop := context.WithCancel(t.Context())
	done := loadLoopback(t, ctx)
	rs := a.RunOnce(t.Context())
	stop()
	<-done
	if len(rs) != 1 {
		t.Fatalf("%d results; want 1", len(rs))
	}
	r := rs[0]
	t.Logf("result: up %v, error %q", r.Up, r.Error)
	if r.Up || !strings.HasPrefix(r.Error, probes.VoidPrefix) || !r.IsVoid() || r.Values[fibremon.CrossTrafficRatio] < 0.1 {
		t.Fatalf("result = %+v; want a void result: down, error %q..., values void=1 and cross_traffic_ratio", r, probes.VoidPrefix)
	}
	if err := r.Validate(time.Now()); err != nil {
		t.Errorf("void result invalid: %v", err)
	}
	if got := counterValue(t, reg, "down", "void"); got != 1 {
		t.Errorf(`fibreprobe_measurements_total{outcome="void"} = %v; want 1`, got)
	}
	if got := counterValue(t, reg, "down", "down"); got != 0 {
		t.Errorf(`fibreprobe_measurements_total{outcome="down"} = %v; want 0 (void is not down)`, got)
	}
	if n := testutil.CollectAndCount(reg, "fibreprobe_other_traffic_ratio"); n != 1 {
		t.Fatalf("fibreprobe_other_traffic_ratio has %d series; want 1", n)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "fibreprobe_other_traffic_ratio" {
			if v := mf.GetMetric()[0].GetGauge().GetValue(); v < 0.10 {
				t.Errorf("fibreprobe_other_traffic_ratio = %v; want >= 0.10 for a void test", v)
			}
		}
	}
}

// loadLoopback sends bulk data over a loopback TCP connection until ctx
// is done; done is closed once both ends have stopped.
//
// Liveness: the writer stops when ctx ends (its connection is closed);
// the reader when the connection ends.
func loadLoopback(t *testing.T, ctx context.Context) (done <-chan struct{}) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s, err := ln.Accept()
	ln.Close()
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan struct{})
	read := make(chan struct{})
	go func() {
		defer close(read)
		io.Copy(io.Discard, s)
		s.Close()
	}()
	go func() {
		defer close(ch)
		buf := make([]byte, 64<<10)
		for ctx.Err() == nil {
			if _, err := c.Write(buf); err != nil {
				break
			}
		}
		c.Close()
		<-read
	}()
	context.AfterFunc(ctx, func() { c.Close() })
	return ch
}
