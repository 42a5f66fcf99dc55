package ndt7_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"fibremon/probes/ndt7"
)

// counter counts the bytes that cross a set of connections.
type counter struct {
	read, written atomic.Int64
}

// countingConn counts the bytes of one connection. It does not embed
// *net.TCPConn: promoted ReadFrom/WriteTo/writeBuffers would bypass Read
// and Write. withSyscall says whether it exposes the socket (SyscallConn),
// as a real TCP connection does, or hides it, as an emulated line would.
type countingConn struct {
	tc          *net.TCPConn
	c           *counter
	withSyscall bool
}

func (cc *countingConn) Read(p []byte) (int, error) {
	n, err := cc.tc.Read(p)
	cc.c.read.Add(int64(n))
	return n, err
}

func (cc *countingConn) Write(p []byte) (int, error) {
	n, err := cc.tc.Write(p)
	cc.c.written.Add(int64(n))
	return n, err
}

func (cc *countingConn) Close() error                       { return cc.tc.Close() }
func (cc *countingConn) LocalAddr() net.Addr                { return cc.tc.LocalAddr() }
func (cc *countingConn) RemoteAddr() net.Addr               { return cc.tc.RemoteAddr() }
func (cc *countingConn) SetDeadline(t time.Time) error      { return cc.tc.SetDeadline(t) }
func (cc *countingConn) SetReadDeadline(t time.Time) error  { return cc.tc.SetReadDeadline(t) }
func (cc *countingConn) SetWriteDeadline(t time.Time) error { return cc.tc.SetWriteDeadline(t) }

// sysConn is a countingConn that also exposes its socket.
type sysConn struct{ *countingConn }

func (sc sysConn) SyscallConn() (syscall.RawConn, error) { return sc.tc.SyscallConn() }

var _ syscall.Conn = sysConn{}

func wrap(c net.Conn, cnt *counter, withSyscall bool) net.Conn {
	cc := &countingConn{tc: c.(*net.TCPConn), c: cnt}
	if withSyscall {
		return sysConn{cc}
	}
	return cc
}

// countingListener counts the bytes of every accepted connection.
type countingListener struct {
	net.Listener
	c *counter
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return wrap(c, l.c, true), nil
}

// testServer is an ndt7 server on loopback whose wire bytes are counted
// and whose per-test stats are delivered on stats.
type testServer struct {
	URL   string
	wire  *counter
	stats chan ndt7.ServerStats
}

func mustServer(tb testing.TB, maxDuration time.Duration) *testServer {
	tb.Helper()
	ts := &testServer{wire: new(counter), stats: make(chan ndt7.ServerStats, 16)}
	h := ndt7.NewHandler(nil, ndt7.ServerOptions{
		MaxDuration: maxDuration,
		OnDone:      func(s ndt7.ServerStats) { ts.stats <- s },
	})
	mux := http.NewServeMux()
	mux.HandleFunc(ndt7.DownloadPath, h.Download)
	mux.HandleFunc(ndt7.UploadPath, h.Upload)
	srv := httptest.NewUnstartedServer(mux)
	srv.Listener = countingListener{Listener: srv.Listener, c: ts.wire}
	srv.Start()
	tb.Cleanup(srv.Close)
	ts.URL = srv.URL
	return ts
}

// waitStats returns the stats of the next finished test.
func (ts *testServer) waitStats(tb testing.TB) ndt7.ServerStats {
	tb.Helper()
	select {
	case s := <-ts.stats:
		return s
	case <-time.After(ndt7.MaxDuration + 5*time.Second):
		tb.Fatal("the server did not finish the test")
		return ndt7.ServerStats{}
	}
}

// countingDial returns a Client.Dial that counts the client's wire bytes.
func countingDial(cnt *counter, withSyscall bool) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		var d net.Dialer
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return wrap(c, cnt, withSyscall), nil
	}
}

// within reports whether got is within frac of want.
func within(got, want, frac float64) bool {
	d := got - want
	if d < 0 {
		d = -d
	}
	return d <= frac*want
}
