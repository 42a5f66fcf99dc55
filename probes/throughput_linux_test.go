package probes

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"fibremon"
	"fibremon/probes/ndt7"
)

// netnsChildEnv marks the copy of the test binary that runs inside a
// private network namespace.
const netnsChildEnv = "FIBREMON_TEST_NETNS_CHILD"

// inPrivateNetns runs the calling test in a copy of the test binary inside
// a new network namespace, whose loopback interface carries only the
// test's own traffic, and reports whether the caller is that copy (and
// should run the test body). Without the privilege to create a namespace
// it runs the body here, on the host's loopback, and says so.
func inPrivateNetns(t *testing.T) bool {
	t.Helper()
	if os.Getenv(netnsChildEnv) != "" {
		mustLoopbackUp(t)
		return true
	}
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^"+t.Name()+"$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), netnsChildEnv+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET}
	out, err := cmd.CombinedOutput()
	if err != nil && (os.IsPermission(err) || strings.Contains(err.Error(), "operation not permitted")) {
		t.Logf("no private network namespace (%v): testing on the host's loopback, shared with other processes", err)
		return true
	}
	t.Logf("in a private network namespace:\n%s", out)
	if err != nil {
		t.Fatalf("test in a private network namespace: %v", err)
	}
	if !strings.Contains(string(out), "--- PASS: "+t.Name()) {
		t.Fatal("the test did not run in the private network namespace")
	}
	return false
}

// mustLoopbackUp brings up lo, which a new network namespace has down.
func mustLoopbackUp(t *testing.T) {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		t.Fatal(err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		t.Fatalf("set lo up: %v", err)
	}
}

// mustNDT7Server serves ndt7 on loopback.
func mustNDT7Server(t *testing.T) string {
	t.Helper()
	h := ndt7.NewHandler(nil, ndt7.ServerOptions{MaxDuration: 5 * time.Second})
	mux := http.NewServeMux()
	mux.HandleFunc(ndt7.DownloadPath, h.Download)
	mux.HandleFunc(ndt7.UploadPath, h.Upload)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

// otherTraffic sends bulk data over a loopback TCP connection until ctx is
// done and returns the bytes it moved.
//
// Liveness: the sender stops when ctx is done (its connection is closed
// then); the receiver when the connection ends. Both end before the
// returned wait function returns.
func otherTraffic(ctx context.Context, t *testing.T) (wait func() int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	received := make(chan int64, 1)
	go func() {
		defer ln.Close()
		c, err := ln.Accept()
		if err != nil {
			received <- 0
			return
		}
		defer c.Close()
		n, _ := io.Copy(io.Discard, c)
		received <- n
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		buf := make([]byte, 64<<10)
		for ctx.Err() == nil {
			if _, err := c.Write(buf); err != nil {
				return
			}
		}
	}()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	return func() int64 {
		<-sent
		stop()
		c.Close()
		return <-received
	}
}

// TestVoidOnLoopback runs real ndt7 tests on the loopback interface, once
// alone and once while another connection loads the same interface: the
// first is a speed, the second is void.
func TestVoidOnLoopback(t *testing.T) {
	if !inPrivateNetns(t) {
		return
	}
	url := mustNDT7Server(t)
	opts := ThroughputOptions{Duration: 2 * time.Second, Interface: "lo", MaxOtherTrafficRatio: 0.10}
	for _, kind := range []fibremon.Kind{fibremon.KindDownload, fibremon.KindUpload} {
		for _, loaded := range []bool{false, true} {
			name := string(kind) + "/alone"
			if loaded {
				name = string(kind) + "/with other traffic"
			}
			t.Run(name, func(t *testing.T) {
				ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
				defer cancel()
				var wait func() int64
				if loaded {
					lctx, stopLoad := context.WithCancel(ctx)
					defer stopLoad()
					wait = otherTraffic(lctx, t)
					defer func() { stopLoad(); wait() }()
				}
				m, tr, err := Throughput(ctx, Target{Kind: kind, Address: url, Options: Options{Throughput: opts}}, nil)
				if err != nil {
					t.Fatal(err)
				}
				if tr == nil {
					t.Fatalf("no traffic account for lo; measurement %+v", m)
				}
				t.Logf("%s: lo counted %d bytes, the test %d, other %d (%.1f %%); up %v, err %q",
					name, tr.CounterBytes, tr.TestBytes, tr.OtherBytes, 100*tr.OtherRatio, m.Up, m.Err)
				if tr.Interface != "lo" || tr.TestBytes <= 0 || tr.CounterBytes <= 0 {
					t.Errorf("traffic = %+v; want lo with bytes counted", *tr)
				}
				if tr.Void != loaded {
					t.Fatalf("Void = %v with other traffic %v; want %v", tr.Void, loaded, loaded)
				}
				if loaded {
					if m.Up || m.Values[fibremon.Void] != 1 || m.Values[fibremon.CrossTrafficRatio] < 0.1 || len(m.Values) != 2 ||
						!strings.HasPrefix(m.Err, VoidPrefix) || !strings.Contains(m.Err, "Mbit/s") {
						t.Errorf("void test = %+v; want down, values void=1 and cross_traffic_ratio >= 0.1 only, an error starting %q with the speed measured", m, VoidPrefix)
					}
					return
				}
				if !m.Up || m.Values[fibremon.TransferredBytes] <= 0 {
					t.Errorf("measurement = %+v; want up with a speed", m)
				}
				// Alone, the counters match the test's own estimate closely.
				if tr.OtherRatio > 0.02 {
					t.Errorf("other traffic %.2f %% of the test's bytes on an otherwise idle lo; want < 2 %%", 100*tr.OtherRatio)
				}
				if r := float64(tr.CounterBytes) / float64(tr.TestBytes); r < 0.95 || r > 1.02 {
					t.Errorf("lo counted %.3f × the test's estimated bytes; want 0.95–1.02", r)
				}
			})
		}
	}
}

// TestIsEthernet: the link header is counted only on Ethernet-type links.
func TestIsEthernet(t *testing.T) {
	if isEthernet("lo") {
		t.Error(`isEthernet("lo") = true; loopback has no Ethernet header`)
	}
	if isEthernet("no-such-interface") {
		t.Error("isEthernet of a missing interface = true")
	}
	ifs, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	for _, ifi := range ifs {
		b, err := os.ReadFile(filepath.Join("/sys/class/net", ifi.Name, "type"))
		if err != nil {
			continue
		}
		want := strings.TrimSpace(string(b)) == "1"
		if got := isEthernet(ifi.Name); got != want {
			t.Errorf("isEthernet(%q) = %v; its link type is %s", ifi.Name, got, b)
		}
	}
}
